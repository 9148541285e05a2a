"""Question health (reports.health): computed by the worker from the counted answers of
the questions each team is asked, stored per survey, withheld for open anonymous surveys;
read by the admin-only API and page. Runs on SQLite and PostgreSQL alike."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from maturity.models import Question
from maturity.quality import cronbach_alpha
from maturity.schema import parse_framework
from maturity.services import framework_load
from reports import health, tasks
from reports.authentication import api_token_create
from reports.models import DimensionHealth, QuestionHealth
from surveys import services as survey_services
from surveys.models import Answer, Response, TeamProfile
from tests.factories import MembershipFactory, SurveyFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

DK, NA = "dont_know", "na"


def question(key: str, **extra) -> dict:
    return {
        "key": key,
        "text": f"How do you handle {key}?",
        "seed_refs": ["test"],
        "choices": [
            {"score": s, "label": f"Level {s}"} | ({"next_step": f"Reach {s + 1}"} if s < 4 else {})
            for s in range(5)
        ],
        **extra,
    }


@pytest.fixture
def health_framework(db):
    """Two dimensions: ``delivery`` holds a question for each flag (and none), ``ops`` two
    questions every respondent answers, for Cronbach's alpha."""
    spec = parse_framework(
        {
            "slug": "health",
            "version": 1,
            "title": "Question health test",
            "levels": [{"number": n, "name": f"L{n}", "threshold": 25 * n} for n in range(4)],
            "dimensions": [
                {
                    "key": "delivery",
                    "name": "Delivery",
                    "seed_refs": ["test"],
                    "questions": [
                        question("clear"),
                        question("same"),
                        question("murky"),
                        question("hidden"),
                        question("seen"),
                        question("optional", allow_na=True),
                        question("llm-only", applies_when={"model_kinds": ["llm-api"]}),
                    ],
                },
                {
                    "key": "ops",
                    "name": "Operations",
                    "seed_refs": ["test"],
                    "questions": [question("o1"), question("o2")],
                },
            ],
        }
    )
    return framework_load(spec=spec).framework


# Per team, its four respondents' answers (a score, NA or DK) to each question.
TEAM_ANSWERS = {
    "a": {
        "clear": [0, 0, 0, 0],
        "same": [2, 2, 2, 2],
        "murky": [0, 4, 1, 3],
        "hidden": [DK, 1, 1, 1],
        "seen": [DK, 2, 2, 3],
        "optional": [NA, 1, 1, 1],
        "llm-only": [3, 3, 3, 3],
        "o1": [0, 0, 1, 0],
        "o2": [0, 1, 0, 0],
    },
    "b": {
        "clear": [2, 2, 2, 2],
        "same": [2, 2, 2, 2],
        "murky": [0, 4, 1, 3],
        "hidden": [DK, 3, 3, 3],
        "seen": [2, 2, 2, 2],
        "optional": [NA, 3, 3, 3],
        "llm-only": [3, 3, 3, 3],
        "o1": [2, 2, 2, 3],
        "o2": [2, 2, 3, 2],
    },
    "c": {
        "clear": [4, 4, 4, 4],
        "same": [2, 2, 2, 2],
        "murky": [0, 4, 1, 3],
        "hidden": [DK, 2, 2, 2],
        "seen": [DK, 4, 4, 4],
        "optional": [NA, 2, 2, 2],
        # Out of scope for c (its profile has no LLM): stored, never counted.
        "llm-only": [0, 0, 0, 0],
        "o1": [4, 4, 3, 4],
        "o2": [4, 3, 4, 4],
    },
}


def respond(survey, team, key, answers: dict, status="submitted", **fields):
    """Store a response with its answers as a submission would (no scoring queued)."""
    now = timezone.now()
    response = Response.objects.create(
        survey=survey,
        team=team,
        respondent_key=key,
        status=status,
        submitted_at=None if status == "draft" else fields.pop("submitted_at", now),
        **fields,
    )
    questions = {q.key: q for q in survey.framework.questions.all()}
    Answer.objects.bulk_create(
        Answer(
            response=response,
            question=questions[question_key],
            score=value if isinstance(value, int) else None,
            na=value == NA,
            dont_know=value == DK,
        )
        for question_key, value in answers.items()
    )
    return response


