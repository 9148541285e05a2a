"""Aggregation: load answer aggregates from the database, score with pandas, persist.

The database reduces answers to one row per (team, question) (and per (team, respondent,
dimension) for intervals) with portable SQL; ``maturity.scoring`` does the rest; results
are written with bulk operations, replacing a team's snapshot in one transaction.

Only the questions a team is *asked* count (framework v2, issue 15: its plan,
``surveys.selectors.round_plans``): answers to questions that its profile puts out of scope
(a profile changed mid-round leaves them stored) or that an ancestor answers for it
(platform and org scope) are never scored. Don't-know answers never score either; they are
counted per question, dimension and team.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, SupportsFloat, SupportsInt

import numpy as np
import orjson
import pandas as pd
from django.db import connection, transaction
from django.db.models import Count, F, Max, Model, Sum
from django.utils import timezone

from common import events, revisions
from maturity import scoring
from maturity.models import Choice, Dimension, Framework, Question
from maturity.selectors import per_framework_version
from reports import campaign_progress, selectors
from reports.action_verification import actions_verify
from reports.evidence import RoundEvidence, cap_counts, round_evidence
from reports.models import (
    AggregationRun,
    DimensionScore,
    ExportAudit,
    QuestionScore,
    SurveyFigures,
    TeamRecommendation,
    TeamScore,
)
from reports.signals import scores_written
from surveys import services as survey_services
from surveys.models import (
    Answer,
    DimensionTarget,
    Response,
    ResponseDimensionScore,
    Survey,
    Team,
    TeamProfile,
)
from surveys.selectors import round_plans
from surveys.services import ErasureResult

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from maturity.scope import TeamPlan
    from reports.selectors import Figures

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Watermark:
    """What a run read of a team's counted responses: the newest submission, how many, and
    the sum of their ids. Any change of the counted set changes it: a submission (a newer
    time), a withdrawal or a deletion (a lower count or sum), a resubmission (a new id)."""

    at: datetime | None
    count: int
    checksum: int = 0

    @classmethod
    def combined(cls, marks: list[Watermark]) -> Watermark:
        """Return the watermark of several teams' responses together (a roll-up's)."""
        times = [mark.at for mark in marks if mark.at is not None]
        return cls(
            max(times, default=None),
            sum(mark.count for mark in marks),
            sum(mark.checksum for mark in marks),
        )


NO_INPUT = Watermark(None, 0, 0)


def current_watermarks(survey: Survey, team_ids: list[int] | None = None) -> dict[int, Watermark]:
    """Return the watermark of each survey team's counted responses now (teams with none:
    absent). ``team_ids`` limits the teams; None reads all."""
    rows = (
        Response.objects.filter(survey=survey, status=Response.Status.SUBMITTED)
        .filter(**({"team_id__in": team_ids} if team_ids is not None else {}))
        .values("team_id")
        .annotate(at=Max("submitted_at"), count=Count("id"), checksum=Sum("id"))
        .order_by()
    )
    return {
        row["team_id"]: Watermark(row["at"], row["count"], int(row["checksum"] or 0))
        for row in rows
    }


@dataclass(frozen=True)
class Inputs:
    # team, question, n, mean_v, mean_v2, dont_know (asked questions with n or dont_know > 0)
    question_stats: pd.DataFrame
    respondents: pd.Series  # team -> counted respondents
    respondent_dimension_moments: pd.DataFrame  # team, dimension, count, mean, mean_sq
    answer_counts: pd.DataFrame  # team, question, distribution (count per score), na_count
    watermarks: dict[int, Watermark]
    asked: pd.DataFrame  # team, question (key): what each team is asked (roll-ups: pooled)
    out_of_scope: dict[int, int]  # team -> questions its profile puts out of scope


def asked_fingerprint(asked: Iterable[int]) -> int:
    """Return a 63-bit signed hash of a set of question ids (order does not matter)."""
    data = b"".join(pk.to_bytes(8, "little") for pk in sorted(asked))
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little", signed=True)


def asked_frame(plans: dict[int, TeamPlan], tables: FrameworkTables) -> pd.DataFrame:
    """Return the (team id, question key) pairs of the teams' plans' ``asked`` sets.

    One block per distinct set (teams with the same profile and position share one), so
    this costs a few numpy operations per distinct set, not Python per pair.
    """
    by_set: dict[frozenset[int], list[int]] = {}
    for team, plan in plans.items():
        by_set.setdefault(plan.asked, []).append(team)
    keys = tables.question_keys
    blocks = []
    for asked, teams in by_set.items():
        questions = np.array(sorted(keys[pk] for pk in asked if pk in keys), dtype=object)
        blocks.append(
            pd.DataFrame(
                {
                    "team": np.repeat(np.array(teams, dtype=np.int64), len(questions)),
                    "question": np.tile(questions, len(teams)),
                }
            )
        )
    if not blocks:
        return pd.DataFrame({"team": pd.Series(dtype="int64"), "question": pd.Series(dtype=object)})
    return pd.concat(blocks, ignore_index=True)


# A (team, question) pair as one integer, in SQL and in Python alike: team id x 2^32 +
# question id (question ids stay far below 2^32; the product fits a 64-bit integer).
_PAIR_BASE = 2**32


def asked_pairs(plans: dict[int, TeamPlan]) -> np.ndarray:
    """Return the asked (team, question id) pairs of ``plans`` as sorted integers."""
    blocks = [
        team * _PAIR_BASE + np.fromiter(plan.asked, dtype=np.int64, count=len(plan.asked))
        for team, plan in plans.items()
    ]
    return np.sort(np.concatenate(blocks)) if blocks else np.array([], dtype=np.int64)


def _only_asked(frame: pd.DataFrame, pairs: np.ndarray) -> pd.DataFrame:
    """Return the rows of ``frame`` (team id, question id) that are among the ``pairs``."""
    if frame.empty:
        return frame
    key = frame["team"].to_numpy(dtype=np.int64) * _PAIR_BASE + frame["question"].to_numpy(
        dtype=np.int64
    )
    keep = np.isin(key, pairs)
    return frame if keep.all() else frame[keep].reset_index(drop=True)


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

    @property
    def max_scores(self) -> pd.Series:
        """Question key -> its highest choice score S_q."""
        return self.frames.questions.set_index("question")["max_score"]


@per_framework_version
def framework_tables(framework: Framework) -> FrameworkTables:
    """Return a framework version as the engine's DataFrames, read once per process."""
    return _read_framework_tables(framework)


