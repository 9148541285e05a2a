"""The profile (issue 18): a name and a time zone; every time is shown in the person's zone,
with its name, and e-mails to them use it too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import Profile
from tests.factories import SurveyFactory

pytestmark = pytest.mark.django_db


def test_the_profile_sets_name_and_zone_and_pages_follow_it(client, member, framework, team):
    closes = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
    SurveyFactory(framework=framework, teams=[team], status="open", closes_at=closes)
    client.force_login(member)
    assert "15 Jan 2027, 12:00 UTC" in client.get("/").content.decode()
    page = client.get("/accounts/profile/").content.decode()
    assert "The organisation&#x27;s (UTC)" in page and "Asia/Tokyo" in page
    response = client.post(
        "/accounts/profile/",
        {"first_name": "Alice", "last_name": "Liddell", "time_zone": "Asia/Tokyo"},
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.get_full_name() == "Alice Liddell"
    assert Profile.objects.get(user=member).time_zone == "Asia/Tokyo"
    assert "15 Jan 2027, 21:00 JST" in client.get("/").content.decode()
    # Back to the organisation's zone.
    client.post("/accounts/profile/", {"first_name": "Alice", "last_name": "", "time_zone": ""})
    assert "15 Jan 2027, 12:00 UTC" in client.get("/").content.decode()


def test_an_unknown_zone_is_refused_and_nothing_changes(client, member):
    client.force_login(member)
    response = client.post("/accounts/profile/", {"first_name": "X", "time_zone": "Mars/Olympus"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    member.refresh_from_db()
    assert member.first_name == "" and not Profile.objects.exists()


def test_logging_in_brings_the_zone_and_e_mails_use_the_recipients(
    client, member, manager, framework, team
):
    from surveys import services

    Profile.objects.create(user=member, time_zone="America/New_York")
    response = client.post("/accounts/login/", {"username": "alice", "password": "pass-word-123"})
    assert response.status_code == 302
    survey = SurveyFactory(
        framework=framework,
        teams=[team],
        status="open",
        opens_at=timezone.now() - timedelta(days=1),
        closes_at=timezone.now() + timedelta(days=1),
    )
    page = client.get("/").content.decode()
    assert " EST" in page or " EDT" in page
    services.reminders_send()
    by_recipient = {message.to[0]: message for message in mail.outbox}
    assert by_recipient[member.email].subject.endswith(("EST", "EDT"))
    assert by_recipient[manager.email].subject.endswith("UTC")
    assert survey.pk
