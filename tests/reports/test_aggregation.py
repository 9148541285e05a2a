"""Aggregation persists exactly what the scoring rules give (checked against the plain
reference), replaces snapshots whole, and never lets an older input overwrite a newer one."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db.models import ProtectedError
from django.utils import timezone

from maturity.models import Choice
from reports import services, tasks
from reports.models import (
    AggregationRun,
    DimensionScore,
    QuestionScore,
    TeamRecommendation,
    TeamScore,
)
from surveys import services as survey_services
from surveys.models import Response, ResponseDimensionScore
from tests.conftest import complete_answers
from tests.factories import MembershipFactory
from tests.integration.conftest import database_url
from tests.maturity.reference_scoring import reference_score

pytestmark = pytest.mark.django_db


def reference_framework(framework) -> dict:
    return {
        "dimensions": [
            {"key": d.key, "weight": d.weight, "order": d.order} for d in framework.dimensions.all()
        ],
        "questions": [
            {
                "key": q.key,
                "dimension": q.dimension.key,
                "weight": q.weight,
                "max_score": q.max_score,
                "requires": q.requires,
                "order": q.order,
            }
            for q in framework.questions.select_related("dimension")
        ],
        "levels": [
            {"level": lvl.number, "name": lvl.name, "threshold": lvl.threshold}
            for lvl in framework.levels.all()
        ],
        "choices": [
            {
                "question": c.question.key,
                "score": c.score,
                "label": c.label,
                "next_step": c.next_step,
            }
            for c in Choice.objects.filter(question__framework=framework).select_related("question")
        ],
    }


def fill_randomly(survey, teams, framework, seed: int, respondents: int = 4):
    """Submit random answers (with N/A where allowed); return them as reference tuples."""
    rng = random.Random(seed)
    questions = list(framework.questions.order_by("order"))
    raw = []
    for team, level in teams:
        for index in range(respondents):
            user = MembershipFactory(team=team, user__username=f"{team.slug}-{seed}-{index}").user
            overrides = {}
            for question in questions:
                if question.allow_na and rng.random() < 0.3:
                    overrides[question.key] = "na"
                else:
                    overrides[question.key] = max(0, min(4, level + rng.randint(-2, 2)))
            survey_services.response_submit(
                survey=survey,
                team=team,
                respondent=user,
                respondent_key=survey_services.respondent_key_for(user, survey),
                answers=complete_answers(framework, **overrides),
            )
            raw.extend(
                (team.pk, user.pk, key, None if value == "na" else value)
                for key, value in overrides.items()
            )
    return raw


def close(a, b, tolerance: float = 1e-9) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return b is not None and abs(a - b) <= tolerance


def test_persisted_scores_equal_the_reference(survey, team, other_team, framework):
    raw = fill_randomly(survey, [(team, 3), (other_team, 1)], framework, seed=11)
    run = services.aggregate(survey=survey)
    assert run.status == "done" and run.teams_scored == 2

    expected = reference_score(reference_framework(framework), raw, {team.pk: 4, other_team.pk: 4})
    for team_score in TeamScore.objects.filter(survey=survey).select_related("weakest_dimension"):
        want = expected["teams"][team_score.team_id]
        assert close(team_score.score, want["score"])
        assert team_score.level == want["level"]
        assert team_score.weakest_dimension.key == want["weakest_dimension"]
        assert team_score.n_respondents == 4

        dimensions = {d.dimension.key: d for d in team_score.dimensions.select_related("dimension")}
        want_dimensions = {
            k: v for (t, k), v in expected["dimensions"].items() if t == team_score.team_id
        }
        assert dimensions.keys() == want_dimensions.keys()
        for key, row in dimensions.items():
            want = want_dimensions[key]
            for field in (
                "score",
                "disagreement",
                "answered_ratio",
                "interval_low",
                "interval_high",
            ):
                assert close(getattr(row, field), want[field]), (key, field)
            assert row.level == want["level"]

        questions = {q.question.key: q for q in team_score.questions.select_related("question")}
        for (t, key), want in expected["questions"].items():
            if t != team_score.team_id:
                continue
            assert questions[key].n == want["n"]
            assert close(questions[key].mean, want["mean"])
            assert close(questions[key].std, want["std"])
            assert questions[key].contested == want["contested"]
            assert sum(questions[key].distribution) == want["n"]

        recommendations = list(team_score.recommendations.select_related("question"))
        want_recs = expected["recommendations"][team_score.team_id]
        assert [r.question.key for r in recommendations] == [r["question"] for r in want_recs]
        for got, want in zip(recommendations, want_recs, strict=True):
            assert close(got.priority, want["priority"])
            assert (got.current_score, got.next_score) == (
                want["current_score"],
                want["next_score"],
            )
            assert got.text == want["text"]
            assert got.requires == want["requires"]


def test_each_counted_response_is_reduced_to_dimension_scores_once(
    survey, team, other_team, framework
):
    raw = fill_randomly(survey, [(team, 3), (other_team, 1)], framework, seed=12)
    services.aggregate(survey=survey)
    counted = Response.objects.filter(status="submitted")
    dimensions = framework.dimensions.count()
    assert ResponseDimensionScore.objects.count() == counted.count() * dimensions
    assert services.record_response_dimension_scores(survey) == 0

    # Rows never written (responses loaded another way) are recorded by the next run, for
    # a team missing one response's rows as for a team missing all of them.
    ResponseDimensionScore.objects.filter(response=counted.filter(team=team).first()).delete()
    ResponseDimensionScore.objects.filter(response__team=other_team).delete()
    before = {
        (d.team_score.team_id, d.dimension_id): (d.interval_low, d.interval_high)
        for d in DimensionScore.objects.select_related("team_score")
    }
    services.aggregate(survey=survey)
    assert ResponseDimensionScore.objects.count() == counted.count() * dimensions
    after = {
        (d.team_score.team_id, d.dimension_id): (d.interval_low, d.interval_high)
        for d in DimensionScore.objects.select_related("team_score")
    }
    assert after.keys() == before.keys()
    for key, (low, high) in after.items():
        assert close(low, before[key][0]) and close(high, before[key][1]), key

    expected = reference_score(reference_framework(framework), raw, {team.pk: 4, other_team.pk: 4})
    for row in DimensionScore.objects.select_related("team_score", "dimension"):
        want = expected["dimensions"][(row.team_score.team_id, row.dimension.key)]
        assert close(row.interval_low, want["interval_low"])
        assert close(row.interval_high, want["interval_high"])


def test_deleting_a_response_deletes_its_dimension_scores_but_a_team_with_history_stays(
    survey, team, framework
):
    fill_randomly(survey, [(team, 2)], framework, seed=3, respondents=3)
    services.aggregate(survey=survey)
    recorded = ResponseDimensionScore.objects.count()
    Response.objects.filter(status="submitted").first().delete()
    assert ResponseDimensionScore.objects.count() == recorded - framework.dimensions.count()
    with pytest.raises(ProtectedError):
        team.delete()
    assert ResponseDimensionScore.objects.count() == recorded - framework.dimensions.count()


def test_a_dimension_answered_all_na_gives_a_null_respondent_score(survey, team, framework):
    raw = fill_randomly(survey, [(team, 2)], framework, seed=13, respondents=4)
    dimension = framework.dimensions.order_by("order").first()
    response = Response.objects.filter(status="submitted").order_by("pk").first()
    response.answers.filter(question__dimension=dimension).update(score=None, na=True)
    user_id = response.respondent_id
    keys = set(dimension.questions.values_list("key", flat=True))
    raw = [
        (t, u, key, None if (u == user_id and key in keys) else value) for t, u, key, value in raw
    ]

    services.aggregate(survey=survey, team_ids=[team.pk])
    null_row = ResponseDimensionScore.objects.get(response=response, dimension=dimension)
    assert null_row.score is None
    assert services.record_response_dimension_scores(survey) == 0  # recorded, not retried

    expected = reference_score(reference_framework(framework), raw, {team.pk: 4})
    row = DimensionScore.objects.get(dimension=dimension)
    want = expected["dimensions"][(team.pk, dimension.key)]
    assert close(row.interval_low, want["interval_low"])
    assert close(row.interval_high, want["interval_high"])


def test_na_answers_are_counted_per_question(survey, team, framework):
    na_key = framework.questions.filter(allow_na=True).first().key
    for index in range(3):
        user = MembershipFactory(team=team).user
        value = "na" if index < 2 else 4
        survey_services.response_submit(
            survey=survey,
            team=team,
            respondent=user,
            respondent_key=survey_services.respondent_key_for(user, survey),
            answers=complete_answers(framework, 2, **{na_key: value}),
        )
    services.aggregate(survey=survey, team_ids=[team.pk])
    row = QuestionScore.objects.get(question__key=na_key)
    assert (row.n, row.na_count, row.mean, row.distribution) == (1, 2, 1.0, [0, 0, 0, 0, 1])


def test_rerunning_replaces_the_snapshot_without_duplicates(survey, team, framework):
    fill_randomly(survey, [(team, 2)], framework, seed=3, respondents=3)
    services.aggregate(survey=survey, team_ids=[team.pk])
    counts = [
        m.objects.count() for m in (TeamScore, DimensionScore, QuestionScore, TeamRecommendation)
    ]
    services.aggregate(survey=survey, team_ids=[team.pk])
    services.aggregate(survey=survey)
    assert [m.objects.count() for m in (TeamScore, DimensionScore, QuestionScore)] == [
        2,
        *counts[1:3],
    ]
    assert TeamRecommendation.objects.count() == counts[3]


def test_only_latest_submissions_count(survey, team, member, framework):
    key = survey_services.respondent_key_for(member, survey)
    for score in (0, 4):
        survey_services.response_submit(
            survey=survey,
            team=team,
            respondent=member,
            respondent_key=key,
            answers=complete_answers(framework, score),
        )
    draft = survey_services.response_start(
        survey=survey, team=team, respondent_key=key, respondent=member
    )
    survey_services.answer_save(response=draft, question=framework.questions.first(), score=0)
    services.aggregate(survey=survey, team_ids=[team.pk])
    team_score = TeamScore.objects.get(team=team)
    assert (team_score.score, team_score.level, team_score.n_respondents) == (100.0, 4, 1)
    assert not team_score.recommendations.exists()


def test_team_without_responses_has_an_empty_snapshot(survey, team, other_team, framework):
    fill_randomly(survey, [(team, 2)], framework, seed=5, respondents=1)
    services.aggregate(survey=survey)
    empty = TeamScore.objects.get(team=other_team)
    assert (empty.score, empty.level, empty.n_respondents) == (None, None, 0)
    assert not empty.dimensions.exists()
    single = TeamScore.objects.get(team=team)
    assert single.dimensions.filter(interval_low__isnull=False).count() == 0  # n < 3
    assert single.questions.filter(std__isnull=False).count() == 0  # n < 2


def test_a_run_with_an_older_watermark_does_not_overwrite_a_newer_one(survey, team, framework):
    fill_randomly(survey, [(team, 1)], framework, seed=8, respondents=2)
    tables = services.framework_tables(survey.framework)
    old_inputs = services.load_inputs(survey, tables, [team.pk])
    fill_randomly(survey, [(team, 4)], framework, seed=9, respondents=2)
    services.aggregate(survey=survey, team_ids=[team.pk])
    newer = TeamScore.objects.get(team=team)
    assert newer.n_respondents == 4

    from maturity import scoring

    old_result = scoring.score_teams(
        old_inputs.question_stats,
        tables.frames,
        old_inputs.respondents,
        respondent_dimension_moments=old_inputs.respondent_dimension_moments,
    )
    written = services._persist(survey, [team.pk], old_result, old_inputs, tables)
    assert written == 0
    after = TeamScore.objects.get(team=team)
    assert (after.score, after.n_respondents, after.computed_at) == (
        newer.score,
        4,
        newer.computed_at,
    )


def test_stale_teams_are_found_until_scored(survey, team, framework):
    fill_randomly(survey, [(team, 2)], framework, seed=1, respondents=1)
    TeamScore.objects.all().delete()
    assert services.stale_team_scores() == [(survey.pk, team.pk)]
    services.aggregate(survey=survey, team_ids=[team.pk])
    assert services.stale_team_scores() == []
    fill_randomly(survey, [(team, 2)], framework, seed=2, respondents=1)
    assert services.stale_team_scores() == [(survey.pk, team.pk)]
    assert tasks.reconcile_scores() == 1  # eager: scores right away
    assert services.stale_team_scores() == []


def test_submission_scores_the_team_after_commit_in_eager_mode(
    survey, team, member, framework, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        survey_services.response_submit(
            survey=survey,
            team=team,
            respondent=member,
            respondent_key=survey_services.respondent_key_for(member, survey),
            answers=complete_answers(framework, 3),
        )
    run = AggregationRun.objects.get()
    assert (run.status, run.trigger, run.team_id, run.teams_scored) == (
        "done",
        "submission",
        team.pk,
        1,
    )
    assert run.load_ms is not None and run.finished_at is not None
    assert TeamScore.objects.get(team=team).score == 75.0


def test_closing_a_survey_scores_every_team(
    survey, team, other_team, framework, django_capture_on_commit_callbacks
):
    fill_randomly(survey, [(team, 2), (other_team, 3)], framework, seed=4, respondents=1)
    TeamScore.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        survey_services.survey_close(survey=survey)
    assert TeamScore.objects.filter(survey=survey).count() == 2
    assert AggregationRun.objects.filter(team=None, trigger="survey closed", status="done").exists()


def test_aggregate_command(survey, team, framework):
    fill_randomly(survey, [(team, 2)], framework, seed=6, respondents=2)
    out = StringIO()
    call_command("aggregate", str(survey.pk), "--team", team.slug, "--sync", stdout=out)
    assert "done, 1 team(s) scored" in out.getvalue()
    with pytest.raises(CommandError, match="No survey with id 999"):
        call_command("aggregate", "999")
    with pytest.raises(CommandError, match="not part of survey"):
        call_command("aggregate", str(survey.pk), "--team", "nope")
    out = StringIO()
    call_command("aggregate", str(survey.pk), stdout=out)  # eager: queued and run
    assert "Queued run" in out.getvalue()
    assert Response.objects.filter(status="submitted").count() == 2


def test_parent_teams_get_a_rollup_of_their_children(survey, team, other_team, framework):
    from surveys.models import Team

    parent = Team.objects.create(slug="org", name="Organisation")
    Team.objects.filter(pk__in=[team.pk, other_team.pk]).update(parent=parent)
    raw = fill_randomly(survey, [(team, 3), (other_team, 1)], framework, seed=21, respondents=3)
    services.aggregate(survey=survey)
    rollup = TeamScore.objects.get(team=parent)
    assert rollup.is_rollup and rollup.n_respondents == 6
    # The parent's question score is the mean over all of its children's answers.
    expected = reference_score(
        reference_framework(framework), [("org", *answer[1:]) for answer in raw], {"org": 6}
    )
    assert close(rollup.score, expected["teams"]["org"]["score"])
    for row in rollup.questions.select_related("question"):
        assert close(row.mean, expected["questions"][("org", row.question.key)]["mean"])
    # Scoring one child re-scores its parent too.
    survey_services.response_submit(
        survey=survey,
        team=team,
        respondent=MembershipFactory(team=team).user,
        respondent_key="u:extra",
        answers=complete_answers(framework, 4),
    )
    services.aggregate(survey=survey, team_ids=[team.pk])
    assert TeamScore.objects.get(team=parent).n_respondents == 7


def test_a_target_reorders_the_roadmap_after_commit(
    survey, team, member, manager, framework, django_capture_on_commit_callbacks
):
    overrides = {key: 4 for key in framework.questions.values_list("key", flat=True)}
    first_dimension = framework.dimensions.order_by("order").first()
    last_dimension = framework.dimensions.order_by("order").last()
    # Weak in the first dimension (level 1), weakest in the last one (level 0).
    for key in first_dimension.questions.values_list("key", flat=True):
        overrides[key] = 1
    for key in last_dimension.questions.values_list("key", flat=True):
        overrides[key] = 0
    with django_capture_on_commit_callbacks(execute=True):
        survey_services.response_submit(
            survey=survey,
            team=team,
            respondent=member,
            respondent_key=survey_services.respondent_key_for(member, survey),
            answers=complete_answers(framework, **overrides),
        )
    top = TeamScore.objects.get(team=team).recommendations.select_related("question__dimension")
    assert top.first().question.dimension == last_dimension

    with django_capture_on_commit_callbacks(execute=True):
        survey_services.target_set(
            team=team, dimension_key=first_dimension.key, target_level=4, set_by=manager
        )
    top = TeamScore.objects.get(team=team).recommendations.select_related("question__dimension")
    # The first dimension sits at level 1 (25), three short of 4: its priorities x4.
    assert top.first().question.dimension == first_dimension
    assert AggregationRun.objects.filter(trigger="target", status="done").exists()


# Stuck work: runs whose worker or message was lost are failed and their work re-enqueued.

ROOT = Path(__file__).resolve().parents[2]


def visibility_timeout_with(**env: str) -> subprocess.CompletedProcess[str]:
    """Load the settings in a fresh process with ``env``; print the visibility timeout."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CELERY_", "AGGREGATION_")) and key != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    environment.update(DJANGO_SETTINGS_MODULE="config.settings.test", **env)
    code = (
        "import django; django.setup(); from django.conf import settings;"
        " print(settings.CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'])"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_visibility_timeout_defaults_to_the_time_limit_plus_retry_backoff_and_margin():
    assert visibility_timeout_with().stdout.strip() == "480"  # 300 + 120 + 60
    assert visibility_timeout_with(CELERY_TASK_TIME_LIMIT="600").stdout.strip() == "780"
    assert visibility_timeout_with(CELERY_VISIBILITY_TIMEOUT="900").stdout.strip() == "900"


def test_settings_refuse_a_visibility_timeout_at_or_below_the_hard_time_limit():
    result = visibility_timeout_with(CELERY_VISIBILITY_TIMEOUT="300")
    assert result.returncode != 0
    assert (
        "ImproperlyConfigured: CELERY_VISIBILITY_TIMEOUT (300 s) must exceed"
        " CELERY_TASK_TIME_LIMIT (300 s)" in result.stderr
    )
    ok = visibility_timeout_with(CELERY_VISIBILITY_TIMEOUT="20", CELERY_TASK_TIME_LIMIT="10")
    assert ok.stdout.strip() == "20", ok.stderr


def test_runs_are_lost_past_the_time_limit_or_the_visibility_timeout(settings):
    settings.CELERY_TASK_TIME_LIMIT = 300
    settings.AGGREGATION_RETRY_BACKOFF_MAX = 120
    settings.AGGREGATION_RECOVERY_MARGIN = 60
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 500}
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert tasks.lost_run_cutoffs(now) == (
        datetime(2026, 3, 1, 11, 52, tzinfo=UTC),  # 480 s before
        datetime(2026, 3, 1, 11, 50, 40, tzinfo=UTC),  # 560 s before
    )


