"""Exemptions: granted with a reason, an approver and an expiry (service or admin, audited),
they make a verdict "exempt" until they expire or are revoked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from evidence import services
from evidence.models import Exemption
from reports import services as report_services
from tests.evidence.test_verdicts import store, verdicts

pytestmark = pytest.mark.django_db


@pytest.fixture
def evidenced(v2_round, team):
    store(team)
    report_services.aggregate(survey=v2_round)
    assert verdicts(v2_round, team)["shift-left-security"] == "contradicted"
    return v2_round


def grant(team, approver, **changes):
    fields = {
        "team": team,
        "question_key": "shift-left-security",
        "reason": "Scans run in the platform's central pipeline, not in this repository.",
        "approved_by": approver,
        "expires_at": timezone.now() + timedelta(days=30),
    } | changes
    return services.exemption_grant(**fields)


def test_an_exemption_makes_the_verdict_exempt_until_it_is_revoked(
    evidenced, team, admin_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        exemption = grant(team, admin_user)
    assert verdicts(evidenced, team)["shift-left-security"] == "exempt"
    # Only that question: the other contradiction stands.
    assert verdicts(evidenced, team)["code-review"] == "contradicted"
    log = LogEntry.objects.get_for_object(exemption).get()
    assert log.action == LogEntry.Action.CREATE

    with django_capture_on_commit_callbacks(execute=True):
        services.exemption_revoke(exemption=exemption)
    assert verdicts(evidenced, team)["shift-left-security"] == "contradicted"
    exemption.refresh_from_db()
    assert exemption.revoked_at is not None
    assert LogEntry.objects.get_for_object(exemption).count() == 2


def test_an_expired_exemption_no_longer_counts(evidenced, team, admin_user):
    exemption = grant(team, admin_user)
    report_services.aggregate(survey=evidenced)
    assert verdicts(evidenced, team)["shift-left-security"] == "exempt"
    Exemption.objects.filter(pk=exemption.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    report_services.aggregate(survey=evidenced)
    assert verdicts(evidenced, team)["shift-left-security"] == "contradicted"


def test_an_exemption_of_another_team_does_not_count(evidenced, team, other_team, admin_user):
    grant(other_team, admin_user)
    report_services.aggregate(survey=evidenced)
    assert verdicts(evidenced, team)["shift-left-security"] == "contradicted"


def test_the_team_report_shows_an_exempt_verdict(
    evidenced, team, admin_user, member_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        grant(team, admin_user)
    html = member_client.get(f"/reports/teams/{team.slug}/?survey={evidenced.pk}").content.decode()
    assert 'data-verdict="exempt"' in html


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"reason": "  "}, "reason", "Give the reason for the exemption."),
        (
            {"expires_at": timezone.now() - timedelta(days=1)},
            "expires_at",
            "The expiry must be in the future.",
        ),
        ({"question_key": "no-such-question"}, "question_key", "'no-such-question'"),
    ],
)
def test_an_invalid_grant_is_refused_and_writes_nothing(
    evidenced, team, admin_user, changes, field, message
):
    with pytest.raises(services.EvidenceError) as refused:
        grant(team, admin_user, **changes)
    assert refused.value.field == field
    assert message in refused.value.message
    assert not Exemption.objects.exists()


# --- the admin -----------------------------------------------------------------------------

ADD_URL = "/admin/evidence/exemption/add/"


def admin_form(team, **changes) -> dict:
    expires = timezone.localtime(timezone.now() + timedelta(days=60))
    return {
        "team": team.pk,
        "question_key": "shift-left-security",
        "reason": "Central scanning pipeline.",
        "expires_at_0": expires.strftime("%Y-%m-%d"),
        "expires_at_1": expires.strftime("%H:%M:%S"),
    } | changes


def test_the_admin_grants_an_exemption_approved_by_the_admin_and_audited(
    evidenced, team, admin_user, client, django_capture_on_commit_callbacks
):
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(ADD_URL, admin_form(team))
    assert response.status_code == 302, response.context["adminform"].form.errors
    exemption = Exemption.objects.get()
    assert exemption.approved_by == admin_user
    assert (exemption.team, exemption.question_key) == (team, "shift-left-security")
    assert exemption.reason == "Central scanning pipeline."
    assert exemption.expires_at > timezone.now() + timedelta(days=59)
    assert response["Location"] == "/admin/evidence/exemption/"
    entry = LogEntry.objects.get(
        content_type=ContentType.objects.get_for_model(Exemption), object_pk=str(exemption.pk)
    )
    assert entry.action == LogEntry.Action.CREATE
    assert verdicts(evidenced, team)["shift-left-security"] == "exempt"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"expires_at_0": "2001-01-01"}, "expires_at", "The expiry must be in the future."),
        ({"question_key": "no-such-question"}, "question_key", "No framework has a question"),
        ({"reason": ""}, "reason", "This field is required."),
    ],
)
def test_invalid_admin_input_shows_the_error_and_writes_nothing(
    team, admin_user, client, changes, field, message, v2_framework
):
    client.force_login(admin_user)
    logged = LogEntry.objects.count()
    response = client.post(ADD_URL, admin_form(team, **changes))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert any(message in text for text in errors[field]), errors
    assert message in response.content.decode()
    assert not Exemption.objects.exists()
    assert LogEntry.objects.count() == logged


def test_a_granted_exemption_cannot_be_edited_or_deleted_in_the_admin(
    team, admin_user, client, v2_framework
):
    exemption = grant(team, admin_user)
    client.force_login(admin_user)
    change = client.post(
        f"/admin/evidence/exemption/{exemption.pk}/change/", admin_form(team, reason="Other.")
    )
    assert change.status_code == 302
    exemption.refresh_from_db()
    assert exemption.reason.startswith("Scans run in the platform's central pipeline")
    delete = client.post(f"/admin/evidence/exemption/{exemption.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 403
    assert Exemption.objects.filter(pk=exemption.pk).exists()


def test_the_admin_revoke_action_ends_exemptions(
    evidenced, team, admin_user, client, django_capture_on_commit_callbacks
):
    exemption = grant(team, admin_user)
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/evidence/exemption/",
            {"action": "revoke", "_selected_action": [exemption.pk]},
        )
    assert response.status_code == 302
    exemption.refresh_from_db()
    assert exemption.revoked_at is not None
    assert verdicts(evidenced, team)["shift-left-security"] == "contradicted"