@pytest.fixture(autouse=True)
def _three_teams_suffice(settings):
    """The rounds here have three teams; the shipped minimum for "ambiguous" is five
    (QUESTION_HEALTH_MIN_TEAMS, tested in tests/maturity/test_quality.py)."""
    settings.QUESTION_HEALTH_MIN_TEAMS = 3


@pytest.fixture
def round_of(health_framework):
    """Return ``make(**survey fields)``: a survey of three teams of four respondents who
    answered TEAM_ANSWERS; team c declares a classical (non-LLM) profile."""

    def make(sizes=None, **survey_fields):
        teams = {slug: TeamFactory(slug=f"health-{slug}") for slug in TEAM_ANSWERS}
        survey = SurveyFactory(framework=health_framework, teams=teams.values(), **survey_fields)
        TeamProfile.objects.create(survey=survey, team=teams["c"], model_kinds=["classical"])
        for slug, answers in TEAM_ANSWERS.items():
            for person in range((sizes or {}).get(slug, 4)):
                respond(
                    survey,
                    teams[slug],
                    f"x:{slug}{person}",
                    {key: values[person] for key, values in answers.items()},
                )
        return survey, teams

    return make


def stored(survey) -> dict:
    return {row.question.key: row for row in QuestionHealth.objects.filter(survey=survey)}


def test_each_flag_fires_on_the_question_built_for_it_and_on_no_other(round_of):
    survey, _ = round_of()
    run = health.question_health_refresh(survey=survey)
    rows = stored(survey)
    assert run.written and run.questions == 9 and run.teams == 3
    assert {key: row.flags for key, row in rows.items()} == {
        "clear": [],
        "same": ["uninformative"],  # 12 of 12 on one choice
        "murky": ["ambiguous"],  # every team split 0/4/1/3
        "hidden": ["unknown"],  # 3 of 12 don't know: 0.25
        "seen": [],  # 2 of 12 don't know
        "optional": [],
        "llm-only": [],  # 8 of 8 on one choice, but fewer than 10 answers
        "o1": [],
        "o2": [],
    }
    assert rows["clear"].agreement == pytest.approx(1.0) and rows["clear"].agreement_teams == 3
    assert rows["clear"].top_share == pytest.approx(1 / 3)
    assert rows["murky"].agreement < 0
    assert rows["same"].agreement is None  # nobody varies: undefined, not "ambiguous"
    assert rows["hidden"].dont_know_rate == 0.25 and rows["hidden"].n_answers == 9
    assert rows["seen"].dont_know_rate == pytest.approx(2 / 12)
    assert rows["optional"].na_rate == 0.25 and rows["optional"].dont_know_rate == 0
    assert all(row.computed_at == run.computed_at for row in rows.values())


def test_only_questions_in_the_teams_asked_plan_count(round_of):
    survey, _ = round_of()
    health.question_health_refresh(survey=survey)
    llm = stored(survey)["llm-only"]
    # Team c answered it (0 each) but its profile puts it out of scope.
    assert llm.n_answers == 8 and llm.top_share == 1.0 and llm.agreement_teams == 2


def test_only_counted_responses_count(round_of):
    survey, teams = round_of()
    zeros = {key: 0 for key in TEAM_ANSWERS["a"]}
    respond(survey, teams["a"], "x:draft", zeros, status="draft")
    respond(survey, teams["a"], "x:old", zeros, status="superseded")
    respond(
        survey,
        teams["a"],
        "x:gone",
        zeros,
        status="withdrawn",
        withdrawn_at=timezone.now(),
        withdrawn_reason="test",
    )
    health.question_health_refresh(survey=survey)
    same = stored(survey)["same"]
    assert same.n_answers == 12 and same.top_share == 1.0


