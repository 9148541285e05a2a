"""E-mail invitations, reminders before closing (at most one each), and closing on time,
with a frozen clock."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from reports.models import TeamScore
from surveys import services, tasks
from surveys.models import Reminder, Survey
from tests.conftest import complete_answers
from tests.factories import MembershipFactory, SurveyFactory, UserFactory

pytestmark = pytest.mark.django_db

START = datetime.fromisoformat("2026-12-01T09:00:00+00:00")


@pytest.fixture
def closing_survey(framework, team):
    with time_machine.travel(START, tick=False):
        return SurveyFactory(
            framework=framework,
            teams=[team],
            title="Q1 review",
            opens_at=START - timedelta(days=10),
            closes_at=START + timedelta(days=5),
        )


def test_managers_invite_by_email_with_single_use_links(client, survey, team, manager):
    client.force_login(manager)
    url = reverse("survey-invitations", args=[survey.pk, team.slug])
    response = client.post(url, {"action": "email", "emails": "a@example.com, b@example.com"})
    assert response.status_code == 302
    assert sorted(m.to[0] for m in mail.outbox) == ["a@example.com", "b@example.com"]
    assert "/i/" in mail.outbox[0].body and survey.title in mail.outbox[0].subject
    assert survey.invitations.filter(max_uses=1).count() == 2
    bad = client.post(url, {"action": "email", "emails": "not-an-address"})
    assert (
        bad.status_code == 422
        and "Not valid e-mail addresses: not-an-address" in bad.content.decode()
    )


def test_reminders_go_once_to_members_who_have_not_submitted(closing_survey, team, framework):
    done = MembershipFactory(team=team, user__email="done@example.com").user
    waiting = MembershipFactory(team=team, user__email="waiting@example.com").user
    MembershipFactory(team=team, user=UserFactory(email=""))  # no address: skipped
    with time_machine.travel(START, tick=False):
        services.response_submit(
            survey=closing_survey,
            team=team,
            respondent=done,
            respondent_key=services.respondent_key_for(done, closing_survey),
            answers=complete_answers(framework),
        )
        assert tasks.send_reminders() == 0  # closes in 5 days: too early (3-day window)
    with time_machine.travel(START + timedelta(days=3), tick=False):
        assert tasks.send_reminders() == 1
        assert tasks.send_reminders() == 0  # at most one per person per survey
    assert [m.to for m in mail.outbox] == [["waiting@example.com"]]
    assert "closes on" in mail.outbox[0].body
    reminder = Reminder.objects.get()
    assert reminder.user == waiting and reminder.sent_at == START + timedelta(days=3)


def test_surveys_close_themselves_on_time_and_are_scored(
    closing_survey, team, member, framework, django_capture_on_commit_callbacks
):
    with time_machine.travel(START, tick=False):
        services.response_submit(
            survey=closing_survey,
            team=team,
            respondent=member,
            respondent_key=services.respondent_key_for(member, closing_survey),
            answers=complete_answers(framework, 4),
        )
        TeamScore.objects.all().delete()
        assert tasks.close_due_surveys() == []
    with time_machine.travel(START + timedelta(days=5, seconds=1), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.close_due_surveys() == [closing_survey.pk]
    closing_survey.refresh_from_db()
    assert closing_survey.status == Survey.Status.CLOSED
    assert TeamScore.objects.get(survey=closing_survey, team=team).score == 100.0
