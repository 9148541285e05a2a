"""Scores with a real worker: they appear, survive a SIGKILLed worker (its message is
redelivered, or recovery fails the run and scores the team again), survive a broker that lost
its messages, bursts coalesce, and a broker outage only delays them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from config.celery import app as celery_app
from maturity import scoring
from reports import selectors
from reports import services as report_services
from reports.models import (
    AggregationRun,
    DimensionScore,
    QuestionScore,
    TeamRecommendation,
    TeamScore,
)
from reports.tasks import enqueue_scoring_followup, reconcile_scores, recover_stuck_runs
from surveys import services
from surveys.models import Response, Survey
from tests.conftest import api_answers, complete_answers
from tests.factories import MembershipFactory
from tests.integration.conftest import (
    Worker,
    clean_broker,
    unacknowledged_ages,
    use_broker,
    wait_for,
)

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
    # The run records its timings and "done" just after the scores it wrote are visible.
    run = wait_for(
        lambda: AggregationRun.objects.filter(team=team).exclude(status="running").first(),
        message="the run to finish",
    )
    assert run.status == "done" and run.trigger == "submission"


def assert_equals_fault_free(team_score: TeamScore, survey, team) -> None:
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


def kill_mid_run(worker: Worker, table_lock, survey, team) -> AggregationRun:
    """Submit three responses; SIGKILL ``worker`` while its run waits to write the scores."""
    lock = table_lock(TeamScore)
    users = [MembershipFactory(team=team).user for _ in range(3)]
    for score, user in zip((1, 2, 4), users, strict=True):
        submit(survey, team, user, score)
    wait_for(lock.waiters, message="the run to wait for the scores table")
    run = AggregationRun.objects.get(team=team)
    assert run.status == "running" and run.attempts == 1
    worker.kill()
    lock.release()
    assert not TeamScore.objects.filter(team=team).exists()
    return run


def test_a_killed_workers_run_is_redelivered_and_converges_without_duplicates(
    real_celery, table_lock, redis_url, survey, team
):
    limits = {
        "CELERY_TASK_SOFT_TIME_LIMIT": "8",
        "CELERY_TASK_TIME_LIMIT": "10",
        "CELERY_VISIBILITY_TIMEOUT": "12",
    }
    run = kill_mid_run(real_celery(**limits), table_lock, survey, team)
    # Redis hands a message on once it has been unacknowledged for the visibility timeout:
    # kombu checks when a worker starts polling (and every 100 s after).
    wait_for(
        lambda: min(unacknowledged_ages(redis_url), default=0) > 12,
        message="the dead worker's message to pass the visibility timeout",
    )

    real_celery(**limits)  # the message is redelivered to this one
    team_score = wait_for(lambda: scored(team, 3), timeout=60, message="redelivered run")
    assert_equals_fault_free(team_score, survey, team)
    run.refresh_from_db()
    assert (run.status, run.attempts) == ("done", 2)
    assert AggregationRun.objects.filter(team=team).count() == 1


def test_a_killed_workers_run_is_failed_by_recovery_and_its_team_scored_again(
    real_celery, table_lock, survey, team
):
    limits = {
        "CELERY_TASK_SOFT_TIME_LIMIT": "8",
        "CELERY_TASK_TIME_LIMIT": "10",
        "AGGREGATION_RETRY_BACKOFF_MAX": "2",
        "AGGREGATION_RECOVERY_MARGIN": "1",
        # Long, so that the dead worker's message stays with it: recovery alone acts here.
        "CELERY_VISIBILITY_TIMEOUT": "600",
    }
    run = kill_mid_run(real_celery(**limits), table_lock, survey, team)
    real_celery(**limits)
    # A run ends within 10 s, or retries within 2 s more; 1 s of margin.
    wait_for(
        lambda: timezone.now() - run.started_at > timedelta(seconds=13),
        message="the run to outlive its time limit",
    )

    recover_stuck_runs.delay()  # what beat does every minute
    team_score = wait_for(lambda: scored(team, 3), timeout=60, message="recovered run")
    assert_equals_fault_free(team_score, survey, team)
    run.refresh_from_db()
    assert run.status == "failed" and run.attempts == 1
    assert re.fullmatch(
        r"Worker lost: still running \d+ s after it started, past the 13 s a run may take;"
        r" its worker died or hit the hard time limit\.",
        run.error,
    )
    recovery = AggregationRun.objects.get(team=team, trigger="recovery")
    assert (recovery.status, recovery.attempts, recovery.teams_scored) == ("done", 1, 1)


def test_a_run_queued_when_the_broker_lost_its_messages_is_failed_and_rescored(
    real_celery, redis_url, survey, team, member
):
    submit(survey, team, member, 3)  # no worker yet: the message waits in Redis
    run = AggregationRun.objects.get(team=team)
    assert run.status == "queued"
    # Redis restarts without persistence: the queue and the pending-run marker are gone.
    clean_broker(redis_url, celery_app.conf.task_default_queue)
    real_celery(
        CELERY_TASK_SOFT_TIME_LIMIT="6",
        CELERY_TASK_TIME_LIMIT="8",
        CELERY_VISIBILITY_TIMEOUT="9",
        AGGREGATION_RECOVERY_MARGIN="1",
    )
    wait_for(
        lambda: timezone.now() - run.queued_at > timedelta(seconds=10),
        message="the run to outlive the visibility timeout",
    )
    run.refresh_from_db()
    assert run.status == "queued"  # nothing else would ever change it

    recover_stuck_runs.delay()
    team_score = wait_for(lambda: scored(team, 1), message="recovered run")
    assert team_score.score == 75.0
    run.refresh_from_db()
    assert run.status == "failed"
    assert re.match(
        r"Message lost: still queued \d+ s after it was queued, past the 10 s", run.error
    )
    # The snapshot commits before its run is marked done: wait for the mark too (under
    # load the scores were seen while the run still said "running").
    wait_for(
        lambda: AggregationRun.objects.filter(
            team=team, trigger="recovery", status="done"
        ).exists(),
        message="the recovery run marked done",
    )


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


def test_what_follows_scoring_runs_is_done_once_for_a_burst(
    real_celery, redis_url, survey, team, other_team, member
):
    """Runs that finish while a follow-up waits in the queue join it: two runs announced
    before the worker is free queue one follow-up, which reads both teams. Then the
    worker's own runs leave the survey-wide figures stored and current."""
    enqueue_scoring_followup(sender=Survey, survey=survey, team_ids=[team.pk])
    enqueue_scoring_followup(sender=Survey, survey=survey, team_ids=[other_team.pk, team.pk])
    worker = real_celery()
    done = re.compile(r"scoring_followup\[[^\]]+\] succeeded in [\d.]+s: (\d+)")
    ran = wait_for(lambda: done.findall(worker.log.read_text()), message="the follow-up")
    assert ran == ["2"], "one follow-up, for both teams"

    submit(survey, team, member, 3)
    submit(survey, other_team, MembershipFactory(team=other_team).user, 1)
    wait_for(lambda: scored(team, 1) and scored(other_team, 1), message="both teams' scores")
    figures = wait_for(
        lambda: selectors.stored_figures(survey, selectors.snapshot_version(survey)),
        message="the figures of the current scores, stored by the worker",
    )
    assert figures.teams_scored == 2
    assert len(done.findall(worker.log.read_text())) <= 3, "at most one per run"