def test_dimension_alpha_is_over_respondents_who_answered_all_its_questions(round_of):
    survey, _ = round_of()
    health.question_health_refresh(survey=survey)
    rows = {row.dimension.key: row for row in DimensionHealth.objects.filter(survey=survey)}
    o1 = [v for team in TEAM_ANSWERS.values() for v in team["o1"]]
    o2 = [v for team in TEAM_ANSWERS.values() for v in team["o2"]]
    assert rows["ops"].questions == 2 and rows["ops"].n_complete == 12
    assert rows["ops"].cronbach_alpha == pytest.approx(
        cronbach_alpha(np.array([o1, o2], dtype=float).T)
    )
    # delivery: the first respondent of each team answered DK or N/A somewhere; team c's
    # asked plan lacks llm-only, so its respondents are not complete either.
    assert rows["delivery"].questions == 7 and rows["delivery"].n_complete == 6


def test_a_refresh_replaces_the_surveys_rows(round_of):
    survey, teams = round_of()
    health.question_health_refresh(survey=survey)
    respond(survey, teams["a"], "x:a-late", {"clear": 4})
    health.question_health_refresh(survey=survey)
    assert QuestionHealth.objects.filter(survey=survey).count() == 9
    assert stored(survey)["clear"].n_answers == 13


def test_rows_of_a_computation_that_read_later_answers_are_kept(round_of):
    survey, _ = round_of()
    later = timezone.now() + timedelta(hours=1)
    QuestionHealth.objects.create(
        survey=survey,
        question=Question.objects.get(framework=survey.framework, key="clear"),
        n_answers=99,
        na_rate=0,
        dont_know_rate=0,
        computed_at=later,
    )
    run = health.question_health_refresh(survey=survey)
    assert not run.written
    kept = QuestionHealth.objects.filter(survey=survey).values_list("n_answers", flat=True)
    assert list(kept) == [99]


def test_a_survey_without_answers_stores_nothing(health_framework):
    survey = SurveyFactory(framework=health_framework, teams=[TeamFactory(slug="health-x")])
    run = health.question_health_refresh(survey=survey)
    assert run.questions == 0 and run.dimensions == 0 and run.withheld_reason is None
    assert not QuestionHealth.objects.filter(survey=survey).exists()


# --- anonymity --------------------------------------------------------------------------------


def test_an_open_anonymous_survey_computes_and_keeps_nothing(round_of):
    survey, _ = round_of(anonymous=True, min_group_size=3)
    QuestionHealth.objects.create(  # say, left from before the survey was reopened
        survey=survey,
        question=Question.objects.get(framework=survey.framework, key="clear"),
        n_answers=1,
        na_rate=0,
        dont_know_rate=0,
        computed_at=timezone.now(),
    )
    run = health.question_health_refresh(survey=survey)
    assert run.withheld_reason == "survey_open" and run.questions == 0
    assert not QuestionHealth.objects.filter(survey=survey).exists()
    assert not DimensionHealth.objects.filter(survey=survey).exists()


def test_a_closed_anonymous_survey_counts_only_released_teams(round_of):
    # c has 3 respondents, below min_group_size 4: its results are withheld.
    survey, _ = round_of(sizes={"c": 3}, anonymous=True, min_group_size=4, status="closed")
    run = health.question_health_refresh(survey=survey)
    rows = stored(survey)
    assert run.teams == 2 and run.answers == 8 * 9
    assert rows["clear"].n_answers == 8 and rows["clear"].agreement_teams == 2
    assert rows["clear"].top_share == 0.5  # a's 0s and b's 2s; c's 4s left out


def test_closing_an_anonymous_survey_computes_its_health(
    round_of, django_capture_on_commit_callbacks
):
    survey, _ = round_of(anonymous=True, min_group_size=4)
    assert health.question_health_refresh(survey=survey).withheld_reason == "survey_open"
    with django_capture_on_commit_callbacks(execute=True):
        survey_services.survey_close(survey=survey)
    assert stored(survey)["murky"].flags == ["ambiguous"]


# --- when it is computed ----------------------------------------------------------------------


def test_the_survey_wide_aggregation_stores_question_health(round_of):
    survey, _ = round_of()
    result = tasks.aggregate_survey.apply(args=(survey.pk,)).get()
    assert result["status"] == "done" and result["question_health"]["questions"] == 9
    assert stored(survey)["hidden"].flags == ["unknown"]


