"""Streamed exports of answers and scores in CSV, JSON, NDJSON, XLSX and Parquet.

Columns are the contract of DESIGN.md section 5. Memory stays constant for any size:
on PostgreSQL, CSV is ``COPY (SELECT ...) TO STDOUT`` passed through as the database writes
it, and every other format reads a server-side cursor in chunks; elsewhere a plain cursor is
read in chunks. XLSX and Parquet cannot be streamed while written, so they are written in
chunks to a spooled temporary file that is streamed afterwards.

Answer rows carry the (team, question)'s evidence verdict from the survey's persisted
snapshot, score rows the team's evidence counts (issue 16).

Only counted responses (status "submitted") are exported. Teams of anonymous surveys with
fewer counted respondents than ``min_group_size`` have no rows; respondents of anonymous
surveys appear only as a pseudonym that is stable within one (survey, team), and their
``submitted_at`` only as the day.

Text that people typed must not attack the program that opens the file (issue 13): in CSV
every text cell that would start a spreadsheet formula gets a leading ``'`` (OWASP "CSV
injection"), done by the database in the COPY path and by ``neutralise_formula`` in the
Python path; both paths quote by PostgreSQL's rule (``csv_field``), so that they write the
same bytes. XLSX text cells are always string cells, escaped as OOXML requires
(``xlsx_text``). JSON, NDJSON and Parquet carry the text as stored.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import itertools
import queue
import re
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, TYPE_CHECKING, Any, TypeAlias

import orjson
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.files import File
from django.db import connection, transaction
from django.db.models import Count, Model, Q
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.dateparse import parse_datetime
from xlsxwriter.utility import xl_col_to_name

from actions.models import Action
from maturity.models import Choice, Dimension, Question
from reports.models import (
    ApiToken,
    DimensionScore,
    ExportAudit,
    ExportJob,
    QuestionScore,
    TeamScore,
)
from reports.selectors import is_withheld
from surveys.models import Answer, Response, Survey, Team

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

KINDS = ("answers", "scores", "actions")
FORMATS = ("csv", "json", "ndjson", "xlsx", "parquet")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
}
ANSWER_COLUMNS = [
    "survey_id",
    "survey",
    "team",
    "respondent",
    "response_id",
    "submitted_at",
    "dimension",
    "question_key",
    "replaces",
    "question",
    "choice_label",
    "score",
    "max_score",
    "na",
    "dont_know",
    "comment",
    "verdict",
]
SCORE_COLUMNS = [
    "survey_id",
    "team",
    "dimension",
    "score",
    "level",
    "n_respondents",
    "disagreement",
    "dont_know",
    "evidence_checked",
    "evidence_confirmed",
    "evidence_contradicted",
    "evidence_capped",
]
FETCH_ROWS = 5000
PARQUET_ROW_GROUP = 50_000
# PostgreSQL's CSV parsed by Arrow (Parquet) this many bytes at a time
ARROW_CSV_BYTES = 8 * 2**20
XLSX_SHEET_ROWS = 1_000_000  # Excel holds 1,048,576 rows per sheet
STREAM_BYTES = 256 * 1024
SPOOL_BYTES = 16 * 2**20
# PostgreSQL: sort in memory up to this, then spill; no JIT for a plain scan-and-sort.
_POSTGRES_SETTINGS = {"work_mem": "64MB", "jit": "off"}
# What ``?bom=true`` puts in front of a CSV file, so that Excel reads it as UTF-8.
UTF8_BOM = b"\xef\xbb\xbf"
# A spreadsheet reads a cell starting with one of these as a formula (OWASP, "CSV
# injection": https://owasp.org/www-community/attacks/CSV_Injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_PREFIX = "'"
# Characters an XLSX cell escapes as ``_xHHHH_``: those XML 1.0 cannot hold at all
# (https://www.w3.org/TR/xml/#charsets), and CR, which XML turns into LF when read.
_XLSX_ESCAPED = "\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff"
# ...and an underscore that a reader would otherwise take for the start of an escape.
_XLSX_ESCAPE = re.compile(f"[{_XLSX_ESCAPED}]|_(?=x[0-9A-Fa-f]{{4}}(?:_|[{_XLSX_ESCAPED}]))")


def neutralise_formula(text: str) -> str:
    """Return ``text`` with a ``'`` in front if a spreadsheet would run it as a formula.

    The OWASP rule for CSV cells: a text starting with ``=``, ``+``, ``-``, ``@``, tab or
    carriage return (``FORMULA_STARTS``) is prefixed with a single quote
    (``FORMULA_PREFIX``); any other text, the empty one included, is returned unchanged.
    ``neutralise_formula_sql`` is the same rule for PostgreSQL.
    """
    return FORMULA_PREFIX + text if text[:1] in FORMULA_STARTS else text


def neutralise_formula_sql(expression: str) -> str:
    """Return SQL (PostgreSQL) that neutralises the text ``expression`` as ``neutralise_formula``.

    NULL stays NULL. The first character is compared by its code (``ascii()``, 0 for an
    empty text): integer comparisons cost nothing measurable in a COPY of a million rows,
    where ``left(x, 1) IN (...)`` or a regular expression doubled its time.
    """
    codes = ", ".join(str(ord(character)) for character in FORMULA_STARTS)
    return (
        f"CASE WHEN ascii({expression}) IN ({codes})"
        f" THEN chr({ord(FORMULA_PREFIX)}) || {expression} ELSE {expression} END"
    )


def csv_field(text: str | None) -> str:
    """Return one CSV field as PostgreSQL's ``COPY ... (FORMAT csv)`` writes it.

    ``None`` (SQL NULL) is an empty field and an empty text is ``""``; a text holding a
    comma, a double quote, CR or LF is quoted with its quotes doubled (RFC 4180); any other
    text is written as is. Python's ``csv`` module, with ``lineterminator="\\n"``, leaves a
    lone CR unquoted, and a reader then splits the row there: hence this function.
    """
    if text is None:
        return ""
    # four scans in C beat a regular expression (the Python writer's hot path)
    if text and '"' not in text and "," not in text and "\n" not in text and "\r" not in text:
        return text
    return '"' + text.replace('"', '""') + '"'


def xlsx_text(text: str) -> str:
    """Return ``text`` as an XLSX cell holds it: OOXML ``ST_Xstring`` escapes (ECMA-376).

    Each character that XML 1.0 cannot hold (C0 controls but tab and LF, U+FFFE, U+FFFF,
    surrogates) and each CR becomes ``_xHHHH_`` (CR is ``_x000D_``, as Excel writes it),
    and an underscore that would read as the start of such an escape becomes ``_x005F_``.
    Excel decodes the escapes, so the text round-trips exactly;
    ``openpyxl.utils.escape.unescape`` decodes them for openpyxl and pandas, which show
    them as written. Tab, LF and everything else is kept as is.
    """
    return _XLSX_ESCAPE.sub(lambda match: f"_x{ord(match.group()):04X}_", text)


@dataclass(frozen=True)
class ExportRequest:
    kind: str
    survey: Survey
    team: Team | None = None
    since: datetime | None = None
    format: str = "csv"
    bom: bool = False  # CSV only: start the file with a UTF-8 byte order mark (for Excel)

    def filters(self) -> dict[str, Any]:
        return {
            "survey": self.survey.pk,
            "team": self.team.slug if self.team else None,
            "since": self.since.isoformat() if self.since else None,
        }

    def params(self) -> dict[str, Any]:
        """Return the request as the export endpoints' query takes it (``ExportQuerySerializer``),
        JSON-ready: what an export job stores and its worker validates again."""
        params: dict[str, Any] = {"survey": self.survey.pk, "format": self.format, "bom": self.bom}
        if self.team is not None:
            params["team"] = self.team.slug
        if self.since is not None:
            params["since"] = self.since.isoformat()
        return params

    def filename(self) -> str:
        team = f"-{self.team.slug}" if self.team else ""
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        return f"{self.kind}-survey-{self.survey.pk}{team}-{stamp}.{self.format}"


def respondent_pseudonym_salt(survey: Survey) -> str:
    """Return the secret (derived from SECRET_KEY) that keys a survey's pseudonyms."""
    return salted_hmac("reports.export.respondent", str(survey.pk)).hexdigest() + ":"


