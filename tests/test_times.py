"""Times shown to people: in the deployment's TIME_ZONE (or an activated zone), always with
the zone's name, the same in an e-mail's subject and body and on every page (issue 13, 7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.utils import timezone as django_timezone

from common.times import when, zone_name
from reports import services as report_services
from reports.models import TeamScore
from surveys import services
from surveys.models import Invitation, Response
from tests.conftest import complete_answers
from tests.factories import MembershipFactory, SurveyFactory
from tests.pdf import pdf_text

CLOSES = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)  # 2 Dec 2026, 00:30 in Berlin
CLOSES_IN_BERLIN = "2 Dec 2026, 00:30 CET"
NOW = CLOSES - timedelta(days=2)  # inside the 3-day reminder window

# --- the helper -------------------------------------------------------------------------------


def test_a_time_is_shown_in_the_given_zone_with_its_abbreviation():
    assert when(CLOSES, ZoneInfo("Europe/Berlin")) == CLOSES_IN_BERLIN
    assert when(datetime(2026, 7, 1, 8, 5, tzinfo=UTC), ZoneInfo("Europe/Berlin")) == (
        "1 Jul 2026, 10:05 CEST"
    )
    assert when(CLOSES, ZoneInfo("UTC")) == "1 Dec 2026, 23:30 UTC"


def test_a_zone_whose_abbreviation_is_only_an_offset_is_named_by_its_iana_key():
    assert when(CLOSES, ZoneInfo("Asia/Dubai")) == "2 Dec 2026, 03:30 Asia/Dubai"
    assert when(CLOSES, ZoneInfo("America/Sao_Paulo")) == "1 Dec 2026, 20:30 America/Sao_Paulo"
    fixed = datetime(2026, 12, 2, 3, 30, tzinfo=timezone(timedelta(hours=4)))
    assert zone_name(fixed) == "UTC+04:00"
    etc = datetime(2026, 12, 1, 12, 0, tzinfo=ZoneInfo("Etc/GMT-4"))  # break-it finding
    assert zone_name(etc) == "UTC+04:00"


def test_the_zone_defaults_to_the_active_one_so_a_users_zone_can_be_activated():
    with django_timezone.override(ZoneInfo("America/New_York")):
        assert when(CLOSES) == "1 Dec 2026, 18:30 EST"
    assert when(CLOSES) == "1 Dec 2026, 23:30 UTC"  # the test settings' TIME_ZONE


def test_no_time_is_empty_and_a_naive_time_is_taken_as_local():
    assert when(None) == ""
    naive = datetime(2026, 12, 2, 0, 30)  # noqa: DTZ001 - the case under test
    assert when(naive, ZoneInfo("Europe/Berlin")) == CLOSES_IN_BERLIN


# --- e-mails ----------------------------------------------------------------------------------


@pytest.fixture
def berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def closing_in_berlin(berlin, framework, team):
    return SurveyFactory(
        framework=framework,
        teams=[team],
        title="Q1 review",
        opens_at=CLOSES - timedelta(days=20),
        closes_at=CLOSES,
    )


@pytest.mark.django_db
def test_a_reminder_gives_the_same_closing_time_in_subject_and_body(closing_in_berlin, team):
    MembershipFactory(team=team, user__email="waiting@example.com")
    assert services.reminders_send() == 1
    (message,) = mail.outbox
    assert message.subject == f"Reminder: “Q1 review” closes {CLOSES_IN_BERLIN}"
    assert f"closes on {CLOSES_IN_BERLIN} and we have" in message.body


@pytest.mark.django_db
def test_an_invitation_gives_the_closing_time_with_its_zone(closing_in_berlin, team, manager):
    services.invitation_email(
        survey=closing_in_berlin,
        team=team,
        emails=["new@example.com"],
        invited_by=manager,
        link_for=lambda token: f"https://maturity.example.com/i/{token}/",
    )
    assert f"The survey closes on {CLOSES_IN_BERLIN}." in mail.outbox[0].body


# --- pages ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_home_and_invitation_pages_show_times_with_the_zone(
    client, closing_in_berlin, team, manager
):
    Invitation.objects.filter(survey=closing_in_berlin).delete()
    services.invitation_create(
        survey=closing_in_berlin, team=team, created_by=manager, expires_at=CLOSES
    )
    client.force_login(manager)
    home = client.get("/").content.decode()
    assert f'<td data-label="Closes">{CLOSES_IN_BERLIN}</td>' in home
    invitations = client.get(f"/surveys/{closing_in_berlin.pk}/{team.slug}/invitations/")
    page = invitations.content.decode()
    assert f"<td>{CLOSES_IN_BERLIN}</td>" in page  # expires
    assert "Times are in Europe/Berlin." in page


@pytest.mark.django_db
def test_closed_and_done_pages_show_times_with_the_zone(
    client, closing_in_berlin, team, member, framework
):
    submitted_at = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
    services.response_submit(
        survey=closing_in_berlin,
        team=team,
        respondent=member,
        respondent_key=services.respondent_key_for(member, closing_in_berlin),
        answers=complete_answers(framework),
    )
    Response.objects.filter(survey=closing_in_berlin).update(submitted_at=submitted_at)
    client.force_login(member)
    done = client.get(f"/surveys/{closing_in_berlin.pk}/{team.slug}/done/").content.decode()
    assert "Submitted on 30 Nov 2026, 10:15 CET for" in done
    services.survey_close(survey=closing_in_berlin)  # two days early: closed_at is NOW
    closed = client.get(f"/surveys/{closing_in_berlin.pk}/{team.slug}/").content.decode()
    assert "This survey is closed since 30 Nov 2026, 00:30 CET." in closed
    assert CLOSES_IN_BERLIN not in closed  # the planned end, which never came


@pytest.mark.django_db
def test_report_page_and_pdf_say_when_they_were_scored_with_the_zone(
    client, closing_in_berlin, team, manager, framework
):
    services.response_submit(
        survey=closing_in_berlin,
        team=team,
        respondent=manager,
        respondent_key=services.respondent_key_for(manager, closing_in_berlin),
        answers=complete_answers(framework),
    )
    report_services.aggregate(survey=closing_in_berlin)
    TeamScore.objects.filter(survey=closing_in_berlin).update(computed_at=CLOSES)
    client.force_login(manager)
    url = f"/reports/teams/{team.slug}/?survey={closing_in_berlin.pk}"
    assert f"“Q1 review” · scored {CLOSES_IN_BERLIN}" in client.get(url).content.decode()
    pdf = client.get(f"/reports/teams/{team.slug}/report.pdf?survey={closing_in_berlin.pk}")
    assert f"Q1 review · scored {CLOSES_IN_BERLIN}" in pdf_text(pdf.content)
