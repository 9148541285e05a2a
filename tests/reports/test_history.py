"""Deleting and closing never rewrite history (issue 13, section 5): counted responses are
withdrawn, not deleted; teams archived, not deleted; any change of counted input re-scores
the team and its parents; erasure unlinks a person; a close waits for submissions."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import ProtectedError
from django.urls import reverse
from django.utils import timezone

from reports import services as report_services
from reports.models import ExportAudit, TeamScore
from reports.tasks import reconcile_scores
from surveys import services
from surveys.models import Erasure, Response, Survey
from tests.conftest import complete_answers, require
from tests.factories import MembershipFactory, SurveyFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def submit(survey, team, user, score):
    return services.response_submit(
        survey=survey,
        team=team,
        respondent=None if survey.anonymous else user,
        respondent_key=services.respondent_key_for(user, survey),
        answers=complete_answers(survey.framework, score),
    ).response


@pytest.fixture
def parent_and_child(framework, team):
    """A parent team (roll-up) above ``team``; a survey of ``team`` only."""
    parent = TeamFactory(slug="ml-platform", name="ML platform")
    team.parent = parent
    team.save()
    survey = SurveyFactory(framework=framework, teams=[team], title="Round")
    return parent, survey


def test_withdrawing_a_counted_response_rescores_the_team_and_its_parent(
    django_capture_on_commit_callbacks, parent_and_child, team, admin_user
):
    parent, survey = parent_and_child
    users = [MembershipFactory(team=team).user for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        responses = [
            submit(survey, team, user, score) for user, score in zip(users, (0, 2, 4), strict=True)
        ]
    assert TeamScore.objects.get(team=team).n_respondents == 3
    assert TeamScore.objects.get(team=parent).score == pytest.approx(50.0)

    with django_capture_on_commit_callbacks(execute=True):
        services.response_withdraw(
            response=responses[2], withdrawn_by=admin_user, reason="a test account"
        )
    withdrawn = Response.objects.get(pk=responses[2].pk)
    assert withdrawn.status == "withdrawn" and withdrawn.withdrawn_reason == "a test account"
    assert withdrawn.answers.count() == survey.framework.questions.count()  # kept
    assert TeamScore.objects.get(team=team).n_respondents == 2
    assert TeamScore.objects.get(team=team).score == pytest.approx(25.0)
    assert TeamScore.objects.get(team=parent).score == pytest.approx(25.0)
    assert report_services.stale_team_scores() == []
    with pytest.raises(services.SurveyError) as again:
        services.response_withdraw(response=withdrawn, withdrawn_by=admin_user, reason="x")
    assert again.value.code == "not_counted"


def test_reconcile_notices_counted_input_that_went_down(survey, team):
    """The old watermark (newest submission, count) saw only growth: a deleted response
    left the team's scores counting it, and reconcile never noticed."""
    users = [MembershipFactory(team=team).user for _ in range(3)]
    responses = [
        submit(survey, team, user, score) for user, score in zip(users, (0, 2, 4), strict=True)
    ]
    report_services.aggregate(survey=survey)
    assert report_services.stale_team_scores() == []
    # The newest response disappears (a raw delete, as an operator's SQL would do).
    Response.objects.filter(pk=responses[2].pk).delete()
    assert report_services.stale_team_scores() == [(survey.pk, team.pk)]
    reconcile_scores()  # eager: scores at once
    team_score = TeamScore.objects.get(survey=survey, team=team)
    assert (team_score.n_respondents, team_score.score) == (2, pytest.approx(25.0))
    assert report_services.stale_team_scores() == []

    # Every counted response gone: the snapshot goes empty rather than keep old numbers.
    Response.objects.filter(status="submitted").delete()
    assert report_services.stale_team_scores() == [(survey.pk, team.pk)]
    reconcile_scores()
    team_score.refresh_from_db()
    assert team_score.n_respondents == 0 and team_score.score is None
    assert report_services.stale_team_scores() == []