def _read_framework_tables(framework: Framework) -> FrameworkTables:
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


# PostgreSQL settings for reads over many teams, measured in benchmarks/aggregation.py:
# enough memory that 50,000 (team, question) groups hash without spilling to disk, and no
# JIT (its compile time exceeds its gain here). Runs for a few teams read a few index
# entries and skip them: for one team the settings' round trip (0.3 ms) took a third as
# long as the per-question query itself (0.95 ms). Above 50 teams is a judgement, not a
# measured crossover.
_POSTGRES_AGGREGATION_SETTINGS = {
    "work_mem": "256MB",
    "jit": "off",
}


@dataclass(frozen=True)
class Query:
    sql: str
    params: list[Any]  # the survey's id, then any team ids (and asked pairs)
    columns: list[str]
    many_teams: bool = False


def _many(team_ids: list[int] | None) -> bool:
    return team_ids is None or len(team_ids) > 50


def _run(query: Query) -> pd.DataFrame:
    with transaction.atomic(), connection.cursor() as cursor:
        _settle(cursor, query)
        cursor.execute(query.sql, query.params)
        return pd.DataFrame.from_records(cursor.fetchall(), columns=query.columns)


def _settle(cursor: Any, query: Query) -> None:
    """Apply the PostgreSQL settings for reads over many teams to the current transaction."""
    if connection.vendor == "postgresql" and query.many_teams:
        settings = _POSTGRES_AGGREGATION_SETTINGS
        calls = ", ".join(["set_config(%s, %s, true)"] * len(settings))
        cursor.execute(f"SELECT {calls}", [v for item in settings.items() for v in item])


# v = score / max_score as a float (a numeric 1.0 * ... would make PostgreSQL use NUMERIC).
_V = "(CAST(a.score AS DOUBLE PRECISION) / q.max_score)"
# The answers of the survey's counted responses.
_COUNTED = (
    f" FROM {Answer._meta.db_table} a"
    f" JOIN {Response._meta.db_table} r ON r.id = a.response_id"
    " WHERE r.survey_id = %s AND r.status = 'submitted'"
)


def load_raw_inputs(
    survey: Survey,
    tables: FrameworkTables,
    team_ids: list[int] | None = None,
    plans: dict[int, TeamPlan] | None = None,
) -> RawInputs:
    """Read what scoring needs for the survey's teams (all, or ``team_ids``).

    Only answers to the questions each team is asked (``plans``, read when not given) are
    kept: the database reduces all answers per (team, question), and the pairs a team is
    not asked are dropped from those few rows.

    The watermark is read first: answers committed between the two reads make the run's
    watermark differ from the input at the time it persists, and _persist leaves those
    teams to the run that their new answers queued.
    """
    if plans is None:
        plans = round_plans(survey, team_ids)
    watermarks = current_watermarks(survey, team_ids)
    team_sql, team_params = _team_filter(team_ids)
    params = [survey.pk, *team_params]

    # One scan gives, per (team, question), the count of each choice score, of N/A and of
    # don't know; the question statistics follow exactly from those integer counts. On
    # PostgreSQL it reads only the answers' covering index (response_id, question_id) +
    # (score, na) (surveys 0006): reading a.dont_know too would fetch every answer from the
    # table (a one-team run went from an index-only scan to a parallel scan, 5x slower). So
    # a don't know is counted as what it is in a counted response: an answer with neither
    # a score nor N/A (submission accepts nothing else for a question the team is asked;
    # answers to other questions are dropped below). The one case where the two differ: a
    # comment-only draft answer to a question not asked at submission that a later profile
    # change brings into scope counts as a don't know here (the exports read the column).
    top = int(tables.frames.questions["max_score"].max())
    score_columns = [f"n{k}" for k in range(top + 1)]
    # (FILTER, not SUM(CASE ...): a fifth faster on PostgreSQL; SQLite has it since 3.30.)
    counts_sql = ", ".join(f"COUNT(*) FILTER (WHERE a.score = {k})" for k in range(top + 1))
    per_question_query = Query(
        f"SELECT r.team_id, a.question_id, {counts_sql},"  # noqa: S608
        " COUNT(*) FILTER (WHERE a.na),"
        " COUNT(*) FILTER (WHERE a.score IS NULL AND NOT a.na)"
        f"{_COUNTED}{team_sql}"
        " GROUP BY r.team_id, a.question_id",
        params,
        ["team", "question", *score_columns, "na_count", "dont_know_count"],
        many_teams=_many(team_ids),
    )
    wanted = plans if team_ids is None else {t: plans[t] for t in team_ids if t in plans}
    asked = asked_frame(wanted, tables)
    per_question = _only_asked(_run(per_question_query), asked_pairs(wanted))
    per_question["question"] = per_question["question"].map(tables.question_keys)
    moments = _respondent_moments(survey, team_ids, wanted, tables, watermarks)
    moments["dimension"] = moments["dimension"].map(tables.dimension_keys)
    out_of_scope = {team: len(plan.out_of_scope) for team, plan in wanted.items()}
    return RawInputs(per_question, moments, watermarks, asked, out_of_scope)


_RESPONSE_DIMENSIONS = ResponseDimensionScore._meta.db_table