def respondent_pseudonym(survey: Survey, team_id: int, respondent_key: str) -> str:
    """Return a respondent's pseudonym in an anonymous survey's exports: 16 hex digits.

    It is stable for one respondent in one (survey, team), resubmissions included, and
    differs between teams, so that a member of two teams cannot be joined across them
    (issue 13). It is keyed by a secret, so neither the respondent key nor a user id can be
    recovered or guessed from it; PostgreSQL computes the same value in SQL.
    """
    return _pseudonym(respondent_pseudonym_salt(survey), f"{team_id}:{respondent_key}")


def _pseudonym(salt: str, team_and_key: str) -> str:
    return hashlib.sha256((salt + team_and_key).encode()).hexdigest()[:16]


def _utc(value: datetime | str | None) -> datetime | None:
    """Return a database timestamp (SQLite: text; naive means UTC) as an aware UTC datetime."""
    moment = parse_datetime(value) if isinstance(value, str) else value
    if moment is None:
        return None
    if timezone.is_naive(moment):
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """Format a UTC timestamp as the exports do: microseconds, ``Z``."""
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _fixed(value: Any, places: int) -> float | None:
    return None if value is None else round(float(value), places)


# One row of an export: its values in column order.
Row: TypeAlias = tuple[Any, ...]


@dataclass(frozen=True)
class Query:
    """One export's SELECT: typed rows for Python writers, text columns for COPY."""

    columns: list[str]
    typed_sql: str
    copy_sql: str | None
    params: list[Any]
    copy_params: list[Any]
    convert: Callable[[Sequence[Any]], Row] | None  # a database row -> output values
    # per column, output value -> CSV field, text columns neutralised as in copy_sql
    text: list[Callable[[Any], str]]
    arrow_types: list[Any] = field(default_factory=list)
    # PostgreSQL: one JSON object per row (row_to_json), for JSON and NDJSON over COPY
    json_sql: str | None = None


def _table(model: type[Model]) -> str:
    """Return a model's table name, quoted: SQL here never spells a table itself."""
    return connection.ops.quote_name(model._meta.db_table)