def stuck_run(survey, team, status: str, seconds_ago: float) -> AggregationRun:
    """Record a run left ``status`` (queued or running) since ``seconds_ago``."""
    run = AggregationRun.objects.create(survey=survey, team=team)
    since = timezone.now() - timedelta(seconds=seconds_ago)
    running = status == "running"
    AggregationRun.objects.filter(pk=run.pk).update(
        status=status, queued_at=since, started_at=since if running else None, attempts=running
    )
    run.refresh_from_db()
    return run


def assert_scores_equal_the_reference(survey, framework, raw, respondents: dict[int, int]):
    expected = reference_score(reference_framework(framework), raw, respondents)
    stored = TeamScore.objects.filter(survey=survey)
    assert sorted(stored.values_list("team_id", flat=True)) == sorted(respondents)
    for team_score in stored:
        want = expected["teams"][team_score.team_id]
        assert close(team_score.score, want["score"]) and team_score.level == want["level"]
        assert team_score.n_respondents == respondents[team_score.team_id]
        got = {d.dimension.key: d.score for d in team_score.dimensions.select_related("dimension")}
        want_dimensions = {
            key: row["score"]
            for (t, key), row in expected["dimensions"].items()
            if t == team_score.team_id
        }
        assert got.keys() == want_dimensions.keys()
        assert all(close(got[key], want_dimensions[key]) for key in got)