def _respondent_moments(
    survey: Survey,
    team_ids: list[int] | None,
    plans: dict[int, TeamPlan],
    tables: FrameworkTables,
    watermarks: dict[int, Watermark],
) -> pd.DataFrame:
    """Return team, dimension, count, mean, mean_sq of the respondents' dimension scores.

    The database reduces the per-response rows (see record_response_dimension_scores) to
    their moments per (team, dimension): enough for the t-interval, and a few rows instead
    of one per person. A team whose plan changed since its rows were recorded has them
    recorded again first (_rerecord_changed_plans). Every counted response has a row in
    every dimension, so a team with fewer rows than counted responses has some not
    recorded yet (new submissions, or responses loaded any other way): they are recorded,
    and that team's moments are read again. Usually there are none, and this is one query
    besides the fingerprints. ``team_ids`` None reads all teams; only those of ``plans``
    (teams of the round) are kept.
    """
    stored = dict(
        TeamScore.objects.filter(survey=survey, is_rollup=False)
        .filter(**({"team_id__in": team_ids} if team_ids is not None else {}))
        .values_list("team_id", "asked_fingerprint")
    )
    _rerecord_changed_plans(survey, plans, tables.question_keys.keys(), stored)
    moments = _run(_moments_query(survey, team_ids))
    moments = moments[moments["team"].isin(list(plans))]
    rows = moments.groupby("team")["rows"].min().to_dict()
    short = sorted(
        team
        for team, watermark in watermarks.items()
        if team in plans and watermark.count and rows.get(team, 0) < watermark.count
    )
    if short:
        record_response_dimension_scores(survey, short, plans)
        complete = moments[~moments["team"].isin(short)]
        reread = _run(_moments_query(survey, short))
        moments = pd.concat([complete, reread], ignore_index=True) if len(complete) else reread
    # A dimension in which all of a team's asked answers were N/A or don't know (or that
    # it is not asked at all) has no respondent scores.
    return moments[moments["count"] > 0].drop(columns="rows").reset_index(drop=True)


def _rerecord_changed_plans(
    survey: Survey,
    plans: dict[int, TeamPlan],
    every_question: Iterable[int],
    stored: dict[int, int | None],
) -> list[int]:
    """Record the per-response scores again for teams whose plan changed; return them.

    A response's dimension scores are over the questions its team is asked, so a change of
    the plan (a profile declared or changed mid-round, a team moved in the hierarchy)
    makes them stale. The plan they were recorded for is kept as a fingerprint on the
    team's snapshot row (TeamScore.asked_fingerprint). Null (no snapshot yet, or rows
    recorded before v2) means every question of the framework (``every_question``), which
    is what those rows were computed over: a v1 round, where every team is asked
    everything, is never recorded twice. Teams whose fingerprint differs get their
    responses' rows deleted and recorded again, under the snapshot row's lock, so
    concurrent runs do it once. ``stored``: the fingerprints read before (no snapshot: absent).
    """
    everything = asked_fingerprint(every_question)
    fingerprints = {team: asked_fingerprint(plan.asked) for team, plan in plans.items()}

    def recorded_for(mark: int | None) -> int:
        return everything if mark is None else mark

    changed = sorted(
        team for team, mark in fingerprints.items() if recorded_for(stored.get(team)) != mark
    )
    if not changed:
        return []
    now = timezone.now()
    with transaction.atomic():
        TeamScore.objects.bulk_create(
            [TeamScore(survey=survey, team_id=team, computed_at=now) for team in changed],
            ignore_conflicts=True,
        )
        locked = dict(
            TeamScore.objects.select_for_update()
            .filter(survey=survey, team_id__in=changed)
            .order_by("team_id")
            .values_list("team_id", "asked_fingerprint")
        )
        changed = [team for team in changed if recorded_for(locked.get(team)) != fingerprints[team]]
        if not changed:
            return []
        ResponseDimensionScore.objects.filter(
            response__survey=survey, response__team_id__in=changed
        ).delete()
        record_response_dimension_scores(survey, changed, plans)
        for team in changed:
            TeamScore.objects.filter(survey=survey, team_id=team).update(
                asked_fingerprint=fingerprints[team]
            )
    return changed


def _moments_query(survey: Survey, team_ids: list[int] | None) -> Query:
    team_sql, team_params = _team_filter(team_ids)
    return Query(
        "SELECT r.team_id, d.dimension_id, COUNT(*), COUNT(d.score), AVG(d.score),"  # noqa: S608
        f" AVG(d.score * d.score) FROM {_RESPONSE_DIMENSIONS} d"
        f" JOIN {Response._meta.db_table} r ON r.id = d.response_id"
        f" WHERE r.survey_id = %s AND r.status = 'submitted'{team_sql}"
        " GROUP BY r.team_id, d.dimension_id",
        [survey.pk, *team_params],
        ["team", "dimension", "rows", "count", "mean", "mean_sq"],
        many_teams=_many(team_ids),
    )


def _asked_pairs_sql(plans: dict[int, TeamPlan], team_ids: Iterable[int]) -> tuple[str, list[Any]]:
    """Return SQL telling whether answer ``a`` of response ``r`` is to an asked question.

    The asked (team, question) pairs travel as one parameter (see _one_of).
    """
    pairs = asked_pairs({team: plans[team] for team in team_ids if team in plans}).tolist()
    return _one_of(f"(r.team_id * {_PAIR_BASE} + a.question_id)", pairs)


def _one_of(expression: str, values: list[int]) -> tuple[str, list[Any]]:
    """Return SQL telling whether ``expression`` is one of the integers ``values``.

    The values travel as one parameter: a bigint array that PostgreSQL hashes once for
    ``= ANY`` (a constant, so parallel workers evaluate it too), a JSON array that SQLite
    reads with json_each into an ``IN`` set.
    """
    if connection.vendor == "postgresql":
        return f"{expression} = ANY(CAST(%s AS BIGINT[]))", [values]
    sqlite = f"{expression} IN (SELECT value FROM json_each(%s))"  # noqa: S608 - no input in it
    return sqlite, [orjson.dumps(values).decode()]


# Where record_response_dimension_scores keeps its per-response sums until it inserts the
# rows (a temporary table: the connection's own, dropped before it returns).
_PENDING = "pending_response_dimension_sums"


