"""The campaign pages (/campaigns/, /campaigns/<id>/), the team report's Campaigns section
and the menu link: who reads what, escaping, and bad query strings."""

from __future__ import annotations

import json
import re

import pytest
from django.utils import timezone

from campaigns.services import CampaignInput, campaign_update
from reports.campaign_progress import campaign_progress_refresh

pytestmark = pytest.mark.django_db


def teams_in(response) -> list[str]:
    body = response.content.decode()
    table = body.split('data-testid="campaign-teams"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<tr data-status="[a-z_]+">\s*<th scope="row">(?:<a [^>]*>)?([^<]+)<', table)


def test_an_admin_reads_every_campaign_and_every_team(client, world):
    client.force_login(world.admin)
    listing = client.get("/campaigns/")
    assert listing.status_code == 200
    assert "Monitoring for all" in listing.content.decode()
    assert "Risk monitoring" in listing.content.decode()
    page = client.get(f"/campaigns/{world.mon.pk}/")
    assert page.status_code == 200
    assert teams_in(page) == ["Fraud Detection", "Recommendations"]
    body = page.content.decode()
    assert "<strong>1 of 2</strong> teams meet the goal; 1 not yet; 0 not yet assessed" in body
    assert "Level 2 (Defined) or higher in Production monitoring and feedback" in body


def test_a_programme_lead_reads_every_campaign(client, world):
    client.force_login(world.lead)
    assert client.get(f"/campaigns/{world.risk_campaign.pk}/").status_code == 200
    assert teams_in(client.get(f"/campaigns/{world.mon.pk}/")) == [
        "Fraud Detection",
        "Recommendations",
    ]


def test_a_manager_reads_only_the_teams_they_manage(client, world):
    client.force_login(world.mia)  # manages recsys only
    page = client.get(f"/campaigns/{world.mon.pk}/")
    assert teams_in(page) == ["Recommendations"]
    body = page.content.decode()
    assert "Fraud Detection" not in body
    assert "<strong>1 of 1</strong> team meet the goal" in body
    data = json.loads(re.search(r'id="burnup-data"[^>]*>(.*?)</script>', body, re.S).group(1))
    assert data["meeting"] == [1] and data["total"] == [1]  # nothing about fraud
    assert client.get(f"/campaigns/{world.risk_campaign.pk}/").status_code == 404
    listing = client.get("/campaigns/").content.decode()
    assert "Monitoring for all" in listing and "Risk monitoring" not in listing


def test_a_manager_of_the_parent_reads_every_team_below_it(client, world):
    client.force_login(world.maria)
    assert teams_in(client.get(f"/campaigns/{world.mon.pk}/")) == [
        "Fraud Detection",
        "Recommendations",
    ]


def test_a_member_reads_only_their_teams_row(client, world):
    client.force_login(world.ines)
    page = client.get(f"/campaigns/{world.mon.pk}/")
    assert teams_in(page) == ["Fraud Detection"]
    assert "Recommendations" not in page.content.decode()
    client.force_login(world.olga)
    assert client.get(f"/campaigns/{world.mon.pk}/").status_code == 404


def test_someone_without_a_team_sees_no_campaign(client, world):
    client.force_login(world.nobody)
    assert client.get(f"/campaigns/{world.mon.pk}/").status_code == 404
    assert "There are no campaigns for your teams yet" in client.get("/campaigns/").content.decode()