def test_a_run_whose_worker_died_is_failed_and_its_team_scored_again(survey, team, framework):
    raw = fill_randomly(survey, [(team, 2)], framework, seed=21, respondents=2)
    lost = stuck_run(survey, team, "running", seconds_ago=3600)

    assert tasks.recover_stuck_runs() == 1

    lost.refresh_from_db()
    assert lost.status == "failed" and lost.finished_at is not None
    assert lost.error.startswith("Worker lost: still running 3600 s after it started, past the")
    assert "hard time limit" in lost.error
    recovery = AggregationRun.objects.get(trigger="recovery")
    assert (recovery.status, recovery.team_id, recovery.teams_scored) == ("done", team.pk, 1)
    assert_scores_equal_the_reference(survey, framework, raw, {team.pk: 2})


def test_a_run_whose_message_was_lost_is_failed_and_its_team_scored_again(survey, team, framework):
    raw = fill_randomly(survey, [(team, 3)], framework, seed=22, respondents=3)
    lost = stuck_run(survey, team, "queued", seconds_ago=3600)

    assert tasks.recover_stuck_runs() == 1

    lost.refresh_from_db()
    assert lost.status == "failed" and lost.attempts == 0
    assert lost.error.startswith("Message lost: still queued 3600 s after it was queued")
    recovery = AggregationRun.objects.get(trigger="recovery")
    assert (recovery.status, recovery.team_id) == ("done", team.pk)
    assert_scores_equal_the_reference(survey, framework, raw, {team.pk: 3})


