"""/api/v1/campaigns/: who reads and writes what, bad input as 400s, and the progress."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import Campaign, CampaignTeamStatus

pytestmark = pytest.mark.django_db

API = "/api/v1/campaigns/"


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def future(days: int = 60) -> str:
    return (timezone.localdate() + timedelta(days=days)).isoformat()


def body(**change) -> dict:
    data = {
        "title": "Drift detection everywhere",
        "parent": "platform",
        "goal_kind": "dimension",
        "goal_key": "monitoring-feedback",
        "goal_minimum": 3,
        "due": future(),
    }
    data.update(change)
    return {k: v for k, v in data.items() if v is not None}


def test_a_lead_creates_a_campaign_and_its_progress_is_computed_after_the_commit(
    world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(world.lead).post(API, body(), format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["framework"] == "mlops" and data["framework_version"] == 1
    assert data["goal"] == "Level 3 (Managed) or higher in Production monitoring and feedback"
    assert data["url"].endswith(f"/campaigns/{data['id']}/")
    progress = as_user(world.admin).get(f"{API}{data['id']}/progress/").json()
    assert progress["computed_at"] is not None
    assert {t["slug"]: (t["status"], t["value"], t["gap"]) for t in progress["teams"]} == {
        "recsys": ("meeting", 3, 0),
        "fraud": ("not_meeting", 1, 2),
    }
    assert (progress["meeting"], progress["not_meeting"], progress["not_assessed"]) == (1, 1, 0)
    assert progress["burnup"] == [
        {
            "survey": world.survey.pk,
            "title": "Q1 review",
            "opens_at": progress["burnup"][0]["opens_at"],
            "closes_at": progress["burnup"][0]["closes_at"],
            "meeting": 1,
            "total": 2,
        }
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"goal_key": "no-such-dimension"}, "goal_key"),
        ({"goal_minimum": 7}, "goal_minimum"),
        ({"goal_kind": "question", "goal_key": "monitoring-feedback"}, "goal_key"),
        ({"goal_kind": "team"}, "goal_kind"),
        ({"due": "2001-01-01"}, "due"),
        ({"due": "9999-12-31"}, "due"),
        ({"due": "not a date"}, "due"),
        ({"parent": "ghost"}, "parent"),
        ({"parent": "a\x00b"}, "parent"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "bad \ud800 text"}, "title"),
        ({"framework": "nope"}, "framework"),
        ({"framework": "mlops", "framework_version": 99}, "framework"),
        ({"framework_version": 1}, "framework"),
        ({"goal_minimum": -1}, "goal_minimum"),
        ({"goal_minimum": "three"}, "goal_minimum"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(world, change, field):
    raw = json.dumps(body(**change))  # ASCII JSON: a lone surrogate travels escaped
    response = as_user(world.admin).post(API, raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Campaign.objects.filter(title="Drift detection everywhere").exists()


def test_an_archived_parent_and_a_question_choice_out_of_range_are_refused(world):
    world.risk.archived_at = timezone.now()
    world.risk.save()
    response = as_user(world.admin).post(API, body(parent="risk"), format="json")
    assert response.status_code == 400 and "archived" in response.json()["parent"][0]
    key = world.survey.framework.questions.order_by("order").first().key
    response = as_user(world.admin).post(
        API, body(goal_kind="question", goal_key=key, goal_minimum=5), format="json"
    )
    assert response.status_code == 400
    assert response.json()["goal_minimum"] == [
        "Choose one of the question's choices: 0, 1, 2, 3, 4."
    ]


def test_a_question_goal_is_created_with_its_framework(world):
    key = world.survey.framework.questions.order_by("order").first().key
    response = as_user(world.admin).post(
        API,
        body(goal_kind="question", goal_key=key, goal_minimum=3, framework="mlops"),
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["goal"].startswith("Choice 3 (")


def test_only_admins_and_programme_leads_write(world):
    for name in ("maria", "alice"):
        response = as_user(getattr(world, name)).post(API, body(), format="json")
        assert response.status_code == 403, name
    response = as_user(world.maria).patch(f"{API}{world.mon.pk}/", {"title": "x"}, format="json")
    assert response.status_code == 403  # she reads it, may not change it
    response = as_user(world.olga).patch(f"{API}{world.mon.pk}/", {"title": "x"}, format="json")
    assert response.status_code == 404  # she cannot read it at all
    assert (
        as_user(world.admin).put(f"{API}{world.mon.pk}/", body(), format="json").status_code == 405
    )


def test_patch_changes_fields_archives_and_revalidates(world):
    client = as_user(world.lead)
    response = client.patch(
        f"{API}{world.mon.pk}/", {"goal_minimum": 4, "title": "Higher"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["goal_minimum"] == 4 and response.json()["title"] == "Higher"
    response = client.patch(f"{API}{world.mon.pk}/", {"goal_minimum": 9}, format="json")
    assert response.status_code == 400 and "goal_minimum" in response.json()
    response = client.patch(f"{API}{world.mon.pk}/", {"archived": True}, format="json")
    assert response.status_code == 200 and response.json()["archived"] is True
    assert Campaign.objects.get(pk=world.mon.pk).archived_at is not None
    listed = client.get(API, {"archived": "false"}).json()["results"]
    assert world.mon.pk not in [c["id"] for c in listed]
    assert client.get(API, {"archived": "maybe"}).status_code == 400


def test_patching_an_old_due_date_keeps_it_but_a_new_one_must_not_be_past(world):
    Campaign.objects.filter(pk=world.mon.pk).update(due=timezone.localdate() - timedelta(days=5))
    client = as_user(world.admin)
    assert (
        client.patch(f"{API}{world.mon.pk}/", {"title": "Still"}, format="json").status_code == 200
    )
    response = client.patch(f"{API}{world.mon.pk}/", {"due": "2020-01-01"}, format="json")
    assert response.status_code == 400 and "due" in response.json()


def test_readers_list_only_the_campaigns_covering_their_teams(world):
    def titles(user) -> set[str]:
        return {c["title"] for c in as_user(user).get(API).json()["results"]}

    assert titles(world.admin) == {"Monitoring for all", "Risk monitoring"}
    assert titles(world.lead) == {"Monitoring for all", "Risk monitoring"}
    assert titles(world.maria) == {"Monitoring for all"}
    assert titles(world.alice) == {"Monitoring for all"}
    assert titles(world.olga) == {"Risk monitoring"}
    assert titles(world.nobody) == set()
    assert as_user(world.nobody).get(f"{API}{world.mon.pk}/").status_code == 404
    assert APIClient().get(API).status_code == 403


def test_progress_shows_only_the_teams_the_reader_may_read(world):
    def progress(user) -> dict:
        response = as_user(user).get(f"{API}{world.mon.pk}/progress/")
        assert response.status_code == 200
        return response.json()

    everything = progress(world.admin)
    assert [t["slug"] for t in everything["teams"]] == ["fraud", "recsys"]
    mine = progress(world.alice)
    assert [t["slug"] for t in mine["teams"]] == ["recsys"]
    assert (mine["meeting"], mine["not_meeting"], mine["not_assessed"]) == (1, 0, 0)
    assert [(p["meeting"], p["total"]) for p in mine["burnup"]] == [(1, 1)]
    theirs = progress(world.ines)
    assert [(t["slug"], t["status"], t["gap"]) for t in theirs["teams"]] == [
        ("fraud", "not_meeting", 1)
    ]
    assert [(p["meeting"], p["total"]) for p in theirs["burnup"]] == [(0, 1)]
    assert as_user(world.olga).get(f"{API}{world.mon.pk}/progress/").status_code == 404


def test_a_withheld_team_is_never_revealed_over_the_api(world, framework):
    from tests.campaign_world import MONITORING, dimension_answers, scored_round
    from tests.factories import TeamFactory

    secret = TeamFactory(slug="secret", name="Secret", parent=world.platform)
    scored_round(
        framework,
        {secret: [dimension_answers(framework, MONITORING, 4)] * 2},  # 2 < k = 3
        title="Anonymous",
        days_ago=2,
        anonymous=True,
    )
    response = as_user(world.admin).get(f"{API}{world.mon.pk}/progress/").json()
    row = next(t for t in response["teams"] if t["slug"] == "secret")
    assert row == {
        "slug": "secret",
        "name": "Secret",
        "status": "withheld",
        "value": None,
        "gap": None,
        "survey": row["survey"],
    }
    assert (response["not_assessed"], response["withheld"]) == (1, 1)
    stored = CampaignTeamStatus.objects.get(campaign=world.mon, team=secret)
    assert stored.value is None and stored.gap is None


def test_unknown_and_huge_ids_are_404s(world):
    client = as_user(world.admin)
    assert client.get(f"{API}999999/").status_code == 404
    assert client.get(f"{API}99999999999999999999999/progress/").status_code == 404
    assert client.get(f"{API}abc/").status_code == 404
