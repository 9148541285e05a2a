"""Campaign management in the lead's console (/manage/campaigns/): forms with bad input
answer 400 with the field's message, never a 500; only those who run the programme."""

from __future__ import annotations

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.utils import timezone

from campaigns.models import Campaign

pytestmark = pytest.mark.django_db


def form(**change) -> dict:
    data = {
        "title": "Monitoring at level 3",
        "description": "Because incidents.",
        "parent": "platform",
        "goal_kind": "dimension",
        "goal_key": "monitoring-feedback",
        "goal_minimum": "3",
        "framework": "",
        "due": (timezone.localdate() + timedelta(days=30)).isoformat(),
    }
    data.update(change)
    return data


def errors_of(response) -> str:
    return response.content.decode()


def test_a_lead_creates_a_campaign_from_the_console(
    client, world, django_capture_on_commit_callbacks
):
    client.force_login(world.lead)
    assert client.get("/manage/campaigns/new/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/manage/campaigns/new/", form())
    campaign = Campaign.objects.get(title="Monitoring at level 3")
    assert response.status_code == 302 and response["Location"] == f"/campaigns/{campaign.pk}/"
    assert (campaign.dimension_key, campaign.min_level, campaign.question_key) == (
        "monitoring-feedback",
        3,
        "",
    )
    assert campaign.created_by == world.lead
    assert campaign.progress_computed_at is not None  # computed after the commit
    entry = LogEntry.objects.get_for_object(campaign).get()
    assert entry.actor is None or entry.actor == world.lead
    listing = client.get("/manage/campaigns/").content.decode()
    assert "Monitoring at level 3" in listing


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"goal_key": "no-such-thing"}, "There is no dimension &#x27;no-such-thing&#x27;"),
        ({"goal_minimum": "9"}, "Choose a level of"),
        ({"goal_minimum": "-1"}, "greater than or equal to 0"),
        ({"goal_minimum": "lots"}, "Enter a whole number"),
        ({"goal_kind": "question"}, "There is no question"),
        ({"goal_kind": "other"}, "Select a valid choice"),
        ({"due": "2001-02-03"}, "The due date cannot be in the past"),
        ({"due": "3000-01-01"}, "more than 10 years ahead"),
        ({"due": "31/31/2031"}, "Enter a valid date"),
        ({"parent": "ghost"}, "Select a valid choice"),
        ({"title": ""}, "This field is required"),
        ({"title": "x\x00y"}, "Null characters are not allowed"),
        ({"framework": "mlops:99"}, "Select a valid choice"),
        ({"goal_key": "not a slug!"}, "Enter a valid"),
    ],
)
def test_bad_input_is_a_form_error_never_a_500(client, world, change, message):
    client.force_login(world.admin)
    response = client.post("/manage/campaigns/new/", form(**change))
    assert response.status_code == 400
    assert message in errors_of(response)
    assert not Campaign.objects.filter(title="Monitoring at level 3").exists()


def test_an_archived_parent_is_not_offered_and_refused(client, world):
    world.risk.archived_at = timezone.now()
    world.risk.save()
    client.force_login(world.admin)
    response = client.post("/manage/campaigns/new/", form(parent="risk"))
    assert response.status_code == 400
    assert "Select a valid choice" in errors_of(response)


def test_edit_validates_and_saves_and_archive_toggles(client, world):
    client.force_login(world.lead)
    url = f"/manage/campaigns/{world.mon.pk}/"
    page = client.get(url)
    assert page.status_code == 200 and 'value="monitoring-feedback"' in page.content.decode()
    bad = client.post(url, form(goal_minimum="12"))
    assert bad.status_code == 400 and "Choose a level of" in errors_of(bad)
    ok = client.post(url, form(title="Renamed", goal_minimum="1"))
    assert ok.status_code == 302
    world.mon.refresh_from_db()
    assert (world.mon.title, world.mon.min_level) == ("Renamed", 1)
    changes = [entry.changes_dict for entry in LogEntry.objects.get_for_object(world.mon)]
    assert any("title" in change for change in changes)
    client.post(f"{url}archive/", {"action": "archive"})
    world.mon.refresh_from_db()
    assert world.mon.archived_at is not None
    client.post(f"{url}archive/", {"action": "unarchive"})
    world.mon.refresh_from_db()
    assert world.mon.archived_at is None


def test_a_past_due_date_may_stay_when_editing_other_fields(client, world):
    past = timezone.localdate() - timedelta(days=3)
    Campaign.objects.filter(pk=world.mon.pk).update(due=past)
    client.force_login(world.admin)
    response = client.post(f"/manage/campaigns/{world.mon.pk}/", form(due=past.isoformat()))
    assert response.status_code == 302


def test_the_console_is_for_leads_only_and_needs_csrf(client, world):
    client.force_login(world.maria)
    for url in (
        "/manage/campaigns/",
        "/manage/campaigns/new/",
        f"/manage/campaigns/{world.mon.pk}/",
    ):
        assert client.get(url).status_code == 403
    assert client.post(f"/manage/campaigns/{world.mon.pk}/archive/").status_code == 403
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(world.admin)
    assert strict.post("/manage/campaigns/new/", form()).status_code == 403
    assert not Campaign.objects.filter(title="Monitoring at level 3").exists()


def test_unknown_campaigns_are_404s(client, world):
    client.force_login(world.admin)
    assert client.get("/manage/campaigns/999999/").status_code == 404
    assert client.get("/manage/campaigns/99999999999999999999999/").status_code == 404
    assert client.post("/manage/campaigns/99999999999999999999999/archive/").status_code == 404
