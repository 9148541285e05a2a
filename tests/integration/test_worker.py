"""Scores with a real worker: they appear, survive a SIGKILLed worker, bursts coalesce, and a
broker outage only delays them."""

from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from maturity import scoring
from reports import services as report_services
from reports.models import (
    AggregationRun,
    DimensionScore,
    QuestionScore,
    TeamRecommendation,
    TeamScore,
)
from reports.tasks import reconcile_scores
from surveys import services
from surveys.models import Response
from tests.conftest import api_answers, complete_answers
from tests.factories import MembershipFactory
from tests.integration.conftest import use_broker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def submit(survey, team, user, score):
    return services.response_submit(
        survey=survey,
        team=team,
        respondent=user,
        respondent_key=services.respondent_key_for(user, survey),
        answers=complete_answers(survey.framework, score),
    )


def scored(team, n):
    return TeamScore.objects.filter(team=team, n_respondents=n).first()


def fault_free(survey, team) -> scoring.ScoringResult:
    tables = report_services.framework_tables(survey.framework)
    inputs = report_services.load_inputs(survey, tables, [team.pk])
    return scoring.score_teams(
        inputs.question_stats,
        tables.frames,
        inputs.respondents,
        respondent_dimension_moments=inputs.respondent_dimension_moments,
    )


def test_submission_is_scored_by_the_worker(real_celery, survey, team, member):
    real_celery()
    submit(survey, team, member, 3)
    team_score = wait_for(lambda: scored(team, 1), message="the team's scores")
    assert team_score.score == 75.0 and team_score.level == 3
    run = AggregationRun.objects.get(team=team)
    assert run.status == "done" and run.trigger == "submission"


def test_killed_worker_mid_aggregation_converges_without_duplicates(real_celery, survey, team):
    worker = real_celery(AGGREGATION_TEST_SLEEP_SECONDS="30", CELERY_VISIBILITY_TIMEOUT="4")
    users = [MembershipFactory(team=team).user for _ in range(3)]
    for score, user in zip((1, 2, 4), users, strict=True):
        submit(survey, team, user, score)
    # The run is inside its write transaction (sleeping) when the worker dies.
    wait_for(
        lambda: AggregationRun.objects.filter(team=team, status="running").exists(),
        message="the run to start",
    )
    worker.kill()
    assert not TeamScore.objects.filter(team=team, n_respondents=3).exists()
    # kombu restores an unacknowledged message once it is older than the visibility
    # timeout, when the next worker starts polling.
    time.sleep(5)

    real_celery(CELERY_VISIBILITY_TIMEOUT="4")  # the message is redelivered to this one
    team_score = wait_for(lambda: scored(team, 3), timeout=60, message="redelivered run")
    expected = fault_free(survey, team)
    row = expected.team_scores.iloc[0]
    assert team_score.score == pytest.approx(row["score"], abs=1e-9)
    assert team_score.level == row["level"]
    assert DimensionScore.objects.filter(team_score=team_score).count() == len(
        expected.dimension_scores
    )
    assert QuestionScore.objects.filter(team_score=team_score).count() == len(
        expected.question_scores
    )
    assert TeamRecommendation.objects.filter(team_score=team_score).count() == len(
        expected.recommendations
    )
    assert TeamScore.objects.filter(team=team).count() == 1
    run = AggregationRun.objects.get(team=team)
    assert run.status == "done" and run.attempts == 2


def test_a_burst_of_submissions_coalesces_into_one_or_two_runs(real_celery, survey, team):
    real_celery()
    users = [MembershipFactory(team=team).user for _ in range(10)]
    for user in users:
        submit(survey, team, user, 2)
    wait_for(lambda: scored(team, 10), message="scores of all ten")
    assert 1 <= AggregationRun.objects.filter(team=team).count() <= 2


def test_broker_outage_loses_nothing_and_reconcile_catches_up(
    real_celery, redis_url, settings, survey, team, member
):
    real_celery()
    down = "redis://127.0.0.1:1/0"
    settings.CELERY_BROKER_URL = down
    use_broker(down)
    api = APIClient()
    api.force_authenticate(member)
    response = api.post(
        f"/api/v1/surveys/{survey.pk}/responses/",
        {"team": team.slug, "answers": api_answers(survey.framework, 4)},
        format="json",
    )
    assert response.status_code == 201  # the user sees success
    assert Response.objects.filter(status="submitted").count() == 1
    assert not TeamScore.objects.filter(team=team).exists()

    settings.CELERY_BROKER_URL = redis_url
    use_broker(redis_url)
    reconcile_scores.delay()  # what beat does every minute
    team_score = wait_for(lambda: scored(team, 1), message="reconciled scores")
    assert team_score.score == 100.0
    assert AggregationRun.objects.get(team=team).trigger == "reconcile"