def test_a_run_that_read_older_input_does_not_overwrite_the_current_snapshot(survey, team):
    first, second = (MembershipFactory(team=team).user for _ in range(2))
    submit(survey, team, first, 4)
    tables = report_services.framework_tables(survey.framework)
    stale_inputs = report_services.load_inputs(survey, tables, [team.pk])
    submit(survey, team, second, 0)  # lands after the run read its input
    report_services.aggregate(survey=survey, team_ids=[team.pk])
    assert TeamScore.objects.get(team=team).n_respondents == 2
    from maturity import scoring

    result = scoring.score_teams(
        stale_inputs.question_stats,
        tables.frames,
        stale_inputs.respondents,
        respondent_dimension_moments=stale_inputs.respondent_dimension_moments,
    )
    written = report_services._persist(survey, [team.pk], result, stale_inputs, tables)
    assert written == 0
    assert TeamScore.objects.get(team=team).n_respondents == 2


def test_teams_and_responses_with_history_are_never_deleted(client, survey, team, admin_user):
    response = submit(survey, team, MembershipFactory(team=team).user, 2)
    report_services.aggregate(survey=survey)
    with pytest.raises(ProtectedError):
        team.delete()
    with pytest.raises(ProtectedError):
        survey.delete()
    client.force_login(admin_user)
    # The admin offers no delete for responses, nor for teams with history.
    assert client.get(f"/admin/surveys/response/{response.pk}/delete/").status_code == 403
    assert client.get(f"/admin/surveys/team/{team.pk}/delete/").status_code == 403
    changelist = client.get("/admin/surveys/response/").content.decode()
    assert "delete_selected" not in changelist and "withdraw_responses" in changelist
    archived = client.post(
        "/admin/surveys/team/", {"action": "archive_teams", "_selected_action": [team.pk]}
    )
    assert archived.status_code == 302
    team.refresh_from_db()
    assert team.archived_at is not None
    assert Response.objects.filter(pk=response.pk).exists()


def test_the_admin_withdraws_with_a_reason(client, survey, team, admin_user):
    response = submit(survey, team, MembershipFactory(team=team).user, 2)
    client.force_login(admin_user)
    form = {"action": "withdraw_responses", "_selected_action": [response.pk]}
    asked = client.post("/admin/surveys/response/", form)
    assert asked.status_code == 200 and "Reason" in asked.content.decode()
    no_reason = client.post("/admin/surveys/response/", {**form, "apply": "1", "reason": " "})
    assert "Give a reason." in no_reason.content.decode()
    nul = client.post("/admin/surveys/response/", {**form, "apply": "1", "reason": "a\x00b"})
    assert "Null characters are not allowed." in nul.content.decode()
    assert Response.objects.get(pk=response.pk).status == "submitted"
    done = client.post("/admin/surveys/response/", {**form, "apply": "1", "reason": "duplicate"})
    assert done.status_code == 302
    withdrawn = Response.objects.get(pk=response.pk)
    assert (withdrawn.status, withdrawn.withdrawn_by, withdrawn.withdrawn_reason) == (
        "withdrawn",
        admin_user,
        "duplicate",
    )


def test_an_archived_team_cannot_join_a_new_survey(survey, team, admin_user):
    from rest_framework.test import APIClient

    services.team_archive(team=team)
    api = APIClient()
    api.force_authenticate(admin_user)
    created = api.post(
        "/api/v1/surveys/",
        {"title": "Next", "framework": "mlops", "teams": [team.slug]},
        format="json",
    )
    assert created.status_code == 400
    assert created.json() == {"teams": ["Archived teams cannot join a survey: ['recsys']."]}
    # A survey it already belongs to keeps it.
    kept = api.patch(f"/api/v1/surveys/{survey.pk}/", {"teams": ["recsys", "fraud"]}, format="json")
    assert kept.status_code == 200