def record_response_dimension_scores(
    survey: Survey, team_ids: list[int] | None = None, plans: dict[int, TeamPlan] | None = None
) -> int:
    """Write the dimension scores of the survey's counted responses that have none yet.

    A response's score in a dimension is 100 x the weighted mean of its answers there to the
    questions its team is asked (``plans``, read when not given); null when none of those
    has a choice (all N/A or don't know, or none asked). Every response gets a row in every
    dimension of the framework, so that a team with fewer rows in a dimension than counted
    responses has some not recorded (see _respondent_moments). Rows are computed once, by
    the first run that reads the response (usually the team's run right after the
    submission): a submitted response never changes; when its team's plan does,
    _rerecord_changed_plans deletes and records them again. Rows are inserted in key
    order with ``ON CONFLICT DO NOTHING``, so that concurrent runs wait for each other
    instead of deadlocking, and a row recorded meanwhile is kept. Returns the number of
    rows written.

    Set-based for any number of responses, so that a cold survey-wide run (after a bulk
    import or a lost queue: no rows at all) records them all in one pass (issue 17,
    BENCHMARKS.md "Cold start"), in three statements: the responses without rows (their
    ids then travel as one hashed parameter: an anti-join planned against an empty table
    ran once per answer); their weighted sums per dimension, grouped by response alone
    with one ``FILTER`` pair per dimension, into a temporary table; and the insert, one row
    per (response, dimension) from those sums. The sums are a plain query of their own
    because PostgreSQL never runs an ``INSERT ... SELECT`` in parallel, and grouped by
    response because it estimates as many (response, dimension) groups as answers and then
    aggregates after the Gather, never partially in the workers. On 1,000,500 answers
    (200,100 rows), on a 2-core VM at load 1-4, the sums took 0.7-1.05 s (computing the
    rows took 1.7-2.0 s before) and the insert 0.86-1.33 s: the insert of that many rows,
    with its ``ON CONFLICT`` check, is now the larger half of the recording.
    """
    if plans is None:
        plans = round_plans(survey, team_ids)
    teams = sorted(plans) if team_ids is None else [t for t in team_ids if t in plans]
    if not teams:
        return 0
    team_sql, team_params = _team_filter(teams)
    many_teams = _many(teams)
    unrecorded = _run(
        Query(
            f"SELECT r.id FROM {Response._meta.db_table} r"  # noqa: S608
            f" WHERE r.survey_id = %s AND r.status = 'submitted'{team_sql}"
            f" AND NOT EXISTS (SELECT 1 FROM {_RESPONSE_DIMENSIONS} d WHERE d.response_id = r.id)"
            " ORDER BY r.id",
            [survey.pk, *team_params],
            ["response"],
        )
    )["response"].tolist()
    if not unrecorded:
        return 0
    dimensions = sorted(
        Dimension.objects.filter(framework_id=survey.framework_id).values_list("id", flat=True)
    )
    if not dimensions:
        return 0
    is_new, new_params = _one_of("r.id", unrecorded)
    is_asked, asked_params = _asked_pairs_sql(plans, teams)
    sums = ", ".join(
        f"SUM(q.weight * {_V}) FILTER (WHERE q.dimension_id = {dimension}) AS s{index},"
        f" SUM(q.weight) FILTER (WHERE q.dimension_id = {dimension} AND a.score IS NOT NULL)"
        f" AS w{index}"
        for index, dimension in enumerate(dimensions)
    )
    per_response = Query(
        f"CREATE TEMPORARY TABLE {_PENDING} AS"  # noqa: S608
        f" SELECT a.response_id, {sums}"
        f" FROM {Answer._meta.db_table} a"
        f" JOIN {Response._meta.db_table} r ON r.id = a.response_id"
        f" JOIN {Question._meta.db_table} q ON q.id = a.question_id"
        f" WHERE r.survey_id = %s AND r.status = 'submitted' AND {is_new} AND {is_asked}"
        " GROUP BY a.response_id",
        [survey.pk, *new_params, *asked_params],
        [],
        many_teams=many_teams,
    )
    score = " ".join(
        f"WHEN {dimension} THEN 100 * p.s{index} / p.w{index}"
        for index, dimension in enumerate(dimensions)
    )
    # The dimensions as literal rows rather than the table: PostgreSQL then knows there are
    # a handful, puts the responses outside the loop and sorts each one's few rows
    # (incremental sort) instead of all of them (0.1-0.2 s of the insert at 200,100 rows).
    every_dimension = " UNION ALL ".join(f"SELECT {dimension} AS id" for dimension in dimensions)
    insert = Query(
        f"INSERT INTO {_RESPONSE_DIMENSIONS} (response_id, dimension_id, score)"  # noqa: S608
        f" SELECT r.id, dim.id, CASE dim.id {score} END"
        f" FROM {Response._meta.db_table} r"
        f" CROSS JOIN ({every_dimension}) dim"
        f" LEFT JOIN {_PENDING} p ON p.response_id = r.id"
        f" WHERE r.survey_id = %s AND r.status = 'submitted' AND {is_new}"
        " ORDER BY r.id, dim.id"
        " ON CONFLICT DO NOTHING",
        [survey.pk, *new_params],
        [],
        many_teams=many_teams,
    )
    with transaction.atomic(), connection.cursor() as cursor:
        _settle(cursor, per_response)
        cursor.execute(per_response.sql, per_response.params)
        cursor.execute(insert.sql, insert.params)
        written: int = cursor.rowcount
        cursor.execute(f"DROP TABLE {_PENDING}")
    return written


