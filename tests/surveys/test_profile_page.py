"""The team profile page: who may read and write it, its form errors, CSRF, the proposal a
manager confirms, re-scoring after a change, the audit log."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry
from django.test import Client
from django.urls import reverse

from reports.models import AggregationRun
from surveys import services
from surveys.models import Survey, TeamProfile
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_manager(other_team):
    return MembershipFactory(team=other_team, user__username="omar", role="manager").user


def page(survey, team):
    return reverse("survey-profile", args=[survey.pk, team.slug])


# --- the page ------------------------------------------------------------------------------


def test_a_manager_sets_the_profile_confirmed_and_the_team_is_rescored(
    client, v2_survey, team, manager, django_capture_on_commit_callbacks
):
    client.force_login(manager)
    form = client.get(page(v2_survey, team)).content.decode()
    assert 'name="serving"' in form and "No profile yet: every question is asked." in form
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            page(v2_survey, team),
            {"serving": ["streaming", "online"], "model_kinds": ["agents"], "gpu": "on"},
        )
    assert response["Location"] == page(v2_survey, team)
    profile = TeamProfile.objects.get(survey=v2_survey, team=team)
    assert (profile.serving, profile.model_kinds, profile.gpu, profile.regulated) == (
        ["online", "streaming"],
        ["agents"],
        True,
        False,
    )
    assert (profile.declared_by, profile.confirmed_by) == (manager, manager)
    assert profile.confirmed_at is not None
    run = AggregationRun.objects.get()
    assert (run.survey_id, run.team_id, run.trigger) == (v2_survey.pk, team.pk, "profile")
    shown = client.get(page(v2_survey, team)).content.decode()
    assert "Confirmed by maria" in shown


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"serving": ["none", "batch"], "model_kinds": ["classical"]}, "cannot be combined"),
        ({"serving": ["batch"]}, "Choose at least one kind of model the team builds or uses."),
        ({"model_kinds": ["agents"]}, "Choose at least one way the team&#x27;s models are used."),
        ({"serving": ["cloud"], "model_kinds": ["classical"]}, "Select a valid choice"),
        ({"serving": ["batch"], "model_kinds": ["agents"], "gpu": "garbage"}, "Tick the box"),
        ({"serving": ["batch"], "model_kinds": ["agents"], "regulated": "no"}, "Tick the box"),
    ],
)
def test_the_page_says_what_is_wrong_with_a_profile(
    client, v2_survey, team, manager, data, message
):
    client.force_login(manager)
    response = client.post(page(v2_survey, team), data)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert "[&#x27;" not in response.content.decode()  # no list of internal keys
    assert not TeamProfile.objects.exists()


@pytest.mark.parametrize("ticked", ["on", "true", "1", "TRUE"])
def test_a_ticked_checkbox_is_true_and_an_absent_one_false(
    client, v2_survey, team, manager, ticked
):
    client.force_login(manager)
    data = {"serving": ["batch"], "model_kinds": ["agents"], "regulated": ticked}
    assert client.post(page(v2_survey, team), data).status_code == 302
    profile = TeamProfile.objects.get()
    assert (profile.gpu, profile.regulated) == (False, True)


def test_members_read_the_profile_but_cannot_change_it(client, v2_survey, team, member, manager):
    services.profile_set(
        survey=v2_survey,
        team=team,
        values=services.ProfileInput(["batch"], ["classical"]),
        set_by=manager,
    )
    client.force_login(member)
    shown = client.get(page(v2_survey, team)).content.decode()
    assert "Batch (scheduled scoring)" in shown and 'name="serving"' not in shown
    assert "Only a manager of Recommendations can change it." in shown
    refused = client.post(page(v2_survey, team), {"serving": ["online"], "model_kinds": ["agents"]})
    assert refused.status_code == 403
    assert TeamProfile.objects.get().serving == ["batch"]


def test_a_manager_of_another_team_gets_a_404(client, v2_survey, team, other_manager):
    client.force_login(other_manager)
    assert client.get(page(v2_survey, team)).status_code == 404
    response = client.post(page(v2_survey, team), {"serving": ["batch"], "model_kinds": ["agents"]})
    assert response.status_code == 404
    assert not TeamProfile.objects.exists()


def test_an_admin_sets_any_teams_profile(client, v2_survey, team, admin_user):
    client.force_login(admin_user)
    client.post(page(v2_survey, team), {"serving": ["edge"], "model_kinds": ["deep-learning"]})
    assert TeamProfile.objects.get().confirmed_by == admin_user


def test_the_page_needs_a_csrf_token(v2_survey, team, manager):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    response = client.post(page(v2_survey, team), {"serving": ["batch"], "model_kinds": ["agents"]})
    assert response.status_code == 403
    assert not TeamProfile.objects.exists()


def test_a_manager_confirms_a_respondents_proposal(client, v2_survey, team, member, manager):
    services.profile_propose(
        survey=v2_survey,
        team=team,
        values=services.ProfileInput(["batch"], ["classical"]),
        declared_by=member,
    )
    client.force_login(manager)
    shown = client.get(page(v2_survey, team)).content.decode()
    assert "Proposed by alice" in shown and "not confirmed yet" in shown
    as_proposed = {"serving": ["batch"], "model_kinds": ["classical"], "action": "confirm"}
    confirmed = client.post(page(v2_survey, team), as_proposed, follow=True)
    assert "The team profile is confirmed." in confirmed.content.decode()
    profile = TeamProfile.objects.get()
    assert (profile.declared_by, profile.confirmed_by) == (member, manager)
    assert profile.serving == ["batch"] and profile.confirmed_at is not None


@pytest.mark.parametrize(
    "edited",
    [
        {"serving": ["online"], "model_kinds": ["classical"]},
        {"serving": ["batch"], "model_kinds": ["classical"], "gpu": "on"},
        {"serving": ["batch"], "model_kinds": ["classical", "agents"]},
        {"serving": ["batch"]},  # every kind unticked: not even a valid profile
    ],
)
def test_confirm_as_proposed_with_edits_refuses_and_writes_nothing(
    client, v2_survey, team, member, manager, edited
):
    services.profile_propose(
        survey=v2_survey,
        team=team,
        values=services.ProfileInput(["batch"], ["classical"]),
        declared_by=member,
    )
    client.force_login(manager)
    response = client.post(page(v2_survey, team), {**edited, "action": "confirm"})
    assert response.status_code == 422
    shown = response.content.decode()
    assert "Your changes were not saved: use Save and confirm to apply them." in shown
    assert "The team profile is confirmed." not in shown
    profile = TeamProfile.objects.get()
    assert (profile.serving, profile.model_kinds, profile.gpu) == (["batch"], ["classical"], False)
    assert (profile.confirmed_by, profile.confirmed_at) == (None, None)


def test_confirming_a_confirmed_profile_says_so_and_keeps_when_it_was_confirmed(
    client, v2_survey, team, manager
):
    profile = services.profile_set(
        survey=v2_survey,
        team=team,
        values=services.ProfileInput(["batch"], ["classical"]),
        set_by=manager,
    )
    client.force_login(manager)
    as_it_is = {"serving": ["batch"], "model_kinds": ["classical"], "action": "confirm"}
    again = client.post(page(v2_survey, team), as_it_is, follow=True)
    assert "is already confirmed" in again.content.decode()
    assert "The team profile is confirmed." not in again.content.decode()
    assert TeamProfile.objects.get().confirmed_at == profile.confirmed_at
    edited = {**as_it_is, "serving": ["online"]}
    refused = client.post(page(v2_survey, team), edited)
    assert refused.status_code == 422
    assert "already confirmed. Your changes were not saved" in refused.content.decode()
    stored = TeamProfile.objects.get()
    assert (stored.serving, stored.confirmed_at) == (["batch"], profile.confirmed_at)


def test_a_version_1_rounds_profile_page_says_the_profile_changes_nothing(
    client, survey, team, manager
):
    client.force_login(manager)
    shown = client.get(page(survey, team)).content.decode()
    assert "asks every question of every team" in shown
    assert "The profile decides" not in shown


def test_a_closed_surveys_profile_no_longer_changes(client, v2_survey, team, manager):
    Survey.objects.filter(pk=v2_survey.pk).update(status=Survey.Status.CLOSED)
    client.force_login(manager)
    shown = client.get(page(v2_survey, team)).content.decode()
    assert "The survey is closed" in shown
    assert client.post(page(v2_survey, team), {"action": "save"}).status_code == 403


def test_profile_changes_are_in_the_audit_log(client, v2_survey, team, manager):
    client.force_login(manager)
    client.post(page(v2_survey, team), {"serving": ["batch"], "model_kinds": ["classical"]})
    client.post(page(v2_survey, team), {"serving": ["online"], "model_kinds": ["classical"]})
    entries = LogEntry.objects.get_for_object(TeamProfile.objects.get()).order_by("timestamp")
    assert [entry.action for entry in entries] == [LogEntry.Action.CREATE, LogEntry.Action.UPDATE]
    assert entries.last().actor == manager
    assert "online" in str(entries.last().changes)