def _in(column: str, ids: list[int]) -> tuple[str, list[int]]:
    if not ids:
        return " AND 1 = 0", []
    return f" AND {column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def counted_team_ids(survey: Survey, team: Team | None) -> list[int]:
    """Return the teams whose answers may be exported: counted and not withheld."""
    counts = (
        Response.objects.filter(survey=survey, status=Response.Status.SUBMITTED)
        .values("team_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return sorted(
        row["team_id"]
        for row in counts
        if not is_withheld(survey, row["n"]) and (team is None or row["team_id"] == team.pk)
    )


def scored_team_ids(survey: Survey, team: Team | None) -> list[int]:
    """Return the teams whose persisted scores may be exported (withheld teams left out)."""
    # Roll-ups of parent teams are report pages' business, not per-team export rows.
    scores = TeamScore.objects.filter(survey=survey, is_rollup=False).values_list(
        "team_id", "n_respondents"
    )
    return sorted(
        team_id
        for team_id, n in scores
        if not is_withheld(survey, n) and (team is None or team_id == team.pk)
    )


def _csv_value(value: Any) -> str:
    """Return the CSV field of a number, boolean or ISO time, as COPY writes it.

    None of them holds a comma, a quote or a line break, or is an empty text, so none
    needs quoting.
    """
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _csv_text(value: str | None) -> str:
    """Return the CSV field of a text column: neutralised, then quoted as COPY quotes."""
    return "" if value is None else csv_field(neutralise_formula(value))


# The text columns, neutralised in CSV: all of them, whoever wrote them (people type survey
# titles, team slugs, usernames and comments; framework files hold the rest), because
# one rule for every text column is the one that cannot miss a column.
ANSWER_TEXT_COLUMNS = frozenset(
    {
        "survey",
        "team",
        "respondent",
        "dimension",
        "question_key",
        "replaces",
        "question",
        "choice_label",
        "comment",
        "verdict",
    }
)
SCORE_TEXT_COLUMNS = frozenset({"team", "dimension"})
ACTION_COLUMNS = [
    "action_id",
    "team",
    "survey_id",
    "question_key",
    "title",
    "owner",
    "due",
    "status",
    "wont_do_reason",
    "verification",
    "baseline_score",
    "verified_score",
    "verified_survey_id",
    "external_url",
    "created_at",
    "updated_at",
    "done_at",
]
ACTION_TEXT_COLUMNS = frozenset(
    {
        "team",
        "question_key",
        "title",
        "owner",
        "status",
        "wont_do_reason",
        "verification",
        "external_url",
    }
)


def _csv_formatters(columns: list[str], text_columns: frozenset[str]) -> list[Callable[[Any], str]]:
    return [_csv_text if name in text_columns else _csv_value for name in columns]


def _respondent_columns(survey: Survey, *, postgres: bool) -> tuple[str, str, list[Any]]:
    """Return the SQL of the answer rows' (respondent, submitted_at) and its parameters.

    Named surveys: the username and the time. Anonymous surveys: only the respondent key is
    read, and only its keyed hash per team (``respondent_pseudonym``) leaves the database
    or this process, never a user id or name; ``submitted_at`` is the UTC day, no finer
    (issue 13). On SQLite ``convert`` does what the database cannot.
    """
    if not survey.anonymous:
        respondent = "COALESCE(u.username, '')"
        if postgres:
            time_format = '\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\''
            return respondent, f"to_char(r.submitted_at AT TIME ZONE 'UTC', {time_format})", []
        return respondent, "r.submitted_at", []
    team_and_key = "CAST(r.team_id AS TEXT) || ':' || r.respondent_key"
    if not postgres:
        return team_and_key, "r.submitted_at", []
    respondent = f"substr(encode(sha256(convert_to(%s || {team_and_key}, 'UTF8')), 'hex'), 1, 16)"
    day = "to_char(r.submitted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    return respondent, day, [respondent_pseudonym_salt(survey)]


def _answers_convert(survey: Survey) -> Callable[[Sequence[Any]], Row]:
    """Return what turns a SQLite answer row into output values (pseudonym, ISO time)."""
    pseudonyms: dict[str, str] = {}
    salt = respondent_pseudonym_salt(survey)

    def pseudonym(team_and_key: str) -> str:
        found = pseudonyms.get(team_and_key)
        if found is None:
            if len(pseudonyms) > 10_000:  # bounded; rows come grouped by response
                pseudonyms.clear()
            found = pseudonyms[team_and_key] = _pseudonym(salt, team_and_key)
        return found

    def convert(row: Sequence[Any]) -> Row:
        moment = _utc(row[5])  # never None: counted responses have a submitted_at
        if survey.anonymous:
            respondent = pseudonym(row[3])
            submitted_at = moment.date().isoformat() if moment is not None else None
        else:
            respondent, submitted_at = row[3], iso(moment)
        na, dont_know = bool(row[13]), bool(row[14])
        return (*row[:3], respondent, row[4], submitted_at, *row[6:13], na, dont_know, *row[15:])

    return convert


# The keys a question replaces, joined by spaces, from its JSON list (["a", "b"] -> "a b"):
# plain text functions that both databases have, because the keys are slugs (the loader
# validates them: [a-z0-9-]), so brackets, quotes and commas are only the list's syntax.
# A subquery over the JSON elements would make PostgreSQL give up its parallel plan (the
# JSON export took 60 % longer).
REPLACED_KEYS_SQL = (
    "replace(replace(replace(replace(replace(CAST(q.replaces AS TEXT),"
    " '[', ''), ']', ''), '\"', ''), ', ', ','), ',', ' ')"
)


def answers_query(request: ExportRequest) -> Query:
    """Build the answer export's SELECT.

    On PostgreSQL the database formats what it can (timestamps as ISO text, pseudonyms,
    and in the CSV's COPY the neutralised text), so that rows need no per-row Python work;
    elsewhere ``convert`` does it.
    """
    import pyarrow as pa

    survey = request.survey
    postgres = connection.vendor == "postgresql"
    team_sql, team_params = _in("r.team_id", counted_team_ids(survey, request.team))
    where = " WHERE r.survey_id = %s AND r.status = 'submitted'" + team_sql
    params: list[Any] = [survey.pk, *team_params]
    if request.since is not None:
        where += " AND r.submitted_at >= %s"
        params.append(request.since)
    # The survey's verdicts per (team, question), "" (no checks) left out: a hash of the
    # checked pairs of this survey only, built through the snapshot's unique (survey, team)
    # and (team_score, question) indexes, whatever the other surveys hold. A snapshot
    # withheld for anonymity (scored when the team had fewer respondents than it has now;
    # the survey is closed, or no team would be exported) lends its answers no verdict.
    # Integers are written into the SQL: a parameter here would come before the columns'
    # in one statement and after them in the JSON one.
    verdicts = (
        f"SELECT ts.team_id, qs.question_id, qs.verdict FROM {_table(QuestionScore)} qs"  # noqa: S608
        f" JOIN {_table(TeamScore)} ts ON ts.id = qs.team_score_id"
        f" WHERE ts.survey_id = {int(survey.pk)} AND qs.verdict <> ''"
    )
    if survey.anonymous:
        verdicts += f" AND ts.n_respondents >= {int(survey.min_group_size)}"
    joins = (
        f" FROM {_table(Answer)} a"
        f" JOIN {_table(Response)} r ON r.id = a.response_id"
        f" JOIN {_table(Survey)} s ON s.id = r.survey_id"
        f" JOIN {_table(Team)} t ON t.id = r.team_id"
        f" JOIN {_table(Question)} q ON q.id = a.question_id"
        f" JOIN {_table(Dimension)} d ON d.id = q.dimension_id"
        f" LEFT JOIN {_table(Choice)} c ON c.question_id = a.question_id AND c.score = a.score"
        f" LEFT JOIN ({verdicts}) v ON v.team_id = r.team_id AND v.question_id = a.question_id"
    )
    if not survey.anonymous:
        joins += f" LEFT JOIN {_table(get_user_model())} u ON u.id = r.respondent_id"
    respondent, submitted_at, select_params = _respondent_columns(survey, postgres=postgres)

    def columns(boolean: Callable[[str], str], *, neutralised: bool = False) -> str:
        expressions = {
            "survey_id": "r.survey_id",
            "survey": "s.title",
            "team": "t.slug",
            "respondent": respondent,
            # A response id is one sequence across all surveys: matched against a named
            # survey's times it would date an anonymous response finer than the day.
            "response_id": "CAST(NULL AS BIGINT)" if survey.anonymous else "r.id",
            "submitted_at": submitted_at,
            "dimension": "d.key",
            "question_key": "q.key",
            "replaces": REPLACED_KEYS_SQL,
            "question": "q.text",
            "choice_label": "c.label",
            "score": "a.score",
            "max_score": "q.max_score",
            "na": boolean("a.na"),
            "dont_know": boolean("a.dont_know"),
            "comment": "a.comment",
            # empty (NULL) for a question without checks as for a team without a snapshot
            "verdict": "v.verdict",
        }
        if neutralised:
            # A pseudonym is hex digits, never a formula: neutralising it would only
            # compute its hash three times (and need its parameter three times).
            plain = {"respondent"} if survey.anonymous else set()
            for name in ANSWER_TEXT_COLUMNS - plain:
                expressions[name] = neutralise_formula_sql(expressions[name])
        return ", ".join(f"{sql} AS {name}" for name, sql in expressions.items())

    # Anonymous surveys: by team and respondent key (a keyed hash, so in no meaningful
    # order), not by response id, which is submission order and would date the rows.
    order = (
        ' ORDER BY t.slug, r.respondent_key, r.id, q."order"'
        if survey.anonymous
        else ' ORDER BY r.id, q."order"'
    )

    def select(selected: str) -> str:
        return f"SELECT {selected}{joins}{where}{order}"  # noqa: S608

    # The lateral row's aliases become the object's keys, in column order; integers,
    # booleans and NULLs keep their JSON types (this export has no floats to format).
    def as_is(column: str) -> str:
        return column

    def as_text(column: str) -> str:
        return f"CASE WHEN {column} THEN 'true' ELSE 'false' END"

    json_sql = (
        f"SELECT row_to_json(o){joins}"  # noqa: S608
        f" CROSS JOIN LATERAL (SELECT {columns(as_is)}) o{where}{order}"
    )
    return Query(
        columns=ANSWER_COLUMNS,
        typed_sql=select(columns(as_is)),
        copy_sql=select(columns(as_text, neutralised=True)) if postgres else None,
        json_sql=json_sql if postgres else None,
        params=[*select_params, *params],
        copy_params=[*select_params, *params],
        convert=None if postgres else _answers_convert(survey),
        text=_csv_formatters(ANSWER_COLUMNS, ANSWER_TEXT_COLUMNS),
        arrow_types=[
            pa.int64(),
            pa.string(),
            pa.string(),
            pa.string(),
            pa.int64(),
            # sent as ISO text, cast by Arrow: the UTC day in anonymous surveys
            pa.date32() if survey.anonymous else pa.timestamp("us", tz="UTC"),
            pa.string(),  # dimension
            pa.string(),  # question_key
            pa.string(),  # replaces
            pa.string(),  # question
            pa.string(),  # choice_label
            pa.int16(),
            pa.int16(),
            pa.bool_(),
            pa.bool_(),
            pa.string(),  # comment
            pa.string(),  # verdict
        ],
    )


def scores_query(request: ExportRequest) -> Query:
    """Build the score export's SELECT over the persisted snapshots.

    Per team an ``overall`` row, then its dimensions in framework order; the database
    rounds (2 decimals for scores, 4 for disagreement) so that every format agrees. The
    evidence counts (issue 16) are the team's, on its ``overall`` row; dimension rows
    leave them empty.
    """
    survey = request.survey
    team_sql, team_params = _in("ts.team_id", scored_team_ids(survey, request.team))
    where = " WHERE ts.survey_id = %s" + team_sql
    params: list[Any] = [survey.pk, *team_params]
    if request.since is not None:
        where += " AND ts.computed_at >= %s"
        params.append(request.since)

    def rounded(expression: str, places: int) -> str:
        if connection.vendor == "postgresql":
            return f"ROUND(CAST({expression} AS NUMERIC), {places})"
        return f"ROUND({expression}, {places})"

    def truncated(expression: str) -> str:
        """A 0-100 score to 2 decimals, rounded down with the level rule's 1e-9 tolerance,
        so an exported score never reaches a level threshold its level did not (79.996 is
        79.99 at level 3, not 80.00), as the pages show it (reports.display)."""
        if connection.vendor == "postgresql":
            return f"TRUNC(CAST({expression} + 1e-9 AS NUMERIC), 2)"
        # SQLite has no TRUNC without its math extension; scores are never negative.
        return f"CAST(({expression} + 1e-9) * 100 AS INTEGER) / 100.0"

    union = (
        f"SELECT ts.survey_id AS survey_id, t.slug AS team, 'overall' AS dimension,"  # noqa: S608
        f" {truncated('ts.score')} AS score, ts.level AS level,"
        " ts.n_respondents AS n_respondents, NULL AS disagreement,"
        " ts.dont_know_count AS dont_know, ts.evidence_checked AS evidence_checked,"
        " ts.evidence_confirmed AS evidence_confirmed,"
        " ts.evidence_contradicted AS evidence_contradicted,"
        " ts.evidence_capped AS evidence_capped, 0 AS position"
        f" FROM {_table(TeamScore)} ts JOIN {_table(Team)} t ON t.id = ts.team_id"
        f"{where}"
        " UNION ALL"
        " SELECT ts.survey_id, t.slug, d.key,"
        f" {truncated('ds.score')}, ds.level, ts.n_respondents,"
        f" {rounded('ds.disagreement', 4)}, ds.dont_know_count,"
        # verdicts are per question and team: a dimension row has no evidence counts
        ' NULL, NULL, NULL, NULL, d."order" + 1'
        f" FROM {_table(DimensionScore)} ds"
        f" JOIN {_table(TeamScore)} ts ON ts.id = ds.team_score_id"
        f" JOIN {_table(Team)} t ON t.id = ts.team_id"
        f" JOIN {_table(Dimension)} d ON d.id = ds.dimension_id"
        f"{where}"
    )

    def select(team: str, dimension: str) -> str:
        return (
            f"SELECT survey_id, {team} AS team, {dimension} AS dimension, score, level,"  # noqa: S608
            f" n_respondents, disagreement, dont_know, evidence_checked, evidence_confirmed,"
            " evidence_contradicted, evidence_capped"
            f" FROM ({union}) rows"
            " ORDER BY rows.team, position"
        )

    def convert(row: Sequence[Any]) -> Row:
        return (
            row[0],
            row[1],
            row[2],
            _fixed(row[3], 2),
            row[4],
            row[5],
            _fixed(row[6], 4),
            *row[7:],
        )

    def two(value: float | None) -> str:
        return "" if value is None else f"{value:.2f}"

    def four(value: float | None) -> str:
        return "" if value is None else f"{value:.4f}"

    import pyarrow as pa

    text = _csv_formatters(SCORE_COLUMNS, SCORE_TEXT_COLUMNS)
    text[SCORE_COLUMNS.index("score")] = two
    text[SCORE_COLUMNS.index("disagreement")] = four
    return Query(
        columns=SCORE_COLUMNS,
        typed_sql=select("team", "dimension"),
        copy_sql=select(
            neutralise_formula_sql("rows.team"), neutralise_formula_sql("rows.dimension")
        ),
        params=params * 2,
        copy_params=params * 2,
        convert=convert,
        text=text,
        arrow_types=[
            pa.int64(),
            pa.string(),
            pa.string(),
            pa.float64(),
            pa.int16(),
            pa.int64(),
            pa.float64(),
            pa.int64(),  # dont_know
            pa.int64(),  # evidence_checked
            pa.int64(),
            pa.int64(),
            pa.int64(),  # evidence_capped
        ],
    )


def actions_query(request: ExportRequest) -> Query:
    """Build the action export's SELECT: the improvement actions created from the round's
    roadmap (of one team with ``team``; changed at or after ``since``), oldest first.

    Actions name no respondent (``owner`` is the team member a manager chose), so anonymous
    rounds export them too. ``due`` is a date (YYYY-MM-DD), times are UTC.
    """
    where = " WHERE a.survey_id = %s"
    params: list[Any] = [request.survey.pk]
    if request.team is not None:
        where += " AND a.team_id = %s"
        params.append(request.team.pk)
    if request.since is not None:
        where += " AND a.updated_at >= %s"
        params.append(request.since)
    user_table = connection.ops.quote_name(get_user_model()._meta.db_table)
    sql = (
        "SELECT a.id, t.slug, a.survey_id, q.key, a.title, u.username, a.due, a.status,"  # noqa: S608
        " a.wont_do_reason, a.verification, a.baseline_score, a.verified_score,"
        " a.verified_survey_id, a.external_url, a.created_at, a.updated_at, a.done_at"
        f" FROM {_table(Action)} a JOIN {_table(Team)} t ON t.id = a.team_id"
        f" JOIN {_table(Question)} q ON q.id = a.question_id"
        f" LEFT JOIN {user_table} u ON u.id = a.owner_id"
        f"{where} ORDER BY a.id"
    )

    def convert(row: Sequence[Any]) -> Row:
        due = row[6]
        return (
            *row[:6],
            due.isoformat() if hasattr(due, "isoformat") else due,
            *row[7:14],
            *(iso(_utc(value)) for value in row[14:]),
        )

    import pyarrow as pa

    return Query(
        columns=ACTION_COLUMNS,
        typed_sql=sql,
        copy_sql=None,
        params=params,
        copy_params=params,
        convert=convert,
        text=_csv_formatters(ACTION_COLUMNS, ACTION_TEXT_COLUMNS),
        arrow_types=[
            pa.int64(),
            pa.string(),
            pa.int64(),
            pa.string(),
            pa.string(),
            pa.string(),
            pa.date32(),
            pa.string(),
            pa.string(),
            pa.string(),
            pa.int16(),
            pa.int16(),
            pa.int64(),
            pa.string(),
            pa.timestamp("us", tz="UTC"),
            pa.timestamp("us", tz="UTC"),
            pa.timestamp("us", tz="UTC"),
        ],
    )


_QUERIES: dict[str, Callable[[ExportRequest], Query]] = {
    "answers": answers_query,
    "scores": scores_query,
    "actions": actions_query,
}


class Export:
    """A prepared export: iterate ``stream()`` for its bytes; ``rows`` counts rows so far."""

    def __init__(self, request: ExportRequest, audit: ExportAudit | None = None) -> None:
        self.request = request
        self.audit = audit
        self.rows = 0
        # Called with ``rows`` whenever it grows (an export job's progress).
        self.on_rows: Callable[[int], None] | None = None
        self.query = _QUERIES[request.kind](request)

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.request.format]

    def estimated_rows(self) -> int:
        """Count the rows the export will have (for a progress bar)."""
        if self.request.kind in ("scores", "actions"):
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT COUNT(*) FROM ({self.query.typed_sql}) counted",  # noqa: S608
                    self.query.params,
                )
                return int(cursor.fetchone()[0])
        request = self.request
        answers = Answer.objects.filter(
            response__survey=request.survey,
            response__status=Response.Status.SUBMITTED,
            response__team_id__in=counted_team_ids(request.survey, request.team),
        )
        if request.since is not None:
            answers = answers.filter(response__submitted_at__gte=request.since)
        return answers.count()

    def stream(self) -> Iterator[bytes]:
        """Yield the file's bytes; record the row count on the audit row at the end."""
        writers = {
            "csv": self._csv,
            "json": self._json,
            "ndjson": self._ndjson,
            "xlsx": self._xlsx,
            "parquet": self._parquet,
        }
        outcome = ExportAudit.Status.ABORTED
        try:
            yield from writers[self.request.format]()
            outcome = ExportAudit.Status.COMPLETED
        finally:
            if self.audit is not None:
                ExportAudit.objects.filter(pk=self.audit.pk).update(
                    status=outcome, row_count=self.rows, finished_at=timezone.now()
                )

    # --- reading ---------------------------------------------------------------------------

    def _chunks(self) -> Iterator[list[Row]]:
        """Yield converted rows, FETCH_ROWS at a time, from a server-side cursor."""
        convert = self.query.convert
        with self._transaction(), connection.chunked_cursor() as cursor:
            cursor.execute(self.query.typed_sql, self.query.params)
            while rows := cursor.fetchmany(FETCH_ROWS):
                chunk = rows if convert is None else [convert(row) for row in rows]
                self.rows += len(chunk)
                if self.on_rows is not None:
                    self.on_rows(self.rows)
                yield chunk

    def _transaction(self) -> Any:
        # A server-side cursor streams only inside a transaction (outside one, PostgreSQL
        # materialises a WITH HOLD cursor first). On SQLite a transaction would take the
        # write lock (IMMEDIATE mode), and reads stream anyway.
        if connection.vendor != "postgresql":
            return contextlib.nullcontext()
        return _postgres_transaction()

    # --- writers ---------------------------------------------------------------------------

    def _csv(self) -> Iterator[bytes]:
        if self.request.bom:
            yield UTF8_BOM
        if connection.vendor == "postgresql" and self.query.copy_sql:
            yield from self._copy_csv()
        else:
            yield from self._python_csv()

    def _python_csv(self) -> Iterator[bytes]:
        """Yield the CSV that ``_copy_csv`` yields, byte for byte, written by Python."""
        lines = [",".join(map(csv_field, self.query.columns)) + "\n"]
        size = 0
        text = self.query.text
        for chunk in self._chunks():
            for row in chunk:
                line = ",".join([fmt(value) for fmt, value in zip(text, row, strict=True)])
                lines.append(line + "\n")  # LF, as COPY ends rows
                size += len(line) + 1
            if size >= STREAM_BYTES:
                yield "".join(lines).encode()
                lines, size = [], 0
        yield "".join(lines).encode()

    def _copy_csv(self) -> Iterator[bytes]:
        sql = f"COPY ({self.query.copy_sql}) TO STDOUT WITH (FORMAT csv, HEADER)"
        yield from self._copy_out(sql, header=True)

    def _copy_out(
        self, sql: str, *, header: bool = False, params: list[Any] | None = None
    ) -> Iterator[bytes]:
        """Yield what ``COPY ... TO STDOUT`` sends, in blocks of whole rows; count the rows."""
        pending = bytearray()
        skip = 1 if header else 0
        with self._transaction(), connection.cursor() as cursor:
            raw = cursor.cursor  # the psycopg cursor: COPY is not in the DB-API
            messages = 0
            with raw.copy(sql, self.query.copy_params if params is None else params) as copy:
                for data in copy:  # one row per message, as PostgreSQL sends it
                    pending += data
                    messages += 1
                    if len(pending) >= STREAM_BYTES:
                        self.rows = max(messages - skip, 0)
                        if self.on_rows is not None:
                            self.on_rows(self.rows)
                        yield bytes(pending)
                        pending.clear()
            self.rows = raw.rowcount if raw.rowcount >= 0 else max(messages - skip, 0)
        if pending:
            yield bytes(pending)

    def _dicts(self, chunk: list[Row]) -> list[dict[str, Any]]:
        columns = self.query.columns
        return [dict(zip(columns, row, strict=True)) for row in chunk]

    def _json(self) -> Iterator[bytes]:
        yield b"["
        first = True
        lines = self._copy_json_lines() if self._json_by_database() else None
        if lines is not None:
            for block in lines:  # whole lines: the newlines are exactly the row ends
                yield (b"" if first else b",") + block[:-1].replace(b"\n", b",")
                first = False
            yield b"]\n"
            return
        for chunk in self._chunks():
            body = orjson.dumps(self._dicts(chunk))[1:-1]
            if body:
                yield body if first else b"," + body
                first = False
        yield b"]\n"

    def _ndjson(self) -> Iterator[bytes]:
        if self._json_by_database():
            yield from self._copy_json_lines()
            return
        for chunk in self._chunks():
            yield b"".join(orjson.dumps(record) + b"\n" for record in self._dicts(chunk))

    def _json_by_database(self) -> bool:
        return connection.vendor == "postgresql" and self.query.json_sql is not None

    def _copy_json_lines(self) -> Iterator[bytes]:
        """Yield blocks of whole lines, one JSON object per row, built by PostgreSQL.

        COPY's text format doubles every backslash (and would escape control characters,
        but JSON text has none: the JSON encoder escapes them), so halving the doubled
        backslashes gives back the JSON text exactly.
        """
        for block in self._copy_out(f"COPY ({self.query.json_sql}) TO STDOUT"):
            yield block.replace(b"\\\\", b"\\")

    def _xlsx(self) -> Iterator[bytes]:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            xlsx_write(spool, self.request.kind, self.query.columns, self._chunks())
            yield from _read_back(spool)

    def _parquet(self) -> Iterator[bytes]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema(
            [
                pa.field(name, kind)
                for name, kind in zip(self.query.columns, self.query.arrow_types, strict=True)
            ]
        )
        by_database = connection.vendor == "postgresql"
        batches_of = self._copy_arrow_batches if by_database else self._arrow_batches
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            with pq.ParquetWriter(spool, schema, compression="zstd") as writer:
                batches: list[pa.RecordBatch] = []
                pending = 0
                for batch in batches_of(schema):
                    batches.append(batch)
                    pending += batch.num_rows
                    if pending >= PARQUET_ROW_GROUP:
                        writer.write_table(pa.Table.from_batches(batches, schema=schema))
                        batches, pending = [], 0
                if batches or self.rows == 0:
                    writer.write_table(pa.Table.from_batches(batches, schema=schema))
            yield from _read_back(spool)

    def _arrow_batches(self, schema: Any) -> Iterator[Any]:
        """Yield Arrow record batches of ``schema`` built from the fetched rows."""
        import pyarrow as pa

        for chunk in self._chunks():
            columns = list(zip(*chunk, strict=True))
            yield pa.RecordBatch.from_arrays(
                [
                    _arrow_column(column, kind)
                    for column, kind in zip(columns, schema.types, strict=True)
                ],
                schema=schema,
            )

    def _copy_arrow_batches(self, schema: Any) -> Iterator[Any]:
        """Yield the record batches ``_arrow_batches`` yields, parsed by Arrow from the
        database's own CSV (PostgreSQL): ``COPY`` of the typed rows, read by Arrow's CSV
        reader (C++) with the columns' types, instead of a Python object per value.

        CSV keeps NULL and the empty text apart (an unquoted empty field against ``""``),
        booleans are ``t``/``f`` and times ISO 8601 text, so Arrow reads back exactly the
        values of the rows; a property test compares the two paths. Each block COPY sends
        holds whole rows, so blocks are parsed one at a time in this thread.
        """
        import pyarrow.csv as arrow_csv

        read_options = arrow_csv.ReadOptions(column_names=list(schema.names))
        parse_options = arrow_csv.ParseOptions(newlines_in_values=True)
        convert_options = arrow_csv.ConvertOptions(
            column_types=dict(zip(schema.names, schema.types, strict=True)),
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            null_values=[""],
            true_values=["t"],
            false_values=["f"],
        )
        sql = f"COPY ({self.query.typed_sql}) TO STDOUT WITH (FORMAT csv)"
        pending: list[bytes] = []
        size = 0
        blocks = self._copy_out(sql, params=self.query.params)
        for block in itertools.chain(blocks, [b""]):
            pending.append(block)
            size += len(block)
            if size < ARROW_CSV_BYTES and block:
                continue
            if size:
                table = arrow_csv.read_csv(
                    io.BytesIO(b"".join(pending)),
                    read_options=read_options,
                    parse_options=parse_options,
                    convert_options=convert_options,
                )
                yield from table.to_batches()
            pending, size = [], 0