@dataclass(frozen=True)
class RawInputs:
    """What the database returns: per (team, question) answer counts by score (n0..nS),
    N/A (na_count) and don't know (dont_know_count), asked questions only; per (team,
    dimension) moments of respondents' scores; watermarks; and the teams' plans: the asked
    (team, question key) pairs and how many questions each has out of scope."""

    per_question: pd.DataFrame
    moments: pd.DataFrame
    watermarks: dict[int, Watermark]
    asked: pd.DataFrame
    out_of_scope: dict[int, int]

    def with_rollups(self, children: dict[int, list[int]]) -> RawInputs:
        """Add a row set for each parent team pooling the answers of its child teams.

        A parent's question score is then the respondent-weighted mean of its children's
        (the mean over all their counted answers), and the engine scores it like any team.
        It is asked what any of its children is asked.
        """
        links = pd.DataFrame(
            [(parent, child) for parent, kids in children.items() for child in kids],
            columns=["parent", "team"],
        )
        if links.empty:
            return self
        pooled = (
            self.per_question.merge(links, on="team")
            .drop(columns="team")
            .rename(columns={"parent": "team"})
            .groupby(["team", "question"], as_index=False)
            .sum()
        )
        weighted = self.moments.merge(links, on="team").assign(
            sum=lambda f: f["count"] * f["mean"], sum_sq=lambda f: f["count"] * f["mean_sq"]
        )
        pooled_moments = (
            weighted.groupby(["parent", "dimension"], as_index=False)[["count", "sum", "sum_sq"]]
            .sum()
            .rename(columns={"parent": "team"})
        )
        pooled_moments["mean"] = pooled_moments["sum"] / pooled_moments["count"]
        pooled_moments["mean_sq"] = pooled_moments["sum_sq"] / pooled_moments["count"]
        watermarks = dict(self.watermarks)
        for parent, kids in children.items():
            marks = [self.watermarks[kid] for kid in kids if kid in self.watermarks]
            if marks:
                watermarks[parent] = Watermark.combined(marks)
        pooled_asked = (
            self.asked.merge(links, on="team")[["parent", "question"]]
            .drop_duplicates()
            .rename(columns={"parent": "team"})
        )
        return RawInputs(
            pd.concat([self.per_question, pooled], ignore_index=True),
            pd.concat([self.moments, pooled_moments[MOMENT_COLUMNS]], ignore_index=True),
            watermarks,
            pd.concat([self.asked, pooled_asked], ignore_index=True),
            self.out_of_scope,
        )

    def to_inputs(self, tables: FrameworkTables) -> Inputs:
        """Derive the engine's question statistics exactly from the integer counts."""
        score_columns = [c for c in self.per_question.columns if re.fullmatch(r"n\d+", c)]
        counts = self.per_question[score_columns].to_numpy(dtype=np.int64)
        scores = np.arange(len(score_columns))
        max_score = (
            self.per_question["question"]
            .map(tables.frames.questions.set_index("question")["max_score"])
            .to_numpy(dtype=float)
        )
        n = counts.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_v = (counts @ scores) / (n * max_score)
            mean_v2 = (counts @ (scores * scores)) / (n * max_score * max_score)
        teams, questions = self.per_question["team"], self.per_question["question"]
        dont_know = self.per_question["dont_know_count"].to_numpy(dtype=np.int64)
        question_stats = pd.DataFrame(
            {
                "team": teams,
                "question": questions,
                "n": n,
                "mean_v": mean_v,
                "mean_v2": mean_v2,
                "dont_know": dont_know,
            }
        )[(n > 0) | (dont_know > 0)]
        answer_counts = pd.DataFrame(
            {
                "team": teams,
                "question": questions,
                "distribution": counts.tolist(),
                "na_count": self.per_question["na_count"].astype("int64"),
            }
        )
        respondents = pd.Series(
            {team: watermark.count for team, watermark in self.watermarks.items()},
            dtype="int64",
        )
        # A submission that commits between the watermark read and the answers read makes
        # a question count more answers than the watermark has respondents. Such a team's
        # input changed under the run, and _persist will not write it (its watermark is no
        # longer the current one); score it with the larger count instead of failing the
        # whole run, whose other teams are sound.
        answered = question_stats.groupby("team")["n"].max()
        if len(answered):
            respondents = respondents.reindex(respondents.index.union(answered.index), fill_value=0)
            respondents = respondents.clip(lower=answered.reindex(respondents.index, fill_value=0))
        return Inputs(
            question_stats=question_stats,
            respondents=respondents,
            respondent_dimension_moments=self.moments,
            answer_counts=answer_counts,
            watermarks=self.watermarks,
            asked=self.asked,
            out_of_scope=self.out_of_scope,
        )


MOMENT_COLUMNS = ["team", "dimension", "count", "mean", "mean_sq"]


def aggregate(
    *, survey: Survey, team_ids: list[int] | None = None, run: AggregationRun | None = None
) -> AggregationRun:
    """Score the survey's teams (all, or ``team_ids``) and persist their snapshots.

    Records timings on ``run`` (created if not given). Teams whose input changed while the
    run was reading or scoring are left alone (the change queued a run of its own) and
    counted as skipped.
    """
    if run is None:
        team_id = team_ids[0] if team_ids and len(team_ids) == 1 else None
        run = AggregationRun.objects.create(survey=survey, team_id=team_id, trigger="manual")
    run.status = AggregationRun.Status.RUNNING
    run.started_at = timezone.now()
    run.attempts += 1
    run.save(update_fields=["status", "started_at", "attempts"])

    started = time.perf_counter()
    requested_teams = (
        survey.teams.all() if team_ids is None else survey.teams.filter(pk__in=team_ids)
    )
    requested = set(requested_teams.values_list("id", flat=True))
    children = _rollup_children(survey, requested)
    needed = requested.union(*children.values())
    tables = framework_tables(survey.framework)
    plans = round_plans(survey, None if team_ids is None else needed)
    raw = load_raw_inputs(survey, tables, None if team_ids is None else sorted(needed), plans)
    # Every team whose answers the run reads: a roll-up pools its children's answers as
    # capped, whichever of them asked for the run (only the scope's verdicts are stored).
    verdicts = round_evidence(survey, raw.per_question, sorted(needed), tables.max_scores)
    answered = raw
    if verdicts.policy == "cap":
        raw = dataclasses.replace(raw, per_question=cap_counts(raw.per_question, verdicts.caps()))
    inputs = raw.with_rollups(children).to_inputs(tables)
    if raw is not answered:
        # Scores count capped answers; the stored distribution stays what was answered
        # (evidence never rewrites an answer: the report and the API show it beside the cap).
        answer_counts = answered.with_rollups(children).to_inputs(tables).answer_counts
        inputs = dataclasses.replace(inputs, answer_counts=answer_counts)
    scope = sorted(requested) + sorted(children)
    loaded = time.perf_counter()

    # Siblings were loaded only to pool into their parents' roll-ups.
    stats, moments = inputs.question_stats, inputs.respondent_dimension_moments
    result = scoring.score_teams(
        stats[stats["team"].isin(scope)],
        tables.frames,
        inputs.respondents.reindex(scope, fill_value=0).astype("int64"),
        respondent_dimension_moments=moments[moments["team"].isin(scope)],
        targets=_targets(scope, tables),
        asked=inputs.asked[inputs.asked["team"].isin(scope)],
        contradicted=verdicts.contradicted(),
    )
    scored = time.perf_counter()

    before = _snapshot_states(survey, scope)
    written = _persist(survey, scope, result, inputs, tables, rollups=children, evidence=verdicts)
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
    if written:
        teams = after_scoring(survey, scope, before)
        scores_written.send(sender=Survey, survey=survey, team_ids=teams)
    return run