def test_open_surveys_with_newer_submissions_or_withdrawals_are_stale(round_of):
    survey, teams = round_of()
    anonymous, _ = round_of(anonymous=True)
    closed, _ = round_of(status="closed")
    assert health.question_health_stale_surveys() == [survey.pk]

    health.question_health_refresh(survey=survey)
    assert health.question_health_stale_surveys() == []

    late = respond(survey, teams["b"], "x:b-late", {"clear": 2})
    assert health.question_health_stale_surveys() == [survey.pk]
    health.question_health_refresh(survey=survey)
    assert health.question_health_stale_surveys() == []

    survey_services.response_withdraw(response=late, withdrawn_by=None, reason="duplicate")
    assert health.question_health_stale_surveys() == [survey.pk]
    assert anonymous.pk not in health.question_health_stale_surveys()
    assert closed.pk not in health.question_health_stale_surveys()


def test_the_beat_task_refreshes_stale_surveys(round_of, settings):
    survey, _ = round_of()
    assert settings.CELERY_BEAT_SCHEDULE["refresh-question-health"] == {
        "task": "reports.tasks.refresh_question_health",
        "schedule": settings.QUESTION_HEALTH_SECONDS,
    }
    assert tasks.refresh_question_health() == 1
    assert stored(survey)["same"].flags == ["uninformative"]
    assert tasks.refresh_question_health() == 0


# --- API --------------------------------------------------------------------------------------


def client_of(user) -> APIClient:
    _, key = api_token_create(user=user, name="test")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def url(survey_id=None, slug="health") -> str:
    query = "" if survey_id is None else f"?survey={survey_id}"
    return f"/api/v1/frameworks/{slug}/question-health/{query}"


def test_api_returns_the_stored_rows_with_flags(round_of, admin_user):
    survey, _ = round_of()
    run = health.question_health_refresh(survey=survey)
    response = client_of(admin_user).get(url(survey.pk))
    assert response.status_code == 200
    body = response.json()
    assert body["survey"] == survey.pk and body["framework"] == "health" and body["version"] == 1
    assert body["withheld_reason"] is None
    assert body["computed_at"] == run.computed_at.isoformat().replace("+00:00", "Z")
    assert [row["question"] for row in body["questions"]] == [
        "clear",
        "same",
        "murky",
        "hidden",
        "seen",
        "optional",
        "llm-only",
        "o1",
        "o2",
    ]
    murky = body["questions"][2]
    assert murky["dimension"] == "delivery" and murky["flags"] == ["ambiguous"]
    assert murky["n_answers"] == 12 and murky["agreement"] < 0
    assert body["questions"][1]["agreement"] is None  # JSON null, never NaN
    assert body["thresholds"] == {
        "agreement": 0.667,
        "agreement_min_teams": 3,  # this module's setting; 5 by default
        "top_share": 0.9,
        "top_share_min_answers": 10,
        "dont_know_rate": 0.25,
    }
    assert set(body["flag_meanings"]) == {"ambiguous", "uninformative", "unknown"}
    assert [row["dimension"] for row in body["dimensions"]] == ["delivery", "ops"]
    assert body["dimensions"][1]["n_complete"] == 12
    assert not math.isnan(body["dimensions"][1]["cronbach_alpha"])


def test_api_before_any_computation_has_no_rows(round_of, admin_user):
    survey, _ = round_of()
    body = client_of(admin_user).get(url(survey.pk)).json()
    assert body["computed_at"] is None and body["questions"] == [] and body["dimensions"] == []


def test_api_withholds_an_open_anonymous_survey(round_of, admin_user):
    survey, _ = round_of(anonymous=True)
    body = client_of(admin_user).get(url(survey.pk)).json()
    assert body["withheld_reason"] == "survey_open"
    assert body["questions"] == [] and body["dimensions"] == [] and body["computed_at"] is None


