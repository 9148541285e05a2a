"""Aggregation: load answer aggregates from the database, score with pandas, persist.

The database reduces answers to one row per (team, question) (and per (team, respondent,
dimension) for intervals) with portable SQL; ``maturity.scoring`` does the rest; results
are written with bulk operations, replacing a team's snapshot in one transaction.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max
from django.utils import timezone

from maturity import scoring
from maturity.models import Choice, Framework
from reports.models import (
    AggregationRun,
    DimensionScore,
    QuestionScore,
    TeamRecommendation,
    TeamScore,
)
from surveys.models import Response, Survey

logger = logging.getLogger(__name__)


_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Watermark:
    """What a run read: the newest counted submission and how many responses counted."""

    at: datetime | None
    count: int

    def older_than(self, other: Watermark) -> bool:
        mine = (self.at or _EPOCH, self.count)
        theirs = (other.at or _EPOCH, other.count)
        return mine < theirs


@dataclass(frozen=True)
class Inputs:
    question_stats: pd.DataFrame  # team, question, n, mean_v, mean_v2 (n > 0 only)
    respondents: pd.Series  # team -> counted respondents
    respondent_dimension_moments: pd.DataFrame  # team, dimension, count, mean, mean_sq
    answer_counts: pd.DataFrame  # team, question, distribution (count per score), na_count
    watermarks: dict[int, Watermark]


@dataclass(frozen=True)
class FrameworkTables:
    """The framework as the scoring engine takes it (keyed by question/dimension keys, so
    that ties break by key as the rules say), plus the maps back to database ids."""

    frames: scoring.Framework
    question_keys: dict[int, str]
    dimension_keys: dict[int, str]

    @property
    def question_ids(self) -> dict[str, int]:
        return {key: pk for pk, key in self.question_keys.items()}

    @property
    def dimension_ids(self) -> dict[str, int]:
        return {key: pk for pk, key in self.dimension_keys.items()}


def framework_tables(framework: Framework) -> FrameworkTables:
    """Read a framework version into the DataFrames of ``maturity.scoring.Framework``."""
    dimension_rows = list(framework.dimensions.values_list("id", "key", "weight", "order"))
    dimension_keys = {pk: key for pk, key, _, _ in dimension_rows}
    question_rows = list(
        framework.questions.values_list(
            "id", "key", "dimension_id", "weight", "max_score", "requires", "order"
        )
    )
    question_keys = {pk: key for pk, key, *_ in question_rows}
    frames = scoring.Framework(
        dimensions=pd.DataFrame(
            [(key, weight, order) for _, key, weight, order in dimension_rows],
            columns=["dimension", "weight", "order"],
        ),
        questions=pd.DataFrame(
            [
                (key, dimension_keys[dimension], weight, max_score, list(requires), order)
                for _, key, dimension, weight, max_score, requires, order in question_rows
            ],
            columns=["question", "dimension", "weight", "max_score", "requires", "order"],
        ),
        levels=pd.DataFrame(
            list(framework.levels.values_list("number", "name", "threshold")),
            columns=["level", "name", "threshold"],
        ),
        choices=pd.DataFrame(
            [
                (question_keys[qid], score, label, next_step)
                for qid, score, label, next_step in Choice.objects.filter(
                    question__framework=framework
                ).values_list("question_id", "score", "label", "next_step")
            ],
            columns=["question", "score", "label", "next_step"],
        ),
    )
    return FrameworkTables(frames, question_keys, dimension_keys)


def _team_filter(team_ids: list[int] | None) -> tuple[str, list[int]]:
    if team_ids is None:
        return "", []
    placeholders = ", ".join(["%s"] * len(team_ids))
    return f" AND r.team_id IN ({placeholders})", list(team_ids)


def _frame(sql: str, params: list, columns: list[str]) -> pd.DataFrame:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return pd.DataFrame.from_records(cursor.fetchall(), columns=columns)


# v = score / max_score; 1.0 * forces float division on both PostgreSQL and SQLite.
_V = "(1.0 * a.score / q.max_score)"
_COUNTED = (
    " FROM surveys_answer a"
    " JOIN surveys_response r ON r.id = a.response_id"
    " JOIN maturity_question q ON q.id = a.question_id"
    " WHERE r.survey_id = %s AND r.status = 'submitted'"
)


def load_inputs(
    survey: Survey, tables: FrameworkTables, team_ids: list[int] | None = None
) -> Inputs:
    """Read what scoring needs for the survey's teams (all, or ``team_ids``).

    The watermark is read first: answers committed between the two reads make the stored
    watermark look older than the data, so a later reconcile rescoring is harmless.
    """
    watermark_rows = (
        Response.objects.filter(survey=survey, status=Response.Status.SUBMITTED)
        .filter(**({"team_id__in": team_ids} if team_ids is not None else {}))
        .values("team_id")
        .annotate(at=Max("submitted_at"), count=Count("id"))
        .order_by()
    )
    watermarks = {row["team_id"]: Watermark(row["at"], row["count"]) for row in watermark_rows}
    team_sql, team_params = _team_filter(team_ids)
    params = [survey.pk, *team_params]

    # One scan gives, per (team, question), the count of each choice score and of N/A; the
    # question statistics follow exactly from those integer counts.
    top = int(tables.frames.questions["max_score"].max())
    score_columns = [f"n{k}" for k in range(top + 1)]
    counts_sql = ", ".join(
        f"SUM(CASE WHEN a.score = {k} THEN 1 ELSE 0 END)" for k in range(top + 1)
    )
    per_question = _frame(
        f"SELECT r.team_id, a.question_id, {counts_sql},"  # noqa: S608
        f" SUM(CASE WHEN a.na THEN 1 ELSE 0 END){_COUNTED}{team_sql}"
        " GROUP BY r.team_id, a.question_id",
        params,
        ["team", "question", *score_columns, "na_count"],
    )
    per_question["question"] = per_question["question"].map(tables.question_keys)
    counts = per_question[score_columns].to_numpy(dtype=np.int64)
    scores = np.arange(top + 1)
    max_score = (
        per_question["question"]
        .map(tables.frames.questions.set_index("question")["max_score"])
        .to_numpy(dtype=float)
    )
    n = counts.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_v = (counts @ scores) / (n * max_score)
        mean_v2 = (counts @ (scores * scores)) / (n * max_score * max_score)
    question_stats = pd.DataFrame(
        {
            "team": per_question["team"],
            "question": per_question["question"],
            "n": n,
            "mean_v": mean_v,
            "mean_v2": mean_v2,
        }
    )[n > 0]
    answer_counts = pd.DataFrame(
        {
            "team": per_question["team"],
            "question": per_question["question"],
            "distribution": counts.tolist(),
            "na_count": per_question["na_count"].astype("int64"),
        }
    )

    # Per-respondent dimension scores, reduced in the database to their moments per
    # (team, dimension): enough for the t-interval, and a few rows instead of one per person.
    moments = _frame(
        "SELECT team_id, dimension_id, COUNT(*), AVG(s), AVG(s * s) FROM ("  # noqa: S608
        f" SELECT r.team_id, a.response_id, q.dimension_id,"
        f" 100.0 * SUM(q.weight * {_V}) / SUM(q.weight) AS s"
        f"{_COUNTED} AND a.score IS NOT NULL{team_sql}"
        " GROUP BY r.team_id, a.response_id, q.dimension_id) per_respondent"
        " GROUP BY team_id, dimension_id",
        params,
        ["team", "dimension", "count", "mean", "mean_sq"],
    )
    moments["dimension"] = moments["dimension"].map(tables.dimension_keys)
    respondents = pd.Series(
        {team: watermark.count for team, watermark in watermarks.items()}, dtype="int64"
    )
    return Inputs(
        question_stats=question_stats,
        respondents=respondents,
        respondent_dimension_moments=moments,
        answer_counts=answer_counts,
        watermarks=watermarks,
    )


def aggregate(
    *, survey: Survey, team_ids: list[int] | None = None, run: AggregationRun | None = None
) -> AggregationRun:
    """Score the survey's teams (all, or ``team_ids``) and persist their snapshots.

    Records timings on ``run`` (created if not given). Teams whose stored snapshot was
    computed from newer input are left alone and counted as skipped.
    """
    if run is None:
        team_id = team_ids[0] if team_ids and len(team_ids) == 1 else None
        run = AggregationRun.objects.create(survey=survey, team_id=team_id, trigger="manual")
    run.status = AggregationRun.Status.RUNNING
    run.started_at = timezone.now()
    run.attempts += 1
    run.save(update_fields=["status", "started_at", "attempts"])

    started = time.perf_counter()
    all_team_ids = list(survey.teams.values_list("id", flat=True))
    scope = all_team_ids if team_ids is None else [t for t in team_ids if t in all_team_ids]
    tables = framework_tables(survey.framework)
    inputs = load_inputs(survey, tables, scope if team_ids is not None else None)
    loaded = time.perf_counter()

    respondents = inputs.respondents.reindex(scope, fill_value=0).astype("int64")
    result = scoring.score_teams(
        inputs.question_stats,
        tables.frames,
        respondents,
        respondent_dimension_moments=inputs.respondent_dimension_moments,
    )
    scored = time.perf_counter()

    written = _persist(survey, scope, result, inputs, tables)
    finished = time.perf_counter()

    run.load_ms = round((loaded - started) * 1000, 2)
    run.score_ms = round((scored - loaded) * 1000, 2)
    run.persist_ms = round((finished - scored) * 1000, 2)
    run.teams_scored = written
    run.finished_at = timezone.now()
    run.status = (
        AggregationRun.Status.DONE if written or not scope else AggregationRun.Status.SKIPPED
    )
    run.error = ""
    run.save()
    return run


def _persist(
    survey: Survey,
    team_ids: list[int],
    result: scoring.ScoringResult,
    inputs: Inputs,
    tables: FrameworkTables,
) -> int:
    """Replace the snapshots of ``team_ids`` in one transaction; return how many were written."""
    now = timezone.now()
    with transaction.atomic():
        TeamScore.objects.bulk_create(
            [TeamScore(survey=survey, team_id=t, computed_at=now) for t in team_ids],
            ignore_conflicts=True,
        )
        stored = {
            ts.team_id: ts
            for ts in TeamScore.objects.select_for_update().filter(
                survey=survey, team_id__in=team_ids
            )
        }
        delay = getattr(settings, "AGGREGATION_TEST_SLEEP_SECONDS", 0)
        if delay:
            time.sleep(delay)  # test-only: widens the window a killed worker must survive

        fresh: dict[int, TeamScore] = {}
        for team_id in team_ids:
            team_score = stored[team_id]
            new = inputs.watermarks.get(team_id, Watermark(None, 0))
            old = Watermark(team_score.watermark_at, team_score.watermark_count)
            if team_score.computed_at != now and new.older_than(old):
                continue
            team_score.watermark_at, team_score.watermark_count = new.at, new.count
            fresh[team_id] = team_score
        if not fresh:
            return 0

        teams = result.team_scores.set_index("team")
        for team_id, team_score in fresh.items():
            row = teams.loc[team_id]
            team_score.score = _float(row["score"])
            team_score.level = _int(row["level"])
            weakest = row["weakest_dimension"]
            team_score.weakest_dimension_id = (
                None if pd.isna(weakest) else tables.dimension_ids[weakest]
            )
            team_score.n_respondents = int(row["n_respondents"])
            team_score.computed_at = now
        TeamScore.objects.bulk_update(
            list(fresh.values()),
            [
                "score",
                "level",
                "weakest_dimension",
                "n_respondents",
                "computed_at",
                "watermark_at",
                "watermark_count",
            ],
            batch_size=1000,
        )
        ids = {team_id: ts.pk for team_id, ts in fresh.items()}
        for model in (DimensionScore, QuestionScore, TeamRecommendation):
            model.objects.filter(team_score_id__in=ids.values()).delete()
        _bulk_children(result, inputs, tables, ids)
    return len(fresh)


def _bulk_children(
    result: scoring.ScoringResult, inputs: Inputs, tables: FrameworkTables, ids: dict[int, int]
) -> None:
    question_ids, dimension_ids = tables.question_ids, tables.dimension_ids

    def mine(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[frame["team"].isin(ids.keys())].copy()
        frame["team_score_id"] = frame["team"].map(ids)
        return frame

    dimensions = mine(result.dimension_scores)
    DimensionScore.objects.bulk_create(
        (
            DimensionScore(
                team_score_id=r.team_score_id,
                dimension_id=dimension_ids[r.dimension],
                score=float(r.score),
                level=int(r.level),
                disagreement=_float(r.disagreement),
                answered_ratio=float(r.answered_ratio),
                interval_low=_float(r.interval_low),
                interval_high=_float(r.interval_high),
                n_answers=int(r.n_answers),
            )
            for r in dimensions.itertuples(index=False)
        ),
        batch_size=2000,
    )

    questions = mine(result.question_scores)
    if not questions.empty:
        questions = questions.merge(inputs.answer_counts, on=["team", "question"], how="left")
    QuestionScore.objects.bulk_create(
        (
            QuestionScore(
                team_score_id=r.team_score_id,
                question_id=question_ids[r.question],
                n=int(r.n),
                mean=float(r.mean),
                std=_float(r.std),
                contested=bool(r.contested),
                na_count=int(r.na_count),
                distribution=r.distribution,
            )
            for r in questions.itertuples(index=False)
        ),
        batch_size=2000,
    )

    recommendations = mine(result.recommendations)
    TeamRecommendation.objects.bulk_create(
        (
            TeamRecommendation(
                team_score_id=r.team_score_id,
                rank=int(r.rank),
                question_id=question_ids[r.question],
                priority=float(r.priority),
                current_score=int(r.current_score),
                next_score=int(r.next_score),
                text=r.text or "",
                requires=list(r.requires),
            )
            for r in recommendations.itertuples(index=False)
        ),
        batch_size=2000,
    )


def _float(value: object) -> float | None:
    return None if pd.isna(value) else float(value)


def _int(value: object) -> int | None:
    return None if pd.isna(value) else int(value)


def stale_team_scores() -> list[tuple[int, int]]:
    """Return (survey id, team id) pairs whose newest submission is newer than their snapshot."""
    latest = (
        Response.objects.filter(status=Response.Status.SUBMITTED)
        .exclude(survey__status=Survey.Status.DRAFT)
        .values("survey_id", "team_id")
        .annotate(at=Max("submitted_at"), count=Count("id"))
        .order_by()
    )
    stored = {
        (ts["survey_id"], ts["team_id"]): Watermark(ts["watermark_at"], ts["watermark_count"])
        for ts in TeamScore.objects.values(
            "survey_id", "team_id", "watermark_at", "watermark_count"
        )
    }
    stale = []
    for row in latest:
        key = (row["survey_id"], row["team_id"])
        snapshot = stored.get(key)
        if snapshot is None or snapshot.older_than(Watermark(row["at"], row["count"])):
            stale.append(key)
    return sorted(stale)


def run_failed(run_id: int, error: str) -> None:
    AggregationRun.objects.filter(pk=run_id).update(
        status=AggregationRun.Status.FAILED, error=error[:4000], finished_at=timezone.now()
    )