# A team's stored snapshot before a run: (computed_at, level), to tell which teams the run
# wrote and whose level it changed.
SnapshotStates = dict[int, tuple[datetime, int | None]]


def _snapshot_states(survey: Survey, team_ids: Iterable[int]) -> SnapshotStates:
    rows = TeamScore.objects.filter(survey=survey, team_id__in=list(team_ids))
    return {
        team_id: (computed_at, level)
        for team_id, computed_at, level in rows.values_list("team_id", "computed_at", "level")
    }


def after_scoring(survey: Survey, scope: list[int], before: SnapshotStates) -> list[int]:
    """Announce a run that wrote snapshots of (some of) ``scope``: the ``scores.updated``
    event for the teams written, and ``team.level_changed`` for those whose level moved
    (common.events). Returns the teams written, sorted (what scoring_followup then
    refreshes, queued by reports.tasks on the scores_written signal).

    Teams whose results are withheld (an anonymous round while open, or too few
    respondents, or a roll-up over such a team) appear in ``scores.updated`` by name with
    ``"withheld": true`` and no figures, and never in ``team.level_changed``: an event
    must not let anyone difference a team's results one respondent at a time.
    """
    rows = TeamScore.objects.filter(survey=survey, team_id__in=scope).select_related("team")
    written = {
        row.team_id: row
        for row in rows
        if row.team_id not in before or before[row.team_id][0] != row.computed_at
    }
    if not written:
        return []
    over_withheld = selectors.rollups_over_withheld(survey)
    survey_ref = {"id": survey.pk, "title": survey.title, "anonymous": survey.anonymous}
    teams: list[dict[str, Any]] = []
    for team_id, row in sorted(written.items(), key=lambda item: item[1].team.name):
        ref = {"slug": row.team.slug, "name": row.team.name, "rollup": row.is_rollup}
        if selectors.is_withheld(survey, row.n_respondents) or team_id in over_withheld:
            teams.append({**ref, "withheld": True})
            continue
        teams.append({**ref, "withheld": False, "score": row.score, "level": row.level})
        previous = before.get(team_id)
        if previous is not None and previous[1] != row.level:
            events.publish(
                "team.level_changed",
                {"survey": survey_ref, "team": ref, "from": previous[1], "to": row.level},
            )
    events.publish("scores.updated", {"survey": survey_ref, "teams": teams})
    return sorted(written)


def scoring_followup(survey: Survey, team_ids: Sequence[int]) -> None:
    """What pages and people need after scoring runs of ``survey`` wrote ``team_ids``: the
    survey-wide figures the pages read (survey_figures_refresh), the verdicts of those
    teams' done actions (reports.action_verification) and the progress of the campaigns
    covering them (reports.campaign_progress).

    Queued once for a burst of runs by reports.tasks.enqueue_scoring_followup (``team_ids``
    the union of theirs), run in place when tasks run eagerly. It cost about a third of a
    one-team run when each run did it (issue 19's closing note): now the run's own latency
    is its snapshots and events. Idempotent: each part recomputes from stored scores.
    """
    survey_figures_refresh(survey)
    if team_ids:
        actions_verify(survey, team_ids)
        campaign_progress.campaigns_after_scoring(survey, sorted(team_ids))


def results_ready_notify(survey: Survey) -> int:
    """Tell the people of a closed round that their team's results are ready (once each:
    surveys.services.results_notify), for the teams with results readers see (scored
    respondents, not withheld, not roll-ups). Run after the round's final scoring; returns
    how many."""
    shown = TeamScore.objects.filter(
        selectors.shown_scores(survey),
        survey=survey,
        is_rollup=False,
        n_respondents__gt=0,
        score__isnull=False,
    ).values_list("team_id", flat=True)
    return survey_services.results_notify(survey=survey, team_ids=list(shown))


def survey_figures_refresh(survey: Survey) -> Figures:
    """Compute the survey's survey-wide figures from its snapshots and store them.

    Run by the aggregation worker after every run that wrote scores, and by a page that
    finds the stored figures out of date (current_figures); the version stored is the one
    read before computing, so figures computed while a run was writing are stored as out of
    date and computed again by the next reader, never shown as current when they are not.
    """
    version = selectors.snapshot_version(survey)
    figures = selectors.compute_figures(survey)
    SurveyFigures.objects.update_or_create(
        survey=survey,
        defaults={
            "version": selectors.figures_version(survey, version),
            "computed_at": timezone.now(),
            "dimension_medians": figures.dimension_medians,
            "percentiles": {str(team): value for team, value in figures.percentiles.items()},
            "level_counts": [
                {"dimension": item["dimension"].key, "counts": item["counts"]}
                for item in figures.level_counts
            ],
            "teams_scored": figures.teams_scored,
        },
    )
    return figures


def current_figures(survey: Survey, version: tuple[object, ...] | None = None) -> Figures:
    """Return the survey-wide figures of the survey's current snapshots (``version``, as
    selectors.snapshot_version gives it, when the caller has read it already): the stored
    ones while current, else computed and stored now (survey_figures_refresh)."""
    if version is None:
        version = selectors.snapshot_version(survey)
    stored = selectors.stored_figures(survey, version)
    return stored if stored is not None else survey_figures_refresh(survey)


