"""The /api/v1/ endpoints: who sees what (404 when hidden), writes, scores, runs, errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from reports import services
from reports.authentication import api_token_create, api_token_revoke
from reports.models import AggregationRun, DimensionScore, TeamRecommendation, TeamScore
from surveys import services as survey_services
from surveys.models import Membership, Response, Survey, Team
from tests.conftest import api_answers, complete_answers
from tests.factories import MembershipFactory, SurveyFactory, TeamFactory

pytestmark = pytest.mark.django_db


def token_client(user) -> APIClient:
    _, key = api_token_create(user=user, name="test")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


@pytest.fixture
def clients(admin_user, manager, member, other_member):
    """One token-authenticated client per role, plus anonymous, expired and revoked."""
    expired, expired_key = api_token_create(user=admin_user, expires_in=timedelta(seconds=-1))
    revoked, revoked_key = api_token_create(user=admin_user)
    api_token_revoke(token=revoked)
    bad = {}
    for name, key in [("expired", expired_key), ("revoked", revoked_key)]:
        bad[name] = APIClient()
        bad[name].credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return {
        "admin": token_client(admin_user),
        "manager": token_client(manager),
        "member": token_client(member),
        "other_member": token_client(other_member),
        "anonymous": APIClient(),
        **bad,
    }


def submit(survey, team, user, score=2, **overrides):
    return survey_services.response_submit(
        survey=survey,
        team=team,
        respondent=user,
        respondent_key=survey_services.respondent_key_for(user, survey),
        answers=complete_answers(survey.framework, score, **overrides),
    ).response


@pytest.fixture
def scored(survey, team, other_team, member, manager, other_member):
    """Two teams with answers (two respondents in ``team``), scored and persisted."""
    submit(survey, team, member, 3)
    submit(survey, team, manager, 1)
    submit(survey, other_team, other_member, 2)
    services.aggregate(survey=survey)
    return survey


def slugs(body) -> list[str]:
    return [row["team"] for row in body["results"]]


# --- permissions on every read endpoint ------------------------------------------------------


def read_urls(survey) -> dict[str, str]:
    run = AggregationRun.objects.order_by("pk").first()
    return {
        "frameworks": "/api/v1/frameworks/",
        "framework": f"/api/v1/frameworks/{survey.framework.slug}/",
        "teams": "/api/v1/teams/",
        "team": "/api/v1/teams/recsys/",
        "memberships": "/api/v1/memberships/",
        "surveys": "/api/v1/surveys/",
        "survey": f"/api/v1/surveys/{survey.pk}/",
        "scores": f"/api/v1/surveys/{survey.pk}/scores/",
        "recommendations": f"/api/v1/surveys/{survey.pk}/recommendations/",
        "runs": "/api/v1/aggregation-runs/",
        "run": f"/api/v1/aggregation-runs/{run.pk}/",
        "export_answers": f"/api/v1/exports/answers/?survey={survey.pk}",
        "export_scores": f"/api/v1/exports/scores/?survey={survey.pk}",
    }


# Expected status per role; the team "recsys" is the member's and the manager's team, and
# the first run is survey-wide (admins only).
EXPECTED = {
    "frameworks": {"admin": 200, "manager": 200, "member": 200, "other_member": 200},
    "framework": {"admin": 200, "manager": 200, "member": 200, "other_member": 200},
    "teams": {"admin": 200, "manager": 200, "member": 200, "other_member": 200},
    "team": {"admin": 200, "manager": 200, "member": 200, "other_member": 404},
    "memberships": {"admin": 200, "manager": 200, "member": 200, "other_member": 200},
    "surveys": {"admin": 200, "manager": 200, "member": 200, "other_member": 200},
    "survey": {"admin": 200, "manager": 200, "member": 200, "other_member": 200},
    "scores": {"admin": 200, "manager": 200, "member": 200, "other_member": 200},
    "recommendations": {"admin": 200, "manager": 200, "member": 200, "other_member": 200},
    "runs": {"admin": 200, "manager": 200, "member": 200, "other_member": 200},
    "run": {"admin": 200, "manager": 404, "member": 404, "other_member": 404},
    "export_answers": {"admin": 200, "manager": 403, "member": 403, "other_member": 403},
    "export_scores": {"admin": 200, "manager": 403, "member": 403, "other_member": 403},
}


@pytest.mark.parametrize("endpoint", sorted(EXPECTED))
def test_every_read_endpoint_answers_each_role_as_designed(scored, clients, endpoint):
    url = read_urls(scored)[endpoint]
    for role, expected in EXPECTED[endpoint].items():
        response = clients[role].get(url)
        assert response.status_code == expected, (role, response.content[:300])
        if expected != 200:
            assert response.json()["code"] in {"not_found", "permission_denied"}
    assert clients["anonymous"].get(url).json()["code"] == "not_authenticated"
    assert clients["anonymous"].get(url).status_code == 403
    for role, code in [("expired", "token_expired"), ("revoked", "token_revoked")]:
        response = clients[role].get(url)
        assert response.status_code == 401
        assert response.json()["code"] == code


def test_lists_show_only_what_each_role_may_see(scored, clients, team, other_team):
    def team_slugs(role):
        return sorted(t["slug"] for t in clients[role].get("/api/v1/teams/").json()["results"])

    assert team_slugs("admin") == ["fraud", "recsys"]
    assert team_slugs("member") == ["recsys"]
    assert team_slugs("other_member") == ["fraud"]

    def users(role):
        body = clients[role].get("/api/v1/memberships/").json()
        return sorted(m["user"] for m in body["results"])

    assert users("admin") == ["alice", "ines", "maria"]
    assert users("manager") == ["alice", "maria"]  # the team they manage
    assert users("member") == ["alice"]  # only their own membership

    assert slugs(clients["admin"].get(f"/api/v1/surveys/{scored.pk}/scores/").json()) == [
        "fraud",
        "recsys",
    ]
    assert slugs(clients["member"].get(f"/api/v1/surveys/{scored.pk}/scores/").json()) == ["recsys"]
    assert slugs(clients["manager"].get(f"/api/v1/surveys/{scored.pk}/scores/").json()) == [
        "recsys"
    ]
    assert slugs(clients["other_member"].get(f"/api/v1/surveys/{scored.pk}/scores/").json()) == [
        "fraud"
    ]


def test_hidden_surveys_and_teams_are_404(scored, clients, framework):
    hidden = SurveyFactory(framework=framework, teams=[TeamFactory(slug="hidden")])
    for url in [
        f"/api/v1/surveys/{hidden.pk}/",
        f"/api/v1/surveys/{hidden.pk}/scores/",
        f"/api/v1/surveys/{hidden.pk}/recommendations/",
        "/api/v1/teams/hidden/",
    ]:
        response = clients["member"].get(url)
        assert response.status_code == 404, url
        assert response.json()["code"] == "not_found"
    response = clients["member"].post(f"/api/v1/surveys/{hidden.pk}/aggregate/", {})
    assert response.status_code == 404
    response = clients["member"].get(f"/api/v1/surveys/{scored.pk}/scores/?team=fraud")
    assert response.status_code == 404
    draft = SurveyFactory(framework=framework, teams=[Team.objects.get(slug="recsys")])
    draft.status = Survey.Status.DRAFT
    draft.save()
    assert clients["member"].get(f"/api/v1/surveys/{draft.pk}/").status_code == 404
    assert clients["admin"].get(f"/api/v1/surveys/{draft.pk}/").status_code == 200
    # admins look surveys up with one plain statement: unknown and out-of-range ids are 404
    for survey_id in (hidden.pk + 1000, 2**63, 10**40):
        for page in ("scores", "recommendations"):
            response = clients["admin"].get(f"/api/v1/surveys/{survey_id}/{page}/")
            assert response.status_code == 404, (survey_id, page)
            assert response.json()["code"] == "not_found"


def test_members_see_no_results_when_the_survey_says_so(scored, clients):
    scored.members_see_results = False
    scored.save()
    assert slugs(clients["member"].get(f"/api/v1/surveys/{scored.pk}/scores/").json()) == []
    assert slugs(clients["manager"].get(f"/api/v1/surveys/{scored.pk}/scores/").json()) == [
        "recsys"
    ]


# --- scores and recommendations ----------------------------------------------------------


def test_scores_are_the_persisted_snapshot(scored, clients, team):
    body = clients["admin"].get(f"/api/v1/surveys/{scored.pk}/scores/?team=recsys").json()
    assert body["next"] is None
    [row] = body["results"]
    stored = TeamScore.objects.get(survey=scored, team=team)
    assert row["team"] == "recsys"
    assert row["withheld"] is False
    assert row["score"] == stored.score
    assert row["level"] == stored.level
    assert row["n_respondents"] == 2
    assert row["weakest_dimension"] == stored.weakest_dimension.key
    dimensions = list(DimensionScore.objects.filter(team_score=stored).order_by("dimension__order"))
    assert [d["dimension"] for d in row["dimensions"]] == [d.dimension.key for d in dimensions]
    for api_row, db_row in zip(row["dimensions"], dimensions, strict=True):
        assert api_row["score"] == db_row.score
        assert api_row["level"] == db_row.level
        assert api_row["disagreement"] == db_row.disagreement
        assert api_row["answered_ratio"] == db_row.answered_ratio
    # two respondents answering 3 and 1 of 4 everywhere: 50 points, disagreement 0.25
    assert row["score"] == pytest.approx(50.0)
    assert row["dimensions"][0]["disagreement"] == pytest.approx(0.25)


def test_recommendations_are_ranked_as_persisted(scored, clients, team):
    body = clients["member"].get(f"/api/v1/surveys/{scored.pk}/recommendations/").json()
    [row] = body["results"]
    stored = list(
        TeamRecommendation.objects.filter(team_score__team=team)
        .order_by("rank")
        .values_list("rank", "question__key", "text")
    )
    assert row["team"] == "recsys"
    assert [(r["rank"], r["question"], r["text"]) for r in row["recommendations"]] == stored
    assert len(stored) == scored.framework.questions.count()


def test_withheld_teams_show_no_scores(scored, clients):
    scored.anonymous = True
    scored.min_group_size = 2
    scored.save()
    # Open: an anonymous survey's results are released when it closes.
    rows = clients["admin"].get(f"/api/v1/surveys/{scored.pk}/scores/").json()["results"]
    assert [row["reason"] for row in rows] == ["survey_open", "survey_open"]
    assert all(row["withheld"] and "dimensions" not in row for row in rows)
    scored.status = "closed"
    scored.save()
    rows = clients["admin"].get(f"/api/v1/surveys/{scored.pk}/scores/").json()["results"]
    assert rows[0] == rows_withheld("fraud", 1, 2)
    assert rows[1]["team"] == "recsys"
    assert rows[1]["withheld"] is False
    assert rows[1]["dimensions"]
    rows = clients["admin"].get(f"/api/v1/surveys/{scored.pk}/recommendations/").json()
    assert rows["results"][0] == rows_withheld("fraud", 1, 2)
    assert "recommendations" not in rows["results"][0]


def rows_withheld(slug, n, k, reason="too_few_respondents"):
    return {
        "team": slug,
        "withheld": True,
        "reason": reason,
        "n_respondents": n,
        "min_group_size": k,
    }


def test_scores_paginate_with_a_cursor(survey, clients, framework, admin_user):
    teams = [TeamFactory(slug=f"t{i:02d}") for i in range(5)]
    survey.teams.add(*teams)
    for index, team in enumerate(teams):
        user = MembershipFactory(team=team, user__username=f"u{index}").user
        submit(survey, team, user, index % 5)
    services.aggregate(survey=survey)
    seen = []
    url = f"/api/v1/surveys/{survey.pk}/scores/?page_size=2"
    while url:
        body = clients["admin"].get(url).json()
        assert len(body["results"]) <= 2
        seen += slugs(body)
        url = body["next"]
    assert seen == sorted(["fraud", "recsys", *(t.slug for t in teams)])
    response = clients["admin"].get(f"/api/v1/surveys/{survey.pk}/scores/?cursor=garbage")
    assert response.status_code == 400
    assert response.json() == {"cursor": ["Invalid cursor."]}


def test_cached_score_pages_follow_new_snapshots_and_renames(scored, clients, team, member):
    url = f"/api/v1/surveys/{scored.pk}/scores/?team={team.slug}"
    first = clients["admin"].get(url)
    [row] = first.json()["results"]
    assert row["score"] == pytest.approx(50.0)
    # unchanged: the same page from the cache (no read of the snapshot rows), and a
    # client holding its ETag gets a 304 without a body
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        again = clients["admin"].get(url)
    assert again.content == first.content and again["ETag"] == first["ETag"]
    assert not [q for q in queries if "reports_dimensionscore" in q["sql"]]
    not_modified = clients["admin"].get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert not_modified.status_code == 304 and not_modified.content == b""
    # a new snapshot is served at once
    submit(scored, team, member, 4)
    services.aggregate(survey=scored, team_ids=[team.pk])
    [row] = clients["admin"].get(url).json()["results"]
    stored = TeamScore.objects.get(survey=scored, team=team)
    assert row["score"] == stored.score != pytest.approx(50.0)
    assert clients["admin"].get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 200
    # so is a renamed team
    team.name = "Recommendations (renamed)"
    team.save()
    [row] = clients["admin"].get(url).json()["results"]
    assert row["team_name"] == "Recommendations (renamed)"
    # a team taken out of the survey is no longer found by slug
    scored.teams.remove(team)
    assert clients["admin"].get(url).status_code == 404
    scored.teams.add(team)
    # and a survey turned anonymous with a group size above the team's respondents
    Survey.objects.filter(pk=scored.pk).update(anonymous=True, min_group_size=5)
    [row] = clients["admin"].get(url).json()["results"]
    assert row["withheld"] is True


def test_cached_pages_are_per_reader(scored, clients, team, other_team):
    url = f"/api/v1/surveys/{scored.pk}/scores/"
    assert set(slugs(clients["admin"].get(url).json())) == {team.slug, other_team.slug}
    assert slugs(clients["member"].get(url).json()) == [team.slug]
    assert slugs(clients["other_member"].get(url).json()) == [other_team.slug]


def test_score_pages_are_served_when_the_cache_is_down(scored, clients, team, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    }
    response = clients["admin"].get(f"/api/v1/surveys/{scored.pk}/scores/?team={team.slug}")
    assert response.status_code == 200
    assert response.json()["results"][0]["score"] == pytest.approx(50.0)


# --- aggregation -------------------------------------------------------------------------


def test_admin_triggers_aggregation_and_polls_the_run(survey, team, member, clients):
    submit(survey, team, member, 4)
    response = clients["admin"].post(f"/api/v1/surveys/{survey.pk}/aggregate/", {})
    assert response.status_code == 202
    run_id = response.json()["id"]
    assert response["Location"] == f"/api/v1/aggregation-runs/{run_id}/"
    run = clients["admin"].get(f"/api/v1/aggregation-runs/{run_id}/").json()
    assert run["status"] == "done"  # eager Celery in unit tests
    assert run["teams_scored"] == 2
    assert run["team"] is None
    assert TeamScore.objects.get(survey=survey, team=team).score == pytest.approx(100.0)

    response = clients["admin"].post(
        f"/api/v1/surveys/{survey.pk}/aggregate/", {"team": "recsys"}, format="json"
    )
    assert response.status_code == 202
    assert response.json()["team"] == "recsys"
    # the manager now sees the team's run, not the survey-wide one
    listed = clients["manager"].get("/api/v1/aggregation-runs/").json()["results"]
    assert [r["team"] for r in listed] == ["recsys"] * len(listed)
    assert len(listed) >= 1


def test_aggregation_is_for_admins_and_checks_the_team(survey, clients):
    response = clients["member"].post(f"/api/v1/surveys/{survey.pk}/aggregate/", {})
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    response = clients["admin"].post(
        f"/api/v1/surveys/{survey.pk}/aggregate/", {"team": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"team": ["Team 'nope' is not part of this survey."]}
    assert not AggregationRun.objects.exists()


# --- writes: surveys, teams, memberships --------------------------------------------------


def test_admin_creates_opens_and_closes_a_survey(
    clients, framework, team, other_team, django_capture_on_commit_callbacks
):
    payload = {
        "title": "Q1",
        "framework": framework.slug,
        "teams": ["recsys", "fraud"],
        "anonymous": True,
        "min_group_size": 4,
    }
    response = clients["admin"].post("/api/v1/surveys/", payload, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "draft"
    assert body["framework_version"] == framework.version
    assert sorted(body["teams"]) == ["fraud", "recsys"]
    survey = Survey.objects.get(pk=body["id"])
    assert survey.anonymous and survey.min_group_size == 4

    response = clients["admin"].post(f"/api/v1/surveys/{survey.pk}/open/")
    assert response.status_code == 200
    assert response.json()["status"] == "open"
    assert clients["member"].post(f"/api/v1/surveys/{survey.pk}/close/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = clients["admin"].post(f"/api/v1/surveys/{survey.pk}/close/")
    assert response.json()["status"] == "closed"
    assert AggregationRun.objects.filter(survey=survey, trigger="survey closed").exists()


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"title": "x"}, {"framework": ["This field is required."]}),
        ({"title": "x", "framework": "nope"}, {"framework": ["No such published framework"]}),
        ({"title": "x", "framework": "mlops", "framework_version": 99}, {"framework": ["No such"]}),
        (
            {"title": "x", "framework": "mlops", "teams": ["ghost"]},
            {"teams": ["Object with slug=ghost does not exist."]},
        ),
        (
            {
                "title": "x",
                "framework": "mlops",
                "opens_at": "2030-01-02T00:00:00Z",
                "closes_at": "2030-01-01T00:00:00Z",
            },
            {"closes_at": ["Must be after opens_at (the closing time after the opening)."]},
        ),
        (
            {"title": "x", "framework": "mlops", "min_group_size": 0},
            {"min_group_size": ["Ensure this value is greater than or equal to 1."]},
        ),
        ({"framework": "mlops"}, {"title": ["This field is required."]}),
    ],
)
def test_survey_field_errors(clients, framework, team, payload, errors):
    response = clients["admin"].post("/api/v1/surveys/", payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert set(body) == set(errors)
    for field, messages in errors.items():
        assert body[field][0].startswith(messages[0]), body
    assert not Survey.objects.exists()


def test_survey_rules_are_enforced_once_it_has_responses(scored, clients):
    url = f"/api/v1/surveys/{scored.pk}/"
    response = clients["admin"].patch(url, {"anonymous": True}, format="json")
    assert response.status_code == 400
    assert response.json() == {"anonymous": ["The survey has responses: anonymity is fixed."]}
    response = clients["admin"].patch(url, {"teams": ["recsys"]}, format="json")
    assert response.json() == {"teams": ["Teams with responses cannot be removed: ['fraud']."]}
    response = clients["admin"].patch(url, {"title": "Renamed"}, format="json")
    assert response.status_code == 200
    assert response.json()["title"] == "Renamed"
    assert clients["member"].patch(url, {"title": "Mine"}, format="json").status_code == 403
    scored.refresh_from_db()
    assert scored.title == "Renamed"


def test_opening_a_survey_without_teams_is_a_rule_violation(clients, framework):
    response = clients["admin"].post(
        "/api/v1/surveys/", {"title": "Empty", "framework": framework.slug}, format="json"
    )
    response = clients["admin"].post(f"/api/v1/surveys/{response.json()['id']}/open/")
    assert response.status_code == 400
    assert response.json()["code"] == "no_teams"


def test_admin_manages_teams_and_memberships(clients, team, member, other_member):
    response = clients["admin"].post(
        "/api/v1/teams/", {"slug": "vision", "name": "Vision", "parent": "recsys"}, format="json"
    )
    assert response.status_code == 201
    assert Team.objects.get(slug="vision").parent == team
    response = clients["admin"].patch("/api/v1/teams/recsys/", {"parent": "vision"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"parent": ["A team cannot be its own ancestor."]}
    response = clients["admin"].post("/api/v1/teams/", {"slug": "vision", "name": "Again"})
    assert response.json() == {"slug": ["team with this slug already exists."]}
    assert clients["member"].post("/api/v1/teams/", {"slug": "x", "name": "X"}).status_code == 403
    assert clients["member"].patch("/api/v1/teams/recsys/", {"name": "X"}).status_code == 403
    assert clients["member"].patch("/api/v1/teams/fraud/", {"name": "X"}).status_code == 404

    payload = {"user": "ines", "team": "vision", "role": "manager"}
    response = clients["admin"].post("/api/v1/memberships/", payload, format="json")
    assert response.status_code == 201
    assert Membership.objects.get(user=other_member, team__slug="vision").role == "manager"
    response = clients["admin"].post("/api/v1/memberships/", payload, format="json")
    assert response.status_code == 400
    assert "unique" in str(response.json()["non_field_errors"])
    response = clients["admin"].post(
        "/api/v1/memberships/", {"user": "ghost", "team": "vision", "role": "boss"}, format="json"
    )
    assert set(response.json()) == {"user", "role"}
    membership = Membership.objects.get(user=member)
    assert clients["member"].delete(f"/api/v1/memberships/{membership.pk}/").status_code == 403
    assert clients["admin"].delete(f"/api/v1/memberships/{membership.pk}/").status_code == 204


def test_frameworks_are_read_with_their_content(clients, framework):
    body = clients["member"].get("/api/v1/frameworks/").json()
    assert [f["slug"] for f in body["results"]] == [framework.slug]
    assert body["results"][0]["question_count"] == framework.questions.count()
    detail = clients["member"].get(f"/api/v1/frameworks/{framework.slug}/").json()
    assert detail["version"] == framework.version
    assert len(detail["dimensions"]) == framework.dimensions.count()
    question = detail["dimensions"][0]["questions"][0]
    assert [c["score"] for c in question["choices"]] == [0, 1, 2, 3, 4]
    assert clients["member"].get(f"/api/v1/frameworks/{framework.slug}/?version=abc").json() == {
        "version": ["A valid integer is required."]
    }
    response = clients["member"].get(f"/api/v1/frameworks/{framework.slug}/?version=99")
    assert response.status_code == 404


# --- submissions through tokens ---------------------------------------------------------


def test_submission_with_a_token_is_idempotent(survey, team, member, clients, framework):
    payload = {"team": team.slug, "answers": api_answers(framework, 2)}
    url = f"/api/v1/surveys/{survey.pk}/responses/"
    first = clients["member"].post(url, payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = clients["member"].post(url, payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Response.objects.filter(status="submitted").count() == 1
    assert Response.objects.get().respondent == member
    assert clients["expired"].post(url, payload, format="json").status_code == 401
    assert clients["other_member"].post(url, payload, format="json").status_code == 403


def test_errors_are_json_with_codes(clients, survey):
    response = clients["admin"].get("/api/v1/surveys/999999/")
    assert response.status_code == 404
    assert response.json() == {"detail": "No Survey matches the given query.", "code": "not_found"}
    response = clients["admin"].post(
        "/api/v1/surveys/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    response = clients["admin"].delete(f"/api/v1/surveys/{survey.pk}/")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    response = clients["admin"].get("/api/v1/aggregation-runs/?survey=abc")
    assert response.status_code == 400
    assert response.json() == {
        "survey": ["Select a valid choice. That choice is not one of the available choices."]
    }
    # values the database cannot store are refused before any query (found by schemathesis)
    response = clients["admin"].get("/api/v1/memberships/?team=a%00b")
    assert response.status_code == 400
    assert list(response.json()) == ["team"]
    response = clients["admin"].post(
        "/api/v1/memberships/", {"user": "a\x00", "team": "recsys"}, format="json"
    )
    assert response.json() == {"user": ["Invalid value."]}
    for url in ["/api/v1/nothing-here/", f"/api/v1/surveys/-{survey.pk}/scores/"]:
        response = clients["admin"].get(url)
        assert response.status_code == 404
        assert response.json() == {"detail": "No such API endpoint.", "code": "not_found"}


def test_schema_and_swagger_ui_are_served_without_a_cdn(client):
    schema = client.get("/api/schema/?format=json").json()
    assert schema["openapi"].startswith("3.")
    assert "tokenAuth" in schema["components"]["securitySchemes"]
    assert "/api/v1/exports/answers/" in schema["paths"]
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    # the UI's set-up script is a same-origin file: the CSP allows no inline scripts
    assert "<script>" not in html
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert b"SwaggerUIBundle" in script.content