def test_a_lost_survey_wide_run_scores_the_whole_survey_again_once(
    survey, team, other_team, framework
):
    raw = fill_randomly(survey, [(team, 1), (other_team, 3)], framework, seed=23, respondents=2)
    stuck_run(survey, None, "running", seconds_ago=3600)
    stuck_run(survey, team, "queued", seconds_ago=3600)  # covered by the survey-wide run

    assert tasks.recover_stuck_runs() == 2

    assert AggregationRun.objects.filter(status="failed").count() == 2
    recovery = AggregationRun.objects.get(trigger="recovery")
    assert (recovery.status, recovery.team_id, recovery.teams_scored) == ("done", None, 2)
    assert_scores_equal_the_reference(survey, framework, raw, {team.pk: 2, other_team.pk: 2})


def test_runs_within_their_bounds_are_left_alone(survey, team, other_team, framework, settings):
    started_before, queued_before = tasks.lost_run_cutoffs(timezone.now())
    running_bound = (timezone.now() - started_before).total_seconds()
    queued_bound = (timezone.now() - queued_before).total_seconds()
    running = stuck_run(survey, team, "running", seconds_ago=running_bound - 30)
    queued = stuck_run(survey, other_team, "queued", seconds_ago=queued_bound - 30)
    finished = stuck_run(survey, team, "running", seconds_ago=3600)
    AggregationRun.objects.filter(pk=finished.pk).update(status="done")

    assert tasks.recover_stuck_runs() == 0

    statuses = dict(AggregationRun.objects.values_list("pk", "status"))
    assert statuses == {running.pk: "running", queued.pk: "queued", finished.pk: "done"}

    settings.AGGREGATION_RECOVERY_MARGIN -= 60  # now both are a little past their bounds
    assert tasks.recover_stuck_runs() == 2
    assert AggregationRun.objects.filter(status="failed").count() == 2