def _rollup_children(survey: Survey, requested: set[int]) -> dict[int, list[int]]:
    """Return, for each parent team above the requested teams, the survey teams below it.

    Parents that take the survey themselves keep their own score and get no roll-up.
    """
    parents = dict(Team.objects.filter(parent__isnull=False).values_list("id", "parent_id"))
    if not any(team in parents for team in requested):
        return {}
    survey_teams = set(survey.teams.values_list("id", flat=True))

    def ancestors(team_id: int) -> list[int]:
        found, parent = [], parents.get(team_id)
        while parent is not None and parent not in found:
            found.append(parent)
            parent = parents.get(parent)
        return found

    wanted = {a for t in requested for a in ancestors(t) if a not in survey_teams}
    children: dict[int, list[int]] = {}
    for team_id in sorted(survey_teams):
        for ancestor in ancestors(team_id):
            if ancestor in wanted:
                children.setdefault(ancestor, []).append(team_id)
    return children


def _targets(team_ids: list[int], tables: FrameworkTables) -> pd.DataFrame:
    rows = DimensionTarget.objects.filter(
        team_id__in=team_ids, dimension_key__in=tables.dimension_ids.keys()
    ).values_list("team_id", "dimension_key", "target_level")
    return pd.DataFrame(list(rows), columns=scoring.TARGET_COLUMNS)


def load_inputs(
    survey: Survey, tables: FrameworkTables, team_ids: list[int] | None = None
) -> Inputs:
    """Read and derive the engine's inputs for survey teams (no roll-ups)."""
    return load_raw_inputs(survey, tables, team_ids).to_inputs(tables)


def _persist(
    survey: Survey,
    team_ids: list[int],
    result: scoring.ScoringResult,
    inputs: Inputs,
    tables: FrameworkTables,
    rollups: dict[int, list[int]] | None = None,
    evidence: RoundEvidence | None = None,
) -> int:
    """Replace the snapshots of ``team_ids`` in one transaction; return how many were written.

    A team is written only if the input the run read is still the team's input: its
    watermark equals the current one, read again here under the snapshot rows' locks (for
    a roll-up, ``rollups`` maps it to the child teams it pools). A run that read older
    input, whether it was overtaken by a newer run or raced a new submission or a
    withdrawal, leaves the team to the run that change queued. Child rows are written as
    whole DataFrames (COPY on PostgreSQL), not model by model.
    """
    rollups = rollups or {}
    evidence = evidence or RoundEvidence.empty()
    now = timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # The commit need not wait for its WAL flush: a snapshot is derived data, and
            # the run's bookkeeping commit that follows is synchronous, which flushes the
            # WAL up to it. If the server crashed in between, the snapshot would be lost
            # with its watermark, and reconcile_scores would compute it again.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        TeamScore.objects.bulk_create(
            [
                TeamScore(survey=survey, team_id=t, computed_at=now, is_rollup=t in rollups)
                for t in team_ids
            ],
            ignore_conflicts=True,
        )
        stored = dict(
            TeamScore.objects.select_for_update()
            .filter(survey=survey, team_id__in=team_ids)
            .values_list("team_id", "pk")
        )

        current = _current_input(survey, team_ids, rollups)
        ids = {
            team_id: pk
            for team_id, pk in stored.items()
            if inputs.watermarks.get(team_id, NO_INPUT) == current.get(team_id, NO_INPUT)
        }
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
                int(dont_know),
                inputs.out_of_scope.get(team, 0),
                now,
                inputs.watermarks.get(team, NO_INPUT).at,
                inputs.watermarks.get(team, NO_INPUT).count,
                inputs.watermarks.get(team, NO_INPUT).checksum,
                *evidence.counts(team),
                ids[team],
            )
            for team, score, level, weakest_id, n_respondents, dont_know in zip(
                teams["team"],
                teams["score"],
                teams["level"],
                weakest,
                teams["n_respondents"],
                teams["dont_know"],
                strict=True,
            )
        ]
        table = TeamScore._meta.db_table
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {table} SET score = %s, level = %s, weakest_dimension_id = %s,"  # noqa: S608
                " n_respondents = %s, dont_know_count = %s, out_of_scope_count = %s,"
                " computed_at = %s, watermark_at = %s,"
                " watermark_count = %s, watermark_checksum = %s, evidence_checked = %s,"
                " evidence_confirmed = %s, evidence_contradicted = %s, evidence_capped = %s,"
                " revision = revision + 1 WHERE id = %s",
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
        _insert_children(result, inputs, tables, ids, evidence)
    return len(ids)


def _current_input(
    survey: Survey, team_ids: list[int], rollups: dict[int, list[int]]
) -> dict[int, Watermark]:
    """Return the current watermark of each team (a roll-up's from its children's)."""
    teams = set(team_ids).union(*rollups.values()) - set(rollups)
    marks = current_watermarks(survey, None if len(teams) > 50 else sorted(teams))
    for parent, kids in rollups.items():
        present = [marks[kid] for kid in kids if kid in marks]
        if present:
            marks[parent] = Watermark.combined(present)
    return marks


def _insert_children(
    result: scoring.ScoringResult,
    inputs: Inputs,
    tables: FrameworkTables,
    ids: dict[int, int],
    evidence: RoundEvidence,
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
                "dont_know_count": dimensions["dont_know"],
            }
        ),
    )
    questions = (
        mine(result.question_scores)
        .merge(inputs.answer_counts, on=["team", "question"], how="left")
        .merge(evidence.rows, on=["team", "question"], how="left")
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
                "dont_know_count": questions["dont_know"],
                "distribution": questions["distribution"].map(_json),
                "verdict": questions["verdict"].fillna(""),
                "evidence": questions["evidence"].map(
                    lambda value: _json(value if isinstance(value, list) else [])
                ),
                "capped_at": questions["capped_at"],
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
                "requires": recommendations["requires"].map(_json),
            }
        ),
    )


