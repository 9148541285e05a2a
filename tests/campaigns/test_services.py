"""Campaign rules (campaigns.services), the database's one-goal constraint, the deadline
event, the command and the daily task."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.models import Campaign, CampaignTeamStatus
from campaigns.services import (
    CampaignError,
    CampaignInput,
    campaign_create,
    campaign_deadlines_notify,
    campaign_update,
)
from common.events import event_published

pytestmark = pytest.mark.django_db


@pytest.fixture
def published():
    """Events published (after the commit) while the test runs."""
    seen: list[tuple[str, dict]] = []

    def listen(sender, name, payload, **kwargs):
        seen.append((name, payload))

    event_published.connect(listen)
    yield seen
    event_published.disconnect(listen)


def test_the_database_holds_exactly_one_goal_kind(world):
    for fields in (
        {"dimension_key": "x", "min_level": 1, "question_key": "y", "min_choice": 1},
        {"dimension_key": "", "min_level": None, "question_key": "", "min_choice": None},
        {"dimension_key": "x", "min_level": None},
        {"dimension_key": "", "min_level": None, "question_key": "y", "min_choice": None},
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            Campaign.objects.filter(pk=world.mon.pk).update(**fields)


def test_only_leads_manage_campaigns(world):
    data = CampaignInput.of(world.mon)
    with pytest.raises(CampaignError) as refused:
        campaign_create(data, by=world.maria)
    assert refused.value.status_code == 403
    with pytest.raises(CampaignError):
        campaign_update(world.mon, {"title": "x"}, by=world.alice)


def test_the_service_refuses_what_the_edge_refuses(world):
    data = CampaignInput.of(world.mon).changed({"goal_minimum": 9})
    with pytest.raises(CampaignError) as refused:
        campaign_create(data, by=world.admin)
    assert refused.value.field == "goal_minimum"
    with pytest.raises(CampaignError) as unknown:
        campaign_update(world.mon, {"owner": 1}, by=world.admin)
    assert unknown.value.code == "not_changeable"


def test_the_deadline_event_is_published_once_while_not_complete(
    world, published, django_capture_on_commit_callbacks, settings
):
    settings.CAMPAIGN_DEADLINE_NEAR_DAYS = 14
    today = timezone.localdate()
    Campaign.objects.filter(pk=world.mon.pk).update(due=today + timedelta(days=10))
    Campaign.objects.filter(pk=world.risk_campaign.pk).update(due=today + timedelta(days=20))
    with django_capture_on_commit_callbacks(execute=True):
        assert campaign_deadlines_notify() == 1
        assert campaign_deadlines_notify() == 0  # once
    events = [payload for name, payload in published if name == "campaign.deadline_near"]
    assert events == [
        {
            "campaign": {
                "id": world.mon.pk,
                "title": "Monitoring for all",
                "due": (today + timedelta(days=10)).isoformat(),
                "meeting": 1,
                "not_meeting": 1,
                "not_assessed": 0,
                "url": f"http://127.0.0.1:8000/campaigns/{world.mon.pk}/",
            }
        }
    ]
    # A new due date makes it due again; 20 days out is not near yet.
    campaign_update(world.mon, {"due": today + timedelta(days=5)}, by=world.admin)
    with django_capture_on_commit_callbacks(execute=True):
        assert campaign_deadlines_notify() == 1
    assert campaign_deadlines_notify(today=today + timedelta(days=6)) == 1  # risk, now near


def test_no_deadline_event_for_a_complete_campaign(world, published):
    CampaignTeamStatus.objects.filter(campaign=world.mon).update(status="meeting", value=4, gap=0)
    Campaign.objects.filter(pk=world.mon.pk).update(due=timezone.localdate())
    assert campaign_deadlines_notify() == 0
    world.mon.refresh_from_db()
    assert world.mon.deadline_notified_at is None


def test_the_command_recomputes_every_active_campaign_or_one(world):
    CampaignTeamStatus.objects.filter(campaign=world.mon).delete()
    out = StringIO()
    call_command("campaign_progress", stdout=out)
    text = out.getvalue()
    assert "Monitoring for all): 1 meeting, 1 not meeting, 0 not yet assessed of 2" in text
    assert "2 campaign(s) recomputed." in text
    assert CampaignTeamStatus.objects.filter(campaign=world.mon).count() == 2
    out = StringIO()
    call_command("campaign_progress", "--campaign", str(world.risk_campaign.pk), stdout=out)
    assert "1 campaign(s) recomputed." in out.getvalue()
    with pytest.raises(CommandError, match="No campaign with id 424242"):
        call_command("campaign_progress", "--campaign", "424242")


def test_the_daily_task_refreshes_and_notifies(
    world, published, settings, django_capture_on_commit_callbacks
):
    from reports.tasks import campaigns_daily

    Campaign.objects.filter(pk=world.risk_campaign.pk).update(due=timezone.localdate())
    world.loans.archived_at = timezone.now()
    world.loans.save()
    # Refreshed first: risk has no team left, which is no success: the lead is told.
    with django_capture_on_commit_callbacks(execute=True):
        assert campaigns_daily() == {"refreshed": 2, "deadline_near": 1}
    assert not CampaignTeamStatus.objects.filter(campaign=world.risk_campaign).exists()
    assert published[-1][1]["campaign"]["meeting"] == 0
    Campaign.objects.filter(pk=world.mon.pk).update(due=timezone.localdate())
    assert campaigns_daily() == {"refreshed": 2, "deadline_near": 1}
    assert "campaigns-daily" in settings.CELERY_BEAT_SCHEDULE