def test_erasing_a_person_unlinks_their_answers_and_keeps_the_numbers(
    survey, other_team, team, admin_user
):
    person = MembershipFactory(team=team, user__username="leaver").user
    MembershipFactory(team=other_team, user=person)
    anonymous = SurveyFactory(framework=survey.framework, teams=[team], anonymous=True)
    counted = submit(survey, team, person, 3)
    in_anonymous = submit(anonymous, team, person, 1)
    services.response_start(
        survey=survey,
        team=other_team,
        respondent_key=services.respondent_key_for(person, survey),
        respondent=person,
    )
    report_services.aggregate(survey=survey)
    before = TeamScore.objects.get(survey=survey, team=team).score
    ExportAudit.objects.create(user=person, actor="leaver", kind="answers", format="csv")

    out = StringIO()
    call_command("erase_person", "leaver", "--yes", stdout=out)
    assert "2 response(s) unlinked, 0 withdrawn, 1 draft(s) deleted" in out.getvalue()
    assert not type(person).objects.filter(username="leaver").exists()
    for response in (counted, in_anonymous):
        response.refresh_from_db()
        assert response.respondent_id is None and response.respondent_key.startswith("e:")
        assert response.status == "submitted"
    assert counted.respondent_key != in_anonymous.respondent_key
    assert not Response.objects.filter(status="draft").exists()
    assert ExportAudit.objects.get().actor.startswith("erased user #")
    assert Erasure.objects.get().responses_unlinked == 2
    report_services.aggregate(survey=survey)
    assert TeamScore.objects.get(survey=survey, team=team).score == before


def test_erasing_with_withdrawal_rescores_their_teams(
    django_capture_on_commit_callbacks, survey, team
):
    person = MembershipFactory(team=team, user__username="leaver").user
    stays = MembershipFactory(team=team).user
    with django_capture_on_commit_callbacks(execute=True):
        submit(survey, team, person, 4)
        submit(survey, team, stays, 0)
        call_command("erase_person", "leaver", "--yes", "--withdraw", "--reason", "GDPR #12")
    team_score = TeamScore.objects.get(survey=survey, team=team)
    assert (team_score.n_respondents, team_score.score) == (1, 0.0)
    withdrawn = Response.objects.get(status="withdrawn")
    assert withdrawn.withdrawn_reason == "GDPR #12" and withdrawn.respondent_key.startswith("e:")


def test_erase_person_refuses_bad_input_and_changes_nothing(member):
    with pytest.raises(CommandError, match="No user 'nobody'"):
        call_command("erase_person", "nobody", "--yes")
    with pytest.raises(CommandError, match="Null characters"):
        call_command("erase_person", "a\x00b", "--yes")
    assert type(member).objects.filter(pk=member.pk).exists()
    assert not Erasure.objects.exists()


def test_a_survey_closed_early_says_when_it_closed_not_its_planned_end(client, survey, member):
    services.survey_close(survey=survey)
    survey.refresh_from_db()
    assert survey.closed_at is not None and survey.closes_at > timezone.now()
    client.force_login(member)
    page = client.get(reverse("survey-start", args=[survey.pk, "recsys"])).content.decode()
    assert f"This survey is closed since {survey.closed_at:%-d %b %Y}" in page
    assert f"{survey.closes_at:%-d %b %Y}" not in page  # the planned end, 30 days ahead
    services.survey_open(survey=survey)
    survey.refresh_from_db()
    assert survey.closed_at is None


@pytest.mark.django_db(transaction=True)
def test_closing_during_a_burst_of_submissions_admits_only_what_committed_before(framework):
    """80 submissions race a close: each one commits before the close (and is in the
    final scores) or is refused with code "closed"; none commits after."""
    require(connection.vendor == "postgresql", "needs PostgreSQL (set DATABASE_URL)")
    team = TeamFactory(slug="burst")
    survey = SurveyFactory(framework=framework, teams=[team])
    users = [MembershipFactory(team=team).user for _ in range(80)]
    answers = complete_answers(framework, 2)
    started = threading.Barrier(9)
    closed_with: list[set[int]] = []

    def submit_one(user, loaded):  # type: ignore[no-untyped-def]
        try:
            return services.response_submit(
                survey=loaded,
                team=team,
                respondent=user,
                respondent_key=services.respondent_key_for(user, survey),
                answers=answers,
            ).response.pk
        except services.SurveyError as error:
            assert error.code == "closed"
            return None
        finally:
            connection.close()

    def worker(chunk):  # type: ignore[no-untyped-def]
        # Each request read the survey (open) before the close: like requests in flight,
        # whose check of the survey they loaded passes.
        loaded = [Survey.objects.select_related("framework").get(pk=survey.pk) for _ in chunk]
        started.wait()
        return [submit_one(user, own) for user, own in zip(chunk, loaded, strict=True)]

    def close():  # type: ignore[no-untyped-def]
        started.wait()
        deadline = time.monotonic() + 120  # a submission that fails must not hang the suite
        while Response.objects.filter(survey=survey).count() < 30:
            assert time.monotonic() < deadline, "submissions stopped before 30 committed"
        services.survey_close(survey=Survey.objects.get(pk=survey.pk))
        # What the final scoring reads: everything committed before the close.
        closed_with.append(set(Response.objects.filter(survey=survey).values_list("pk", flat=True)))
        connection.close()

    with ThreadPoolExecutor(max_workers=9) as pool:
        closing = pool.submit(close)
        results = [pool.submit(worker, users[i::8]) for i in range(8)]
        accepted = {pk for future in results for pk in future.result() if pk is not None}
        closing.result()
    assert 30 <= len(accepted) < 80
    assert accepted == closed_with[0]
    final = TeamScore.objects.get(survey=survey, team=team)
    assert final.n_respondents == len(accepted)