def test_api_is_for_admins_only(round_of, admin_user):
    survey, teams = round_of()
    manager = MembershipFactory(team=teams["a"], role="manager").user
    assert client_of(manager).get(url(survey.pk)).status_code == 403
    assert client_of(UserFactory()).get(url(survey.pk)).status_code == 403
    assert APIClient().get(url(survey.pk)).status_code == 403


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "Name the survey: ?survey=<id>, a survey of this framework."),
        ("?survey=abc", "A survey id is a whole number."),
        ("?survey=0", "Ensure this value is greater than or equal to 1."),
        ("?survey=99999999999999999999", "Ensure this value is less than or equal to"),
        ("?survey=987654", "No survey 987654."),
    ],
)
def test_api_names_a_missing_or_unknown_survey_in_a_400(
    admin_user, health_framework, query, message
):
    response = client_of(admin_user).get(f"/api/v1/frameworks/health/question-health/{query}")
    assert response.status_code == 400
    assert response.json()["survey"][0].startswith(message)


def test_api_refuses_a_survey_of_another_framework(admin_user, survey, health_framework):
    response = client_of(admin_user).get(url(survey.pk))
    assert response.status_code == 400
    assert response.json() == {
        "survey": [f"Survey {survey.pk} uses the framework 'mlops', not 'health'."]
    }


def test_api_of_an_unknown_framework_is_a_404(admin_user, survey):
    response = client_of(admin_user).get(url(survey.pk, slug="nope"))
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_api_is_in_the_openapi_schema(admin_user):
    api = APIClient()
    api.force_authenticate(admin_user)
    schema = api.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/frameworks/{slug}/question-health/"]["get"]
    assert operation["operationId"] == "framework_question_health"
    assert [p["name"] for p in operation["parameters"] if p["in"] == "query"] == ["survey"]
    assert {"200", "400", "403", "404"} <= set(operation["responses"])


# --- the admin page ---------------------------------------------------------------------------


def page(client, survey=None):
    query = "" if survey is None else f"?survey={survey.pk}"
    return client.get(f"/reports/question-health/{query}")


def test_the_page_lists_flagged_questions_first_with_what_flags_mean(round_of, admin_user, client):
    survey, _ = round_of()
    health.question_health_refresh(survey=survey)
    client.force_login(admin_user)
    response = page(client, survey)
    assert response.status_code == 200
    html = response.content.decode()
    order = [html.index(f'data-question="{key}"') for key in ("same", "murky", "hidden", "clear")]
    assert sorted(order) == order  # the three flagged ones, in framework order, then clear
    assert "within-team agreement (Krippendorff&#x27;s alpha, ordinal) below 0.667" in html
    assert "90% or more of its answers (at least 10)" in html
    assert "25% or more of its answers are don&#x27;t know" in html
    hidden_row = html[html.index('data-question="hidden"') :].split("</tr>")[0]
    assert "25.0%" in hidden_row and ">unknown<" in hidden_row


def test_the_page_rounds_statistics_down_so_they_read_as_flagged(round_of, admin_user, client):
    survey, _ = round_of()
    health.question_health_refresh(survey=survey)
    QuestionHealth.objects.filter(survey=survey, question__key="clear").update(
        agreement=0.66699, top_share=0.89999, flags=["ambiguous"]
    )
    client.force_login(admin_user)
    row = page(client, survey).content.decode().split('data-question="clear"')[1].split("</tr>")[0]
    assert "0.666 (3)" in row and "89.9%" in row


def test_the_page_says_why_it_shows_nothing(round_of, admin_user, client):
    client.force_login(admin_user)
    anonymous, _ = round_of(anonymous=True)
    assert 'id="withheld"' in page(client, anonymous).content.decode()
    named, _ = round_of()
    assert 'id="not-computed"' in page(client, named).content.decode()


def test_the_page_is_for_staff_and_linked_from_the_reports_and_the_admin(
    round_of, admin_user, client
):
    survey, teams = round_of()
    manager = MembershipFactory(team=teams["a"], role="manager").user
    client.force_login(manager)
    response = page(client, survey)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert 'id="question-health-link"' not in client.get("/reports/").content.decode()
    client.force_login(admin_user)
    assert page(client).status_code == 200
    assert client.get("/reports/question-health/?survey=abc").status_code == 404
    reports = client.get(f"/reports/?survey={survey.pk}").content.decode()
    assert f'href="/reports/question-health/?survey={survey.pk}"' in reports
    admin_list = client.get("/admin/reports/questionhealth/")
    assert admin_list.status_code == 200
    assert 'href="/reports/question-health/"' in admin_list.content.decode()