def _insert_frame(model: type[Model], frame: pd.DataFrame) -> None:
    """Insert a DataFrame whose columns are the table's columns, in bulk.

    PostgreSQL gets one COPY of the frame as CSV, written by Arrow (4x faster than pandas'
    to_csv; floats in their shortest round-trip form): a missing value is an unquoted empty
    field, i.e. NULL, while text is always quoted, so an empty text stays empty. Other
    databases get one executemany.
    """
    if frame.empty:
        return
    table = model._meta.db_table
    columns = ", ".join(connection.ops.quote_name(column) for column in frame.columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            import pyarrow as pa
            import pyarrow.csv as pa_csv

            data = pa.BufferOutputStream()
            pa_csv.write_csv(
                pa.Table.from_pandas(frame, preserve_index=False),
                data,
                pa_csv.WriteOptions(include_header=False),
            )
            with cursor.cursor.copy(
                f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)"
            ) as copy:
                copy.write(memoryview(data.getvalue()))
            # A COPY passes no execute wrapper: tell the data revision itself.
            revisions.note_write(connection)
            return
        rows = frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)
        placeholders = ", ".join(["%s"] * len(frame.columns))
        cursor.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({placeholders})",  # noqa: S608
            list(rows),
        )


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


def _float(value: SupportsFloat | None) -> float | None:
    """Return a DataFrame value as a float; None for a missing one (None, NaN, NA)."""
    return None if value is None or pd.isna(value) else float(value)


def _int(value: SupportsInt | None) -> int | None:
    """Return a DataFrame value as an int; None for a missing one (None, NaN, NA)."""
    return None if value is None or pd.isna(value) else int(value)


def stale_team_scores() -> list[tuple[int, int]]:
    """Return (survey id, team id) pairs whose snapshot no longer matches their input.

    A team is stale when its counted responses now differ from what its snapshot read (the
    watermark: newest submission, count, sum of ids), in either direction: new
    submissions, and withdrawals or deletions too; when it has counted responses and
    no snapshot; or when its profile changed after the snapshot was computed (which
    questions count changed). Roll-ups are re-scored with their children.
    """
    current = (
        Response.objects.filter(status=Response.Status.SUBMITTED)
        .exclude(survey__status=Survey.Status.DRAFT)
        .values("survey_id", "team_id")
        .annotate(at=Max("submitted_at"), count=Count("id"), checksum=Sum("id"))
        .order_by()
    )
    now = {
        (row["survey_id"], row["team_id"]): Watermark(
            row["at"], row["count"], int(row["checksum"] or 0)
        )
        for row in current
    }
    stored = {
        (ts["survey_id"], ts["team_id"]): Watermark(
            ts["watermark_at"], ts["watermark_count"], ts["watermark_checksum"]
        )
        for ts in TeamScore.objects.filter(is_rollup=False).values(
            "survey_id", "team_id", "watermark_at", "watermark_count", "watermark_checksum"
        )
    }
    stale = [key for key, mark in now.items() if stored.get(key) != mark]
    stale += [key for key, mark in stored.items() if key not in now and mark != NO_INPUT]
    computed = {
        (ts["survey_id"], ts["team_id"]): ts["computed_at"]
        for ts in TeamScore.objects.filter(
            is_rollup=False, survey__profiles__team_id=F("team_id")
        ).values("survey_id", "team_id", "computed_at")
    }
    profiles = TeamProfile.objects.exclude(survey__status=Survey.Status.DRAFT).values_list(
        "survey_id", "team_id", "updated_at"
    )
    stale += [
        (survey_id, team_id)
        for survey_id, team_id, updated_at in profiles
        if (survey_id, team_id) in computed and computed[(survey_id, team_id)] < updated_at
    ]
    return sorted(set(stale))


def run_failed(run_id: int, error: str) -> None:
    AggregationRun.objects.filter(pk=run_id).update(
        status=AggregationRun.Status.FAILED, error=error[:4000], finished_at=timezone.now()
    )


def person_erase(
    *, user: User, performed_by: str, withdraw: bool = False, reason: str = ""
) -> ErasureResult:
    """Erase a person everywhere: their answers' links (surveys.services.person_erase, which
    also deletes the account) and their name in export audits (the export stays recorded)."""
    with transaction.atomic():
        ExportAudit.objects.filter(user=user).update(actor=f"erased user #{user.pk}")
        return survey_services.person_erase(
            user=user, performed_by=performed_by, withdraw=withdraw, reason=reason
        )


def aggregation_runs_fail_lost(
    *, started_before: datetime, queued_before: datetime
) -> list[AggregationRun]:
    """Mark as failed the runs whose worker or message was lost; return them in id order.

    Lost means still ``running`` although it started before ``started_before`` (its worker
    died, or the hard time limit killed it, before it could record an end), or still
    ``queued`` although queued before ``queued_before`` (its message went with the broker,
    e.g. in a Redis restart). ``reports.tasks.recover_stuck_runs`` derives both instants
    from the task limits and enqueues the runs' work again.

    Rows are locked as they are claimed, skipping rows another transaction holds, and the
    status is checked on the locked row, so two callers never both take a run and a run
    that has just restarted (its message redelivered) is left alone. A run failed here
    whose message is redelivered later still completes and ends ``done``: ``aggregate``
    records the outcome of whichever attempt finishes.
    """
    now = timezone.now()
    claim = AggregationRun.objects.select_for_update(skip_locked=True).order_by("pk")
    with transaction.atomic():
        running = list(
            claim.filter(status=AggregationRun.Status.RUNNING, started_at__lt=started_before)
        )
        queued = list(
            claim.filter(status=AggregationRun.Status.QUEUED, queued_at__lt=queued_before)
        )
        for run in running:
            started_at = run.started_at or now  # never None: the filter compared it
            run.error = (
                f"Worker lost: still running {(now - started_at).total_seconds():.0f} s"
                f" after it started, past the {(now - started_before).total_seconds():.0f} s"
                " a run may take; its worker died or hit the hard time limit."
            )
        for run in queued:
            run.error = (
                f"Message lost: still queued {(now - run.queued_at).total_seconds():.0f} s"
                f" after it was queued, past the {(now - queued_before).total_seconds():.0f} s"
                " in which the broker delivers or redelivers it; it was lost with the broker."
            )
        lost = sorted(running + queued, key=lambda run: run.pk)
        for run in lost:
            run.status = AggregationRun.Status.FAILED
            run.finished_at = now
        AggregationRun.objects.bulk_update(lost, ["status", "error", "finished_at"])
    return lost
