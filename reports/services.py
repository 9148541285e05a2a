"""Aggregation: load answer aggregates from the database, score with pandas, persist.

The database reduces answers to one row per (team, question) (and per (team, respondent,
dimension) for intervals) with portable SQL; ``maturity.scoring`` does the rest; results
are written with bulk operations, replacing a team's snapshot in one transaction.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
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


# PostgreSQL settings for the two big aggregations, measured in benchmarks/aggregation.py:
# enough memory that a million per-respondent groups do not spill to disk, no JIT (its
# compile time exceeds its gain here), and a sort-based per-respondent aggregation that
# walks answers in response order through the (response, question) unique index.
_POSTGRES_AGGREGATION_SETTINGS = {
    "work_mem": "256MB",
    "jit": "off",
}


@dataclass(frozen=True)
class Query:
    sql: str
    params: list
    columns: list[str]
    postgres_settings: dict[str, str] = field(default_factory=dict)


def _run(query: Query) -> pd.DataFrame:
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for name, value in {
                **_POSTGRES_AGGREGATION_SETTINGS,
                **query.postgres_settings,
            }.items():
                cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
        cursor.execute(query.sql, query.params)
        return pd.DataFrame.from_records(cursor.fetchall(), columns=query.columns)


# v = score / max_score as a float (a numeric 1.0 * ... would make PostgreSQL use NUMERIC).
_V = "(CAST(a.score AS DOUBLE PRECISION) / q.max_score)"
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
    per_question_query = Query(
        f"SELECT r.team_id, a.question_id, {counts_sql},"  # noqa: S608
        f" SUM(CASE WHEN a.na THEN 1 ELSE 0 END){_COUNTED}{team_sql}"
        " GROUP BY r.team_id, a.question_id",
        params,
        ["team", "question", *score_columns, "na_count"],
    )
    # Per-respondent dimension scores, reduced in the database to their moments per
    # (team, dimension): enough for the t-interval, and a few rows instead of one per person.
    moments_query = Query(
        "SELECT team_id, dimension_id, COUNT(*), AVG(s), AVG(s * s) FROM ("  # noqa: S608
        f" SELECT r.team_id, a.response_id, q.dimension_id,"
        f" 100 * SUM(q.weight * {_V}) / SUM(q.weight) AS s"
        f"{_COUNTED} AND a.score IS NOT NULL{team_sql}"
        " GROUP BY r.team_id, a.response_id, q.dimension_id) per_respondent"
        " GROUP BY team_id, dimension_id",
        params,
        ["team", "dimension", "count", "mean", "mean_sq"],
        {"enable_hashagg": "off"},
    )
    per_question, moments = _run(per_question_query), _run(moments_query)
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
    """Replace the snapshots of ``team_ids`` in one transaction; return how many were written.

    Teams whose stored snapshot came from newer input (a later watermark) are left alone.
    Child rows are written as whole DataFrames (COPY on PostgreSQL), not model by model.
    """
    now = timezone.now()
    with transaction.atomic():
        TeamScore.objects.bulk_create(
            [TeamScore(survey=survey, team_id=t, computed_at=now) for t in team_ids],
            ignore_conflicts=True,
        )
        stored = list(
            TeamScore.objects.select_for_update()
            .filter(survey=survey, team_id__in=team_ids)
            .values_list("pk", "team_id", "computed_at", "watermark_at", "watermark_count")
        )
        delay = getattr(settings, "AGGREGATION_TEST_SLEEP_SECONDS", 0)
        if delay:
            time.sleep(delay)  # test-only: widens the window a killed worker must survive

        ids = {}
        for pk, team_id, computed_at, watermark_at, watermark_count in stored:
            new = inputs.watermarks.get(team_id, Watermark(None, 0))
            if computed_at != now and new.older_than(Watermark(watermark_at, watermark_count)):
                continue
            ids[team_id] = pk
        if not ids:
            return 0

        teams = result.team_scores[result.team_scores["team"].isin(ids.keys())]
        weakest = teams["weakest_dimension"].map(tables.dimension_ids)
        updates = [
            (
                _float(score),
                _int(level),
                _int(weakest_id),
                int(n_respondents),
                now,
                inputs.watermarks.get(team, Watermark(None, 0)).at,
                inputs.watermarks.get(team, Watermark(None, 0)).count,
                ids[team],
            )
            for team, score, level, weakest_id, n_respondents in zip(
                teams["team"],
                teams["score"],
                teams["level"],
                weakest,
                teams["n_respondents"],
                strict=True,
            )
        ]
        table = TeamScore._meta.db_table
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {table} SET score = %s, level = %s, weakest_dimension_id = %s,"  # noqa: S608
                " n_respondents = %s, computed_at = %s, watermark_at = %s,"
                " watermark_count = %s WHERE id = %s",
                updates,
            )
            pks = list(ids.values())
            for model in (DimensionScore, QuestionScore, TeamRecommendation):
                for chunk in range(0, len(pks), 5000):
                    part = pks[chunk : chunk + 5000]
                    cursor.execute(
                        f"DELETE FROM {model._meta.db_table}"  # noqa: S608
                        f" WHERE team_score_id IN ({', '.join(['%s'] * len(part))})",
                        part,
                    )
        _insert_children(result, inputs, tables, ids)
    return len(ids)


def _insert_children(
    result: scoring.ScoringResult, inputs: Inputs, tables: FrameworkTables, ids: dict[int, int]
) -> None:
    def mine(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[frame["team"].isin(ids.keys())]
        return frame.assign(team_score_id=frame["team"].map(ids))

    dimensions = mine(result.dimension_scores)
    _insert_frame(
        DimensionScore,
        pd.DataFrame(
            {
                "team_score_id": dimensions["team_score_id"],
                "dimension_id": dimensions["dimension"].map(tables.dimension_ids),
                "score": dimensions["score"],
                "level": dimensions["level"],
                "disagreement": dimensions["disagreement"],
                "answered_ratio": dimensions["answered_ratio"],
                "interval_low": dimensions["interval_low"],
                "interval_high": dimensions["interval_high"],
                "n_answers": dimensions["n_answers"],
            }
        ),
    )
    questions = mine(result.question_scores).merge(
        inputs.answer_counts, on=["team", "question"], how="left"
    )
    _insert_frame(
        QuestionScore,
        pd.DataFrame(
            {
                "team_score_id": questions["team_score_id"],
                "question_id": questions["question"].map(tables.question_ids),
                "n": questions["n"],
                "mean": questions["mean"],
                "std": questions["std"],
                "contested": questions["contested"],
                "na_count": questions["na_count"],
                "distribution": questions["distribution"].map(json.dumps),
            }
        ),
    )
    recommendations = mine(result.recommendations)
    _insert_frame(
        TeamRecommendation,
        pd.DataFrame(
            {
                "team_score_id": recommendations["team_score_id"],
                "rank": recommendations["rank"],
                "question_id": recommendations["question"].map(tables.question_ids),
                "priority": recommendations["priority"],
                "current_score": recommendations["current_score"],
                "next_score": recommendations["next_score"],
                "text": recommendations["text"].fillna(""),
                "requires": recommendations["requires"].map(json.dumps),
            }
        ),
    )


def _insert_frame(model: type, frame: pd.DataFrame) -> None:
    """Insert a DataFrame whose columns are the table's columns, in bulk.

    PostgreSQL gets one COPY of the frame as CSV, with missing numbers written as \\N (the
    NULL marker) and text columns never NULL; other databases get one executemany.
    """
    if frame.empty:
        return
    table = model._meta.db_table
    columns = ", ".join(connection.ops.quote_name(column) for column in frame.columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            text_columns = [c for c in frame.columns if frame[c].dtype == object]
            force = f", FORCE_NOT_NULL ({', '.join(text_columns)})" if text_columns else ""
            sql = f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '\\N'{force})"
            with cursor.cursor.copy(sql) as copy:
                copy.write(frame.to_csv(index=False, header=False, na_rep="\\N"))
            return
        rows = frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)
        placeholders = ", ".join(["%s"] * len(frame.columns))
        cursor.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({placeholders})",  # noqa: S608
            list(rows),
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