@contextlib.contextmanager
def _postgres_transaction() -> Iterator[None]:
    with transaction.atomic(), connection.cursor() as cursor:
        for name, value in _POSTGRES_SETTINGS.items():
            cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
        yield


def _arrow_column(values: Sequence[Any], kind: Any) -> Any:
    import pyarrow as pa

    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):  # rows carry ISO 8601 text
        return pa.array(values, type=pa.string()).cast(kind)
    return pa.array(values, type=kind)


def _read_back(spool: Any) -> Iterator[bytes]:
    spool.seek(0)
    while data := spool.read(STREAM_BYTES):
        yield data


# --- XLSX ------------------------------------------------------------------------------------
# XlsxWriter writes the workbook's package (content types, relationships, workbook with the
# sheet names, styles, document properties) and the frame of each sheet; the rows are
# written here, as XlsxWriter's constant_memory mode writes them (inline strings, no shared
# strings table, so memory stays flat however many distinct comments there are). Measured
# on our export rows (BENCHMARKS.md, issue 17): openpyxl write-only with lxml 3.6k rows/s,
# XlsxWriter constant_memory 7.1k rows/s, both spending ~8 us of Python per cell (type
# dispatch, per-cell escaping, a write per cell); one format string per cell here and one
# regular-expression test per text, with zlib compressing in a thread of its own (it
# releases the GIL), reach the 50k rows/s.
XLSX_COMPRESSLEVEL = 1  # zlib level 1: 7% larger than level 6, three times the speed
# A text that needs more than to be put in <t>: an XML or OOXML escape, or white space at
# either end (kept only under xml:space="preserve"). Most texts do not: one search each.
_XLSX_SLOW_TEXT = re.compile(f"[&<>{_XLSX_ESCAPED}]|_x[0-9A-Fa-f]{{4}}|^[ \t\n]|[ \t\n]$")
_XLSX_NEEDS_ESCAPE = re.compile(f"[&<>{_XLSX_ESCAPED}]|_x[0-9A-Fa-f]{{4}}")