def test_an_erasure_leaves_no_trace_of_the_person_in_the_audit_log_or_in_shared_times(
    survey, team, admin_user
):
    """Break-it finding: the audit log kept "dev in Recommendations (member)" with the user
    id, and the erased responses shared one updated_at, linking them across rounds."""
    from auditlog.models import LogEntry

    person = UserFactory(username="dev-leaver")
    membership = MembershipFactory(team=team, user=person)  # audited: names the person
    other_round = SurveyFactory(framework=survey.framework, teams=[team])
    responses = [submit(survey, team, person, 2), submit(other_round, team, person, 3)]
    before = {r.pk: r.updated_at for r in Response.objects.filter(pk__in=[r.pk for r in responses])}
    assert LogEntry.objects.filter(object_repr__contains="dev-leaver").exists()
    call_command("erase_person", "dev-leaver", "--yes", stdout=StringIO())
    entries = LogEntry.objects.all()
    assert not [e.pk for e in entries if "dev-leaver" in (e.object_repr + str(e.changes))]
    about_membership = entries.filter(object_pk=str(membership.pk), object_repr__contains="erased")
    assert about_membership.exists()  # the event stays, its details (the user id) go
    assert all(entry.changes is None for entry in about_membership)
    after = {r.pk: r.updated_at for r in Response.objects.filter(pk__in=[r.pk for r in responses])}
    assert after == before  # no common time stamped on the person's responses


def test_the_admin_keeps_the_apis_rules_and_never_edits_computed_history(
    client, survey, team, other_team, admin_user, member
):
    """Break-it findings: the admin let a survey with responses lose its anonymity or change
    its framework, open a survey by editing its status, add an archived team, delete a
    published team score, and delete a person who answered (leaving their key behind)."""
    from maturity.models import Framework

    submit(survey, team, member, 2)
    report_services.aggregate(survey=survey)
    client.force_login(admin_user)
    form = client.get(f"/admin/surveys/survey/{survey.pk}/change/").content.decode()
    for field in ("anonymous", "framework", "status"):
        assert f'name="{field}"' not in form, field  # shown read-only, not as an input
    hidden = Framework.objects.create(slug="draft", version=1, title="Draft", published=False)
    new_survey = client.get("/admin/surveys/survey/add/").content.decode()
    assert f'<option value="{hidden.pk}">{hidden}</option>' not in new_survey
    assert 'name="status"' not in new_survey
    services.team_archive(team=other_team)
    fresh = SurveyFactory(framework=survey.framework, teams=[team])
    choices = client.get(f"/admin/surveys/survey/{fresh.pk}/change/").content.decode()
    teams = choices[choices.index('name="teams"') :]
    teams = teams[: teams.index("</select>")]
    assert f'<option value="{team.pk}"' in teams
    assert f'<option value="{other_team.pk}"' not in teams  # archived, not in this survey
    team_score = TeamScore.objects.get(survey=survey, team=team)
    assert client.get(f"/admin/reports/teamscore/{team_score.pk}/delete/").status_code == 403
    changelist = client.get("/admin/reports/teamscore/").content.decode()
    assert "delete_selected" not in changelist
    assert client.get(f"/admin/auth/user/{member.pk}/delete/").status_code == 403
    users = client.get("/admin/auth/user/").content.decode()
    assert "delete_selected" not in users and "erase_people" in users