def test_recovering_again_finds_nothing_more_to_do(survey, team, framework):
    fill_randomly(survey, [(team, 2)], framework, seed=24, respondents=1)
    stuck_run(survey, team, "running", seconds_ago=3600)
    assert tasks.recover_stuck_runs() == 1
    assert tasks.recover_stuck_runs() == 0
    assert AggregationRun.objects.filter(trigger="recovery").count() == 1
    assert TeamScore.objects.filter(team=team).count() == 1


def test_a_recovered_run_that_its_redelivered_message_completes_ends_done(survey, team, framework):
    fill_randomly(survey, [(team, 2)], framework, seed=25, respondents=2)
    lost = stuck_run(survey, team, "running", seconds_ago=3600)
    tasks.recover_stuck_runs()

    # What the original message does when the broker hands it to a worker after all.
    tasks.aggregate_team.apply(args=(survey.pk, team.pk, lost.pk))

    lost.refresh_from_db()
    assert (lost.status, lost.error, lost.attempts, lost.teams_scored) == ("done", "", 2, 1)
    assert TeamScore.objects.filter(team=team).count() == 1


def test_metrics_stop_counting_a_lost_queued_run_as_queued(client, survey, team, framework):
    fill_randomly(survey, [(team, 2)], framework, seed=26, respondents=1)
    stuck_run(survey, team, "queued", seconds_ago=3600)
    body = client.get("/metrics").content.decode()
    assert 'maturity_aggregation_runs_total{status="queued"} 1.0' in body

    tasks.recover_stuck_runs()

    body = client.get("/metrics").content.decode()
    assert 'status="queued"' not in body
    assert 'maturity_aggregation_runs_total{status="failed"} 1.0' in body
    assert 'maturity_aggregation_runs_total{status="done"} 1.0' in body  # the recovery run
    assert "maturity_stale_teams 0.0" in body


@pytest.mark.django_db(transaction=True)
def test_a_run_locked_by_another_recovery_is_skipped_not_taken_twice(
    postgres_only, survey, team, framework
):
    lost = stuck_run(survey, team, "running", seconds_ago=3600)
    with psycopg.connect(database_url()) as other:
        # Another recovery (or the run's own worker) holds the row.
        other.execute(
            f"SELECT 1 FROM {AggregationRun._meta.db_table} WHERE id = %s FOR UPDATE",  # noqa: S608
            [lost.pk],
        )
        assert tasks.recover_stuck_runs() == 0
        lost.refresh_from_db()
        assert lost.status == "running"
    assert tasks.recover_stuck_runs() == 1
    lost.refresh_from_db()
    assert lost.status == "failed"