def xlsx_cell_text(text: str) -> str:
    """Return ``<t>`` (with its content) of a text cell holding ``text``: ``xlsx_text``'s
    OOXML escapes, then XML's for ``&``, ``<`` and ``>``; ``xml:space="preserve"`` when
    the text starts or ends with white space, which readers would otherwise drop."""
    if _XLSX_SLOW_TEXT.search(text) is None:
        return f"<t>{text}</t>"
    if _XLSX_NEEDS_ESCAPE.search(text) is not None:
        text = xlsx_text(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if text[:1] in (" ", "\t", "\n") or text[-1:] in (" ", "\t", "\n"):
        return f'<t xml:space="preserve">{text}</t>'
    return f"<t>{text}</t>"


def xlsx_row(number: int, row: Sequence[Any], letters: Sequence[str]) -> str:
    """Return one sheet row's XML: ``number`` is its 1-based row, ``letters`` the columns'.

    A text is always an inline string cell (``t="inlineStr"``), never a formula, a number
    or an error value, whatever it holds (``=1+1``, ``123``, ``#N/A``); an empty text and
    None are no cell; booleans are boolean cells, other numbers number cells.
    """
    n = str(number)
    slow = _XLSX_SLOW_TEXT.search
    cells = [f'<row r="{n}">']
    append = cells.append
    for letter, value in zip(letters, row, strict=True):
        if value is None or value == "":
            continue
        if isinstance(value, str):
            if slow(value) is None:  # the common case, inline
                append(f'<c r="{letter}{n}" t="inlineStr"><is><t>{value}</t></is></c>')
            else:
                append(f'<c r="{letter}{n}" t="inlineStr"><is>{xlsx_cell_text(value)}</is></c>')
        elif isinstance(value, bool):
            append(f'<c r="{letter}{n}" t="b"><v>{int(value)}</v></c>')
        elif isinstance(value, int | float):
            append(f'<c r="{letter}{n}"><v>{value}</v></c>')
        else:  # a Decimal or a date: its text, as a text cell
            append(f'<c r="{letter}{n}" t="inlineStr"><is>{xlsx_cell_text(str(value))}</is></c>')
    append("</row>")
    return "".join(cells)


def _xlsx_package(sheet_names: Sequence[str]) -> dict[str, bytes]:
    """Return the parts (zip entry name -> bytes) of an XlsxWriter workbook of empty sheets."""
    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    for name in sheet_names:
        workbook.add_worksheet(name)
    workbook.close()
    with zipfile.ZipFile(buffer) as package:
        return {info.filename: package.read(info) for info in package.infolist()}


@functools.cache
def _xlsx_sheet_frames() -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]:
    """Return (head, tail) of XlsxWriter's first (selected) sheet and of any later sheet.

    The head ends with ``<sheetData>``, the tail starts with ``</sheetData>``. The head
    loses its ``<dimension ref="A1"/>`` (optional in OOXML): readers that trust it, as
    openpyxl's read-only mode does, would read one row.
    """
    parts = _xlsx_package(["first", "second"])
    frames = []
    for name in ("xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml"):
        head, marker, tail = parts[name].partition(b"<sheetData/>")
        if not marker:
            raise RuntimeError(f"XlsxWriter's empty {name} has no <sheetData/>: {parts[name]!r}")
        head = re.sub(rb"<dimension [^>]*/>", b"", head)
        frames.append((head + b"<sheetData>", b"</sheetData>" + tail))
    return frames[0], frames[1]