def test_signed_out_visitors_are_sent_to_log_in(client, world):
    response = client.get(f"/campaigns/{world.mon.pk}/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_huge_or_unknown_id_is_a_404(client, world):
    client.force_login(world.admin)
    assert client.get("/campaigns/99999999999999999999999/").status_code == 404
    assert client.get("/campaigns/999999/").status_code == 404


def test_a_member_does_not_see_a_status_from_a_round_that_keeps_results_from_members(client, world):
    world.survey.members_see_results = False
    world.survey.save()
    client.force_login(world.alice)
    page = client.get(f"/campaigns/{world.mon.pk}/")
    body = page.content.decode()
    assert teams_in(page) == ["Recommendations"]
    assert "Not shared with members" in body
    assert "<strong>0 of 1</strong>" in body
    data = json.loads(re.search(r'id="burnup-data"[^>]*>(.*?)</script>', body, re.S).group(1))
    assert data["meeting"] == [0]
    client.force_login(world.mia)  # a manager still does
    assert "Meets the goal" in client.get(f"/campaigns/{world.mon.pk}/").content.decode()


def test_the_table_filters_sorts_and_refuses_bad_query_strings(client, world):
    client.force_login(world.admin)
    url = f"/campaigns/{world.mon.pk}/"
    assert teams_in(client.get(url, {"status": "meeting"})) == ["Recommendations"]
    assert teams_in(client.get(url, {"q": "fraud"})) == ["Fraud Detection"]
    assert teams_in(client.get(url, {"sort": "gap", "dir": "desc"})) == [
        "Fraud Detection",
        "Recommendations",
    ]
    assert teams_in(client.get(url, {"sort": "team", "dir": "desc"})) == [
        "Recommendations",
        "Fraud Detection",
    ]
    for bad in ({"status": "nonsense"}, {"sort": "x"}, {"page": "-1"}, {"q": "a\x00b"}):
        response = client.get(url, bad)
        assert response.status_code == 400, bad
        assert 'data-testid="query-errors"' in response.content.decode()
        assert teams_in(response) == ["Fraud Detection", "Recommendations"]


def test_user_text_is_escaped_in_the_page_and_the_chart_data(client, world):
    hostile = '</script><script>alert(1)</script> & "x"'
    campaign_update(world.mon, {"title": hostile, "description": hostile}, by=world.admin)
    world.survey.title = hostile
    world.survey.save()
    world.recsys.name = "<img src=x onerror=alert(1)>"
    world.recsys.save()
    client.force_login(world.admin)
    body = client.get(f"/campaigns/{world.mon.pk}/").content.decode()
    assert "<script>alert(1)" not in body
    assert "<img src=x" not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body
    raw = re.search(r'id="burnup-data"[^>]*>(.*?)</script>', body, re.S).group(1)
    assert "</script>" not in raw and "\\u003C/script\\u003E" in raw
    assert json.loads(raw)["rounds"] == [hostile]


def test_the_burn_up_table_and_chart_data_follow_the_rounds(client, world, framework):
    from tests.campaign_world import MONITORING, dimension_answers, scored_round

    later = scored_round(
        framework,
        {world.fraud: [dimension_answers(framework, MONITORING, 4)]},
        title="Q2 review",
        days_ago=3,
    )
    client.force_login(world.admin)
    body = client.get(f"/campaigns/{world.mon.pk}/").content.decode()
    data = json.loads(re.search(r'id="burnup-data"[^>]*>(.*?)</script>', body, re.S).group(1))
    assert data["rounds"] == ["Q1 review", later.title]
    assert (data["meeting"], data["total"]) == ([1, 2], [2, 2])
    assert 'data-testid="burnup"' in body


# --- the team report -----------------------------------------------------------------------


def campaigns_section(response) -> str:
    body = response.content.decode()
    if 'data-testid="team-campaigns"' not in body:
        return ""
    return body.split('data-testid="team-campaigns"', 1)[1].split("</section>", 1)[0]


def test_the_team_report_says_how_far_the_team_is(client, world):
    due = world.mon.due.strftime("%-d %B %Y")
    client.force_login(world.mia)
    recsys = campaigns_section(client.get("/reports/teams/recsys/"))
    assert "Monitoring for all" in recsys
    assert 'Recommendations <span class="ok-text">meets the goal</span>' in recsys
    assert f"due {due}" in recsys
    client.force_login(world.ines)
    fraud = " ".join(campaigns_section(client.get("/reports/teams/fraud/")).split())
    assert (
        'Fraud Detection is <span class="warn-text">1 level short</span> in Production monitoring'
        in fraud
    )


def test_a_team_not_yet_assessed_says_so_and_archived_campaigns_leave_the_report(client, world):
    from tests.factories import TeamFactory

    TeamFactory(slug="newbie", name="Newbie", parent=world.platform)
    campaign_progress_refresh(world.mon)
    client.force_login(world.admin)
    page = client.get(f"/campaigns/{world.mon.pk}/")
    assert "Newbie" in teams_in(page)
    section = campaigns_section(client.get("/reports/teams/recsys/"))
    assert "Monitoring for all" in section
    from campaigns.services import campaign_archive

    campaign_archive(world.mon, by=world.admin)
    assert campaigns_section(client.get("/reports/teams/recsys/")) == ""
    assert "was archived" in client.get(f"/campaigns/{world.mon.pk}/").content.decode()


def test_the_menu_offers_campaigns_to_those_who_may_read_one(client, world):
    link = '<a href="/campaigns/">Campaigns</a>'
    for name in ("admin", "lead", "maria", "alice"):
        client.force_login(getattr(world, name))
        assert link in client.get("/reports/").content.decode(), name
    client.force_login(world.nobody)
    assert link not in client.get("/").content.decode()


def test_a_new_campaign_shows_on_its_page_once_computed(
    client, world, django_capture_on_commit_callbacks
):
    from tests.campaign_world import make_campaign

    with django_capture_on_commit_callbacks(execute=True):
        campaign = make_campaign(world.platform, dimension="monitoring-feedback", level=4)
    client.force_login(world.admin)
    body = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "<strong>0 of 2</strong>" in body  # computed by the task the commit queued
    assert "Computed" in body


def test_days_left_and_overdue(client, world):
    from datetime import timedelta

    from campaigns.models import Campaign

    client.force_login(world.admin)
    Campaign.objects.filter(pk=world.mon.pk).update(due=timezone.localdate() + timedelta(days=45))
    assert "45 days left" in client.get(f"/campaigns/{world.mon.pk}/").content.decode()
    Campaign.objects.filter(pk=world.mon.pk).update(due=timezone.localdate() - timedelta(days=3))
    assert "3 days overdue" in client.get(f"/campaigns/{world.mon.pk}/").content.decode()


def test_the_input_dataclass_is_what_the_service_takes(world):
    data = CampaignInput.of(world.mon)
    assert data.goal_key == "monitoring-feedback" and data.goal_minimum == 2


def test_a_withheld_team_reads_not_yet_assessed_in_its_report(client, world, framework):
    from tests.campaign_world import MONITORING, dimension_answers, scored_round
    from tests.factories import MembershipFactory, TeamFactory

    secret = TeamFactory(slug="secret", name="Secret", parent=world.platform)
    boss = MembershipFactory(team=secret, user__username="boss", role="manager").user
    scored_round(
        framework,
        {secret: [dimension_answers(framework, MONITORING, 4)] * 2},  # 2 < k = 3
        title="Anonymous",
        days_ago=2,
        anonymous=True,
    )
    client.force_login(boss)
    section = " ".join(campaigns_section(client.get("/reports/teams/secret/")).split())
    assert "Secret is not yet assessed: its results are withheld" in section
    assert "level 4" not in section and "meets" not in section
