"""Respondents are told once when their team's results are ready (issue 18)."""

from __future__ import annotations

import pytest
from django.core import mail

from reports import tasks
from surveys import services
from surveys.models import ResultsNotice
from tests.conftest import complete_answers
from tests.factories import MembershipFactory, SurveyFactory

pytestmark = pytest.mark.django_db


def submit(survey, team, user, framework):
    services.response_submit(
        survey=survey,
        team=team,
        respondent=user,
        respondent_key=services.respondent_key_for(user, survey),
        answers=complete_answers(framework, 3),
    )


def test_closing_a_named_round_tells_respondents_and_managers_once(
    framework, team, other_team, member, other_member, manager
):
    survey = SurveyFactory(framework=framework, teams=[team, other_team], status="open")
    submit(survey, team, member, framework)
    MembershipFactory(team=team, user__username="silent")  # did not answer: not told
    services.survey_close(survey=survey)
    tasks.aggregate_survey.run(survey.pk)
    told = sorted(m.to[0] for m in mail.outbox)
    assert told == sorted([member.email, manager.email])
    message = next(m for m in mail.outbox if m.to == [member.email])
    assert f"/reports/teams/{team.slug}/?survey={survey.pk}" in message.body
    assert message.subject == f"Results of “{survey.title}” are ready"
    tasks.aggregate_survey.run(survey.pk)  # a later run tells nobody again
    assert len(mail.outbox) == 2
    assert ResultsNotice.objects.count() == 2


def test_members_are_not_told_when_only_managers_read_results(framework, team, member, manager):
    survey = SurveyFactory(
        framework=framework, teams=[team], status="open", members_see_results=False
    )
    submit(survey, team, member, framework)
    services.survey_close(survey=survey)
    tasks.aggregate_survey.run(survey.pk)
    assert [m.to for m in mail.outbox] == [[manager.email]]


def test_withheld_anonymous_teams_tell_nobody(framework, team, member, manager):
    survey = SurveyFactory(
        framework=framework, teams=[team], status="open", anonymous=True, min_group_size=3
    )
    submit(survey, team, member, framework)
    services.survey_close(survey=survey)
    tasks.aggregate_survey.run(survey.pk)
    assert mail.outbox == []


def test_teams_without_respondents_tell_nobody_and_a_person_gets_one_reminder(
    framework, team, other_team, member, manager, django_capture_on_commit_callbacks
):
    boss = MembershipFactory(team=other_team, role="manager").user
    MembershipFactory(team=other_team, user=manager, role="manager")  # maria manages both
    survey = SurveyFactory(framework=framework, teams=[team, other_team], status="open")
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            services.reminders_send_now(survey=survey, sent_by=boss) == 3
        )  # alice, maria, boss: one each
    to_maria = [m for m in mail.outbox if m.to == [manager.email]]
    assert len(to_maria) == 1 and "Fraud Detection" in to_maria[0].body
    mail.outbox.clear()
    submit(survey, team, member, framework)
    services.survey_close(survey=survey)
    tasks.aggregate_survey.run(survey.pk)
    assert boss.email not in [m.to[0] for m in mail.outbox]  # fraud had no respondent