class _Deflater:
    """Write zip entries in a thread of its own, fed through a short queue (flat memory).

    zlib releases the GIL while it compresses, so compressing one block overlaps
    formatting the next: 75k against 45k rows/s on two cores. An error in the thread is
    raised in the caller by the next ``write`` or by ``close``.
    """

    def __init__(self, package: zipfile.ZipFile) -> None:
        self._package = package
        self._queue: queue.Queue[bytes | str | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="xlsx-deflate", daemon=True)
        self._thread.start()

    def open(self, name: str) -> None:
        """Close the entry being written, if any, and start the entry ``name``."""
        self._put(name)

    def write(self, data: bytes) -> None:
        self._put(data)

    def close(self) -> None:
        """Finish the last entry and wait for the thread; raise what failed in it."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _put(self, item: bytes | str) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(item)

    def _run(self) -> None:
        entry: IO[bytes] | None = None
        try:
            while (item := self._queue.get()) is not None:
                if isinstance(item, str):
                    if entry is not None:
                        entry.close()
                    entry = self._package.open(item, "w", force_zip64=True)
                elif entry is not None:
                    entry.write(item)
            if entry is not None:
                entry.close()
        except BaseException as error:  # raised in the caller's thread
            self._error = error
            if entry is not None:
                with contextlib.suppress(Exception):
                    entry.close()
            while self._queue.get() is not None:  # let the caller finish putting
                pass


def xlsx_write(file: IO[bytes], kind: str, columns: list[str], chunks: Iterable[list[Row]]) -> int:
    """Write an XLSX workbook of ``chunks`` of rows to ``file``; return the rows written.

    Each sheet holds a header row (``columns``) and at most XLSX_SHEET_ROWS rows; sheets
    are named ``<kind>-1``, ``<kind>-2``, ...; no row at all is one sheet ``<kind>`` with
    the header alone. Cells are ``xlsx_row``'s. Memory stays flat: rows are formatted a
    chunk at a time and compressed straight into ``file``.
    """
    letters = [xl_col_to_name(index) for index in range(len(columns))]
    (first_head, first_tail), (later_head, later_tail) = _xlsx_sheet_frames()
    header = xlsx_row(1, columns, letters).encode()
    names: list[str] = []
    written = 0
    sheet_rows = XLSX_SHEET_ROWS
    with zipfile.ZipFile(
        file, "w", zipfile.ZIP_DEFLATED, compresslevel=XLSX_COMPRESSLEVEL
    ) as package:
        deflater = _Deflater(package)
        try:
            for chunk in chunks:
                start = 0
                while start < len(chunk):
                    if sheet_rows >= XLSX_SHEET_ROWS:
                        if names:
                            deflater.write(later_tail if len(names) > 1 else first_tail)
                        names.append(f"{kind}-{len(names) + 1}")
                        deflater.open(f"xl/worksheets/sheet{len(names)}.xml")
                        deflater.write((later_head if len(names) > 1 else first_head) + header)
                        sheet_rows = 0
                    part = chunk[start : start + XLSX_SHEET_ROWS - sheet_rows]
                    first = sheet_rows + 2  # the header is row 1
                    deflater.write(
                        "".join(
                            [
                                xlsx_row(first + index, row, letters)
                                for index, row in enumerate(part)
                            ]
                        ).encode()
                    )
                    start += len(part)
                    sheet_rows += len(part)
                    written += len(part)
            if not names:
                names.append(kind)
                deflater.open("xl/worksheets/sheet1.xml")
                deflater.write(first_head + header)
            deflater.write(later_tail if len(names) > 1 else first_tail)
        finally:
            deflater.close()
        for name, data in _xlsx_package(names).items():
            if not name.startswith("xl/worksheets/sheet"):
                package.writestr(name, data)
    return written


def export_start(
    request: ExportRequest,
    *,
    user: User | AnonymousUser | None = None,
    actor: str = "",
    token: ApiToken | None = None,
    via: str = "api",
) -> Export:
    """Record the export in the audit log and return it ready to stream."""
    audit = ExportAudit.objects.create(
        user=user if user is not None and user.is_authenticated else None,
        actor=actor or getattr(user, "username", "") or "unknown",
        token=token,
        via=via,
        kind=request.kind,
        format=request.format,
        filters=request.filters(),
    )
    return Export(request, audit)


def export_rows_upper_bound(request: ExportRequest) -> int:
    """Return a cheap upper bound of an export's rows, read before anything is streamed.

    Answers: the counted responses of the exported teams (submitted at or after ``since``)
    times the framework's questions, since a response answers each question at most once;
    scores: the exported teams times (dimensions + 1, the ``overall`` row). Two small
    aggregates over responses or snapshots and one count of questions: no answer is read.
    The synchronous endpoints refuse an export above ``EXPORT_SYNC_MAX_ROWS`` with a 413.
    """
    survey = request.survey
    if request.kind == "actions":
        actions = Action.objects.filter(survey=survey)
        return actions.filter(team=request.team).count() if request.team else actions.count()
    if request.kind == "scores":
        dimensions = Dimension.objects.filter(framework_id=survey.framework_id).count()
        return len(scored_team_ids(survey, request.team)) * (dimensions + 1)
    responses = Response.objects.filter(
        survey=survey,
        status=Response.Status.SUBMITTED,
        team_id__in=counted_team_ids(survey, request.team),
    )
    if request.since is not None:
        responses = responses.filter(submitted_at__gte=request.since)
    questions = Question.objects.filter(framework_id=survey.framework_id).count()
    return responses.count() * questions


# --- export jobs (issue 17) -------------------------------------------------------------------
# Seconds between two writes of a running job's progress (rows written).
JOB_PROGRESS_SECONDS = 1.0
_DOWNLOAD_SALT = "reports.exports.download"


def export_job_create(
    request: ExportRequest, *, owner: User, token: ApiToken | None = None
) -> ExportJob:
    """Record an export job for a worker to run (``reports.tasks.enqueue_export_job``)."""
    return ExportJob.objects.create(
        owner=owner,
        token=token,
        kind=request.kind,
        format=request.format,
        params=request.params(),
        rows_estimated=export_rows_upper_bound(request),
    )


def export_job_run(job: ExportJob, request: ExportRequest) -> ExportJob:
    """Write ``job``'s export into its file in the export storage; return the job, done.

    Audited as every export is (``export_start``, ``via="job"``, in the owner's name);
    ``rows_written`` is saved at most every JOB_PROGRESS_SECONDS while it runs, and
    ``rows_estimated`` is the exact count read at the start. The file is written to a local
    temporary file first and then saved through Django's storage API, so that a failed or
    interrupted run leaves nothing in the storage. Errors propagate; the caller records
    them (``export_job_fail``).
    """
    export = export_start(request, user=job.owner, token=job.token, via="job")
    now = timezone.now()
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportJob.Status.RUNNING,
        started_at=now,
        audit=export.audit,
        rows_estimated=export.estimated_rows(),
        rows_written=0,
        error="",
    )
    saved_at = [time.monotonic()]

    def progress(rows: int) -> None:
        if time.monotonic() - saved_at[0] >= JOB_PROGRESS_SECONDS:
            ExportJob.objects.filter(pk=job.pk).update(rows_written=rows)
            saved_at[0] = time.monotonic()

    export.on_rows = progress
    with tempfile.TemporaryFile() as written:
        for block in export.stream():
            written.write(block)
        size = written.tell()
        written.seek(0)
        job.file.save(request.filename(), File(written), save=False)
    finished = timezone.now()
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportJob.Status.DONE,
        file=job.file.name,
        size=size,
        rows_written=export.rows,
        finished_at=finished,
        expires_at=finished + timedelta(seconds=settings.EXPORT_FILE_SECONDS),
    )
    job.refresh_from_db()
    return job


def export_job_fail(job_id: int, error: str) -> None:
    """Record that a job failed, with why (shown in ``GET /api/v1/exports/{id}/``)."""
    ExportJob.objects.filter(pk=job_id).update(
        status=ExportJob.Status.FAILED, error=error[:2000], finished_at=timezone.now()
    )


def export_jobs_delete_expired(*, now: datetime | None = None) -> int:
    """Delete the files of done jobs whose ``expires_at`` has passed; return how many.

    Each job is claimed with a conditional update (status done -> expired) before its
    file is deleted, so that two cleanups running at once delete each file once. A file
    already missing from the storage is not an error.
    """
    now = now or timezone.now()
    deleted = 0
    due = ExportJob.objects.filter(status=ExportJob.Status.DONE, expires_at__lte=now)
    for job in due.only("pk", "file").iterator():
        claimed = ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.DONE).update(
            status=ExportJob.Status.EXPIRED, file=""
        )
        if claimed and job.file.name:
            job.file.storage.delete(job.file.name)
            deleted += 1
    return deleted


def export_jobs_fail_lost(*, now: datetime | None = None) -> int:
    """Fail the jobs whose worker or message was lost; return how many.

    A queued job's message is handed to another worker after the broker's visibility
    timeout, and a running one ends within the hard time limit (CELERY_TASK_TIME_LIMIT):
    a job still queued or running AGGREGATION_RECOVERY_MARGIN seconds after that is lost.
    Its error says so; a late message for it then does nothing (``run_export_job``).
    """
    now = now or timezone.now()
    margin = settings.AGGREGATION_RECOVERY_MARGIN
    queued_for = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] + margin
    running_for = settings.CELERY_TASK_TIME_LIMIT + margin
    lost = ExportJob.objects.filter(
        Q(status=ExportJob.Status.QUEUED, created_at__lt=now - timedelta(seconds=queued_for))
        | Q(status=ExportJob.Status.RUNNING, started_at__lt=now - timedelta(seconds=running_for))
    )
    return lost.update(
        status=ExportJob.Status.FAILED,
        finished_at=now,
        error="The job was lost (its worker stopped or its message was dropped) and did not "
        "finish in time; create it again.",
    )


def export_download_token(job: ExportJob) -> tuple[str, datetime]:
    """Return a signed token for downloading ``job``'s file and when it stops working.

    It is valid for EXPORT_DOWNLOAD_URL_SECONDS, or until the file expires if sooner.
    """
    token = signing.TimestampSigner(salt=_DOWNLOAD_SALT).sign(str(job.pk))
    valid_until = timezone.now() + timedelta(seconds=settings.EXPORT_DOWNLOAD_URL_SECONDS)
    if job.expires_at is not None:
        valid_until = min(valid_until, job.expires_at)
    return token, valid_until


def export_download_token_valid(job: ExportJob, token: str) -> bool:
    """Return whether ``token`` is a download token of ``job`` that has not expired."""
    try:
        signed = signing.TimestampSigner(salt=_DOWNLOAD_SALT).unsign(
            token, max_age=settings.EXPORT_DOWNLOAD_URL_SECONDS
        )
    except signing.BadSignature:  # SignatureExpired included
        return False
    return signed == str(job.pk)
