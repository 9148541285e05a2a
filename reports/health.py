"""Question health: how each question behaved in a survey's counted answers (issue 15).

The statistics are ``maturity.quality`` (pure); this module feeds them every counted answer
of a survey and stores what comes out, replacing the survey's rows in one transaction. The
aggregation worker runs it: at the end of every survey-wide aggregation (so at the close of
a round) and, for open surveys with submissions or withdrawals newer than their rows, every
QUESTION_HEALTH_SECONDS (beat ``refresh-question-health``). Pages and the API only read.

What counts is what scoring counts: the answers of counted responses (the latest submission
of each respondent, neither withdrawn nor superseded), only to questions in the answering
team's ``asked`` plan (``surveys.selectors.round_plans``). Choice, N/A and don't-know
answers all count toward a question's rates; only choices toward its statistics.

Anonymity follows the reports: an anonymous survey that is still open has no question
health (nothing is computed or kept; results are released at the close); once closed, only
the answers of teams whose results are released count (``reports.selectors.is_withheld``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from itertools import chain

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from maturity import quality
from reports.models import DimensionHealth, QuestionHealth
from reports.selectors import health_thresholds, is_withheld, survey_withheld_reason
from reports.services import _COUNTED, FrameworkTables, framework_tables
from surveys.models import Response, Survey
from surveys.selectors import round_plans

# Every counted answer that says something (a choice, N/A or don't know; not a draft note
# left without an answer), in one query, as four integers: the choice's score, or NA_CODE
# or DONT_KNOW_CODE (integers only: 1M rows become one NumPy array without a per-row
# conversion: 1.5 s less than a DataFrame of mixed columns in benchmarks/quality.py).
NA_CODE, DONT_KNOW_CODE = -1, -2
_ANSWERS_SQL = (
    "SELECT a.response_id, r.team_id, a.question_id,"  # noqa: S608
    f" CASE WHEN a.score IS NOT NULL THEN a.score WHEN a.na THEN {NA_CODE}"
    f" ELSE {DONT_KNOW_CODE} END{_COUNTED} AND (a.score IS NOT NULL OR a.na OR a.dont_know)"
)
_CHUNK_ROWS = 50_000


@dataclass(frozen=True)
class HealthRun:
    """What one computation did: rows written, answers and teams read, timings (ms).

    ``withheld_reason`` is set (and nothing stored) for an open anonymous survey;
    ``written`` is False when a computation that read newer answers had already stored
    its rows.
    """

    questions: int
    dimensions: int
    answers: int
    teams: int
    computed_at: datetime
    withheld_reason: str | None = None
    written: bool = True
    load_ms: float = 0.0
    compute_ms: float = 0.0
    persist_ms: float = 0.0


def counted_answers(survey: Survey, tables: FrameworkTables | None = None) -> pd.DataFrame:
    """Return the survey's counted answers as ``maturity.quality.ANSWER_COLUMNS``.

    One query reads them all; answers to questions outside their team's asked plan are
    dropped, and in an anonymous survey the answers of teams whose results are withheld.
    ``response`` and ``team`` are ids, ``question`` and ``dimension`` keys, ``score`` a
    float (NaN for N/A or don't know).
    """
    tables = tables or framework_tables(survey.framework)
    chunks = [np.empty(0, dtype=np.int64)]
    with connection.cursor() as cursor:
        cursor.execute(_ANSWERS_SQL, [survey.pk])
        # In chunks: Python tuples of a million rows would take 150 MB at once.
        while rows := cursor.fetchmany(_CHUNK_ROWS):
            flat = chain.from_iterable(rows)
            chunks.append(np.fromiter(flat, dtype=np.int64, count=4 * len(rows)))
    response, team, question_id, code = np.concatenate(chunks).reshape(-1, 4).T
    if survey.anonymous:
        # Counted respondents per team, before any question is dropped: the number the
        # reports and exports withhold on.
        respondents = pd.Series(response).groupby(team).nunique()
        released = [t for t, n in respondents.items() if not is_withheld(survey, int(n))]
        keep = np.isin(team, released)
        response, team, question_id, code = (
            column[keep] for column in (response, team, question_id, code)
        )
    # (team, question) pairs as one integer each, to test membership in the asked plans.
    width = max([int(question_id.max(initial=0)), *tables.question_keys]) + 1
    asked = [
        team_id * width + question
        for team_id, plan in round_plans(survey).items()
        for question in plan.asked
    ]
    keep = np.isin(team * width + question_id, np.array(asked, dtype=np.int64))
    questions = tables.frames.questions.assign(
        id=tables.frames.questions["question"].map(tables.question_ids)
    ).set_index("id")
    rows_of = questions.index.get_indexer(question_id[keep])
    score = code[keep].astype(float)
    score[score < 0] = np.nan
    return pd.DataFrame(
        {
            "response": response[keep],
            "team": team[keep],
            "question": questions["question"].to_numpy()[rows_of],
            "dimension": questions["dimension"].to_numpy()[rows_of],
            "score": score,
            "max_score": questions["max_score"].to_numpy(dtype=float)[rows_of],
            "na": code[keep] == NA_CODE,
            "dont_know": code[keep] == DONT_KNOW_CODE,
        },
        columns=quality.ANSWER_COLUMNS,
    )


def question_health_refresh(*, survey: Survey) -> HealthRun:
    """Compute the survey's question and dimension health and replace its stored rows.

    An open anonymous survey gets none: its rows are deleted and nothing is read. The rows
    are written under a lock of the survey's row, and only when no computation that read
    later answers stored its rows meanwhile; the survey's anonymity is checked again there,
    so a survey reopened during the computation keeps nothing either.
    """
    computed_at = timezone.now()  # before the read: submissions after it make the rows stale
    if survey_withheld_reason(survey) is not None:
        return _withhold(survey, computed_at)
    started = time.perf_counter()
    tables = framework_tables(survey.framework)
    answers = counted_answers(survey, tables)
    loaded = time.perf_counter()
    questions = quality.question_health(answers, health_thresholds())
    dimensions = quality.dimension_health(answers)
    computed = time.perf_counter()

    with transaction.atomic():
        locked = Survey.objects.select_for_update().get(pk=survey.pk)
        if survey_withheld_reason(locked) is not None:
            return _withhold(locked, computed_at)
        newest = QuestionHealth.objects.filter(survey=survey).aggregate(at=Max("computed_at"))
        written = newest["at"] is None or newest["at"] <= computed_at
        if written:
            _replace(survey, questions, dimensions, tables, computed_at)
    persisted = time.perf_counter()
    return HealthRun(
        questions=len(questions),
        dimensions=len(dimensions),
        answers=len(answers),
        teams=int(answers["team"].nunique()),
        computed_at=computed_at,
        written=written,
        load_ms=round((loaded - started) * 1000, 2),
        compute_ms=round((computed - loaded) * 1000, 2),
        persist_ms=round((persisted - computed) * 1000, 2),
    )


def _withhold(survey: Survey, computed_at: datetime) -> HealthRun:
    with transaction.atomic():
        QuestionHealth.objects.filter(survey=survey).delete()
        DimensionHealth.objects.filter(survey=survey).delete()
    return HealthRun(0, 0, 0, 0, computed_at, withheld_reason=survey_withheld_reason(survey))


def _replace(
    survey: Survey,
    questions: pd.DataFrame,
    dimensions: pd.DataFrame,
    tables: FrameworkTables,
    computed_at: datetime,
) -> None:
    QuestionHealth.objects.filter(survey=survey).delete()
    DimensionHealth.objects.filter(survey=survey).delete()
    question_ids, dimension_ids = tables.question_ids, tables.dimension_ids
    QuestionHealth.objects.bulk_create(
        QuestionHealth(
            survey=survey,
            question_id=question_ids[row["question"]],
            n_answers=int(row["n_answers"]),
            na_rate=float(row["na_rate"]),
            dont_know_rate=float(row["dont_know_rate"]),
            agreement=_number(row["agreement"]),
            agreement_teams=int(row["agreement_teams"]),
            top_share=_number(row["top_share"]),
            item_rest=_number(row["item_rest"]),
            flags=list(row["flags"]),
            computed_at=computed_at,
        )
        for row in questions.to_dict("records")
    )
    DimensionHealth.objects.bulk_create(
        DimensionHealth(
            survey=survey,
            dimension_id=dimension_ids[row["dimension"]],
            questions=int(row["questions"]),
            n_complete=int(row["n_complete"]),
            cronbach_alpha=_number(row["cronbach_alpha"]),
            computed_at=computed_at,
        )
        for row in dimensions.to_dict("records")
    )


def _number(value: object) -> float | None:
    """Return a statistic as a float; None where it is undefined (NaN)."""
    number = float(value)  # type: ignore[arg-type]
    return None if np.isnan(number) else number


def question_health_stale_surveys() -> list[int]:
    """Return the ids of open surveys whose question health is older than their answers.

    Stale: a response was submitted or withdrawn after the rows' ``computed_at`` (or there
    are counted responses and no rows). Open anonymous surveys have no question health and
    are never stale. A survey whose counted answers yield no rows at all (every answer
    outside its team's plan) stays stale and is recomputed each time, which costs one read.
    """
    open_surveys = Survey.objects.filter(status=Survey.Status.OPEN, anonymous=False)
    changed = (
        Response.objects.filter(survey__in=open_surveys)
        .exclude(status=Response.Status.DRAFT)
        .values("survey_id")
        .annotate(submitted=Max("submitted_at"), withdrawn=Max("withdrawn_at"))
        .order_by()
    )
    computed = dict(
        QuestionHealth.objects.filter(survey__in=open_surveys)
        .values("survey_id")
        .annotate(at=Max("computed_at"))
        .order_by()
        .values_list("survey_id", "at")
    )
    stale = []
    for row in changed:
        at = computed.get(row["survey_id"])
        latest = max(moment for moment in (row["submitted"], row["withdrawn"]) if moment)
        if at is None or latest > at:
            stale.append(row["survey_id"])
    return sorted(stale)
