"""Exports: contents equal the database and the persisted scores in every format, anonymity
holds, bad filters are 400s, and every export lands in the audit log."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from datetime import date, datetime, timedelta
from io import StringIO

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from reports import services
from reports.authentication import api_token_create
from reports.exports import (
    ANSWER_COLUMNS,
    ANSWER_TEXT_COLUMNS,
    SCORE_COLUMNS,
    ExportRequest,
    export_start,
    neutralise_formula,
    respondent_pseudonym,
)
from reports.models import ExportAudit, QuestionScore, TeamScore
from surveys import services as survey_services
from surveys.models import Answer, Response
from tests.conftest import complete_answers
from tests.reports.test_api import submit, token_client

pytestmark = pytest.mark.django_db

FORMATS = ["csv", "json", "ndjson", "xlsx", "parquet"]


@pytest.fixture
def admin_api(admin_user):
    return token_client(admin_user)


@pytest.fixture
def answered(survey, team, other_team, member, manager, other_member, framework):
    """Counted answers with an N/A, two don't knows, awkward comments, a superseded response
    and a draft; one question replaces two keys of an earlier version."""
    na_key = framework.questions.filter(allow_na=True).order_by("order").first().key
    framework.questions.filter(order=2).update(replaces=["old-key", "older-key"])
    submit(survey, team, member, 0)  # superseded below: must not be exported
    answers = complete_answers(framework, 3, **{na_key: "na"})
    answers[0] = survey_services.AnswerInput(
        question=answers[0].question,
        score=4,
        comment='=1+1, "quoted"\nsecond line, C:\\tmp\tcafé ✓',
    )
    survey_services.response_submit(
        survey=survey,
        team=team,
        respondent=member,
        respondent_key=survey_services.respondent_key_for(member, survey),
        answers=answers,
    )
    maria = submit(survey, team, manager, 1)
    # Don't know: no score, not N/A (the model's constraint), as the respondent API stores it.
    maria.answers.filter(question__order__in=[1, 3]).update(score=None, dont_know=True)
    submit(survey, other_team, other_member, 2)
    survey_services.response_start(
        survey=survey,
        team=other_team,
        respondent_key="a:draft-only",
    )
    services.aggregate(survey=survey)
    return survey


def fetch(api, kind, **params):
    query = "&".join(f"{name}={value}" for name, value in params.items())
    response = api.get(f"/api/v1/exports/{kind}/?{query}")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def parse(body: bytes, fmt: str) -> list[dict]:
    """Read an export back into row dicts of Python values (CSV stays text)."""
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(body.decode(), newline="")))
    if fmt == "json":
        return json.loads(body)
    if fmt == "ndjson":
        # Lines end at LF only: str.splitlines() would also split at U+2028, NEL, ...,
        # which JSON text may hold unescaped.
        return [json.loads(line) for line in body.split(b"\n") if line]
    if fmt == "xlsx":
        workbook = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
        rows = []
        for sheet in workbook.worksheets:
            header, *data = list(sheet.iter_rows(values_only=True))
            # read-only sheets drop trailing empty cells: pad them back
            width = len(header)
            rows += [
                dict(zip(header, row + (None,) * (width - len(row)), strict=True)) for row in data
            ]
        return rows
    table = pq.read_table(io.BytesIO(body))
    return table.to_pylist()


def expected_answers(survey, *, pseudonyms: bool = False) -> list[dict]:
    """The counted answers, read with the ORM: the reference for every format.

    In anonymous surveys (``pseudonyms``) a respondent is their pseudonym in the team and
    ``submitted_at`` the UTC day.
    """
    order = ["response_id", "question__order"]
    if pseudonyms:  # by team and respondent key, never submission order (see exports)
        order = ["response__team__slug", "response__respondent_key", *order]
    answers = (
        Answer.objects.filter(response__survey=survey, response__status="submitted")
        .select_related("response__team", "response__respondent", "question__dimension")
        .order_by(*order)
    )
    # The (team, question)'s verdict in the survey's snapshot; "" (no checks) is empty too.
    verdicts = {
        (team_id, question_id): verdict or None
        for team_id, question_id, verdict in QuestionScore.objects.filter(
            team_score__survey=survey
        ).values_list("team_score__team_id", "question_id", "verdict")
    }
    rows = []
    for answer in answers:
        response = answer.response
        choice = answer.question.choices.filter(score=answer.score).first()
        submitted_at = response.submitted_at
        if pseudonyms:
            respondent = respondent_pseudonym(survey, response.team_id, response.respondent_key)
            submitted_at = submitted_at.date()  # UTC: the test settings' time zone
        else:
            respondent = response.respondent.username if response.respondent else ""
        rows.append(
            {
                "survey_id": survey.pk,
                "survey": survey.title,
                "team": response.team.slug,
                "respondent": respondent,
                "response_id": None if pseudonyms else response.pk,
                "submitted_at": submitted_at,
                "dimension": answer.question.dimension.key,
                "question_key": answer.question.key,
                "replaces": " ".join(answer.question.replaces),
                "question": answer.question.text,
                "choice_label": choice.label if choice else None,
                "score": answer.score,
                "max_score": answer.question.max_score,
                "na": answer.na,
                "dont_know": answer.dont_know,
                "comment": answer.comment,
                "verdict": verdicts.get((response.team_id, answer.question_id)),
            }
        )
    return rows


def in_csv(rows: list[dict]) -> list[dict]:
    """Expected answer rows as CSV shows them: text columns neutralised (CSV injection)."""
    return [
        {
            name: neutralise_formula(value)
            if name in ANSWER_TEXT_COLUMNS and value is not None
            else value
            for name, value in row.items()
        }
        for row in rows
    ]


def normalise(row: dict, fmt: str) -> dict:
    """Bring an exported row to Python types, so that every format compares alike."""
    row = dict(row)
    if fmt in ("csv", "xlsx"):
        row["survey_id"] = int(row["survey_id"])
        row["response_id"] = int(row["response_id"]) if row["response_id"] else None
        row["max_score"] = int(row["max_score"])
        row["score"] = int(row["score"]) if row["score"] not in ("", None) else None
        row["choice_label"] = row["choice_label"] or None
        row["comment"] = row["comment"] or ""
        row["respondent"] = row["respondent"] or ""
        row["replaces"] = row["replaces"] or ""
        row["verdict"] = row["verdict"] or None
    if fmt == "csv":
        row["na"] = {"true": True, "false": False}[row["na"]]
        row["dont_know"] = {"true": True, "false": False}[row["dont_know"]]
    if fmt != "parquet":
        if len(row["submitted_at"]) == len("2026-01-05"):  # anonymous surveys: the day
            row["submitted_at"] = date.fromisoformat(row["submitted_at"])
        else:
            assert row["submitted_at"].endswith("Z")
            row["submitted_at"] = datetime.fromisoformat(row["submitted_at"])
    return row


@pytest.mark.parametrize("fmt", FORMATS)
def test_answer_export_equals_the_counted_answers(answered, admin_api, fmt):
    response, body = fetch(admin_api, "answers", survey=answered.pk, format=fmt)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith(
        f'attachment; filename="answers-survey-{answered.pk}-'
    )
    assert response["Content-Disposition"].endswith(f'.{fmt}"')
    rows = parse(body, fmt)
    if fmt in ("csv", "xlsx"):
        assert list(rows[0]) == ANSWER_COLUMNS
    expected = expected_answers(answered)
    assert len(expected) == 3 * answered.framework.questions.count()
    assert [normalise(row, fmt) for row in rows] == (in_csv(expected) if fmt == "csv" else expected)
    # the awkward comment and the N/A survive every format
    assert expected[0]["comment"] == '=1+1, "quoted"\nsecond line, C:\\tmp\tcafé ✓'
    assert any(row["na"] and row["score"] is None for row in expected)
    dont_know = [row for row in expected if row["dont_know"]]
    assert len(dont_know) == 2
    assert all(row["score"] is None and not row["na"] for row in dont_know)
    assert {row["replaces"] for row in expected} == {"", "old-key older-key"}
    superseded = Response.objects.get(status="superseded").pk
    assert superseded not in {row["response_id"] for row in expected}


def test_parquet_columns_are_typed(answered, admin_api):
    _, body = fetch(admin_api, "answers", survey=answered.pk, format="parquet")
    schema = pq.read_schema(io.BytesIO(body))
    assert schema.field("survey_id").type == pa.int64()
    assert schema.field("submitted_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("score").type == pa.int16()
    assert schema.field("na").type == pa.bool_()
    assert schema.field("dont_know").type == pa.bool_()
    assert schema.field("replaces").type == pa.string()
    assert pq.ParquetFile(io.BytesIO(body)).metadata.num_rows == len(expected_answers(answered))


def test_xlsx_keeps_formula_like_text_as_text(answered, admin_api):
    _, body = fetch(admin_api, "answers", survey=answered.pk, format="xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(body)).worksheets[0]
    comment_column = ANSWER_COLUMNS.index("comment") + 1
    cell = sheet.cell(row=2, column=comment_column)
    assert cell.value == '=1+1, "quoted"\nsecond line, C:\\tmp\tcafé ✓'
    assert cell.data_type == "s"


EVIDENCE_COUNTS = [
    "evidence_checked",
    "evidence_confirmed",
    "evidence_contradicted",
    "evidence_capped",
]


def expected_scores(survey) -> list[dict]:
    rows = []
    for team_score in TeamScore.objects.filter(survey=survey).select_related("team"):
        rows.append(
            {
                "team": team_score.team.slug,
                "dimension": "overall",
                "score": team_score.score,
                "level": team_score.level,
                "n_respondents": team_score.n_respondents,
                "disagreement": None,
                "dont_know": team_score.dont_know_count,
                "evidence_checked": team_score.evidence_checked,
                "evidence_confirmed": team_score.evidence_confirmed,
                "evidence_contradicted": team_score.evidence_contradicted,
                "evidence_capped": team_score.evidence_capped,
            }
        )
        for dimension in team_score.dimensions.select_related("dimension").order_by(
            "dimension__order"
        ):
            rows.append(
                {
                    "team": team_score.team.slug,
                    "dimension": dimension.dimension.key,
                    "score": dimension.score,
                    "level": dimension.level,
                    "n_respondents": team_score.n_respondents,
                    "disagreement": dimension.disagreement,
                    "dont_know": dimension.dont_know_count,
                    **dict.fromkeys(EVIDENCE_COUNTS),  # the team's, on its overall row only
                }
            )
    return sorted(rows, key=lambda row: row["team"])  # stable: overall first per team


def evidence_counts(row: dict) -> dict[str, int | None]:
    """A score row's evidence counts as numbers, None when empty (in any format)."""
    return {name: None if row[name] in ("", None) else int(row[name]) for name in EVIDENCE_COUNTS}


@pytest.mark.parametrize("fmt", FORMATS)
def test_score_export_equals_the_persisted_scores(answered, admin_api, fmt):
    response, body = fetch(admin_api, "scores", survey=answered.pk, format=fmt)
    assert response.status_code == 200
    rows = parse(body, fmt)
    expected = expected_scores(answered)
    assert len(rows) == len(expected) == 2 * (1 + answered.framework.dimensions.count())
    for row, want in zip(rows, expected, strict=True):
        assert list(row) == SCORE_COLUMNS
        assert int(row["survey_id"]) == answered.pk
        assert row["team"] == want["team"]
        assert row["dimension"] == want["dimension"]
        assert int(row["n_respondents"]) == want["n_respondents"]
        assert int(row["dont_know"]) == want["dont_know"]
        assert int(row["level"]) == want["level"]
        # Two decimals, rounded down (never across a level threshold).
        assert float(row["score"]) == pytest.approx(
            math.floor((want["score"] + 1e-9) * 100) / 100, abs=1e-9
        )
        if fmt == "csv":
            assert len(row["score"].split(".")[1]) == 2
        if want["disagreement"] is None:
            assert row["disagreement"] in ("", None)
        else:
            assert float(row["disagreement"]) == pytest.approx(want["disagreement"], abs=5e-5)
            if fmt == "csv":
                assert len(row["disagreement"].split(".")[1]) == 4
        assert evidence_counts(row) == {name: want[name] for name in EVIDENCE_COUNTS}
    # the scoring rules: recsys answered 4/3/NA (alice) and 1 (maria), fraud 2 everywhere
    fraud_overall = rows[0]
    assert fraud_overall["dimension"] == "overall"
    assert float(fraud_overall["score"]) == pytest.approx(50.0)
    assert int(fraud_overall["level"]) == 2
    assert int(fraud_overall["dont_know"]) == 0
    # maria's two don't knows: the team's total, and each in its dimension
    recsys = [row for row in rows if row["team"] == "recsys"]
    assert recsys[0]["dimension"] == "overall" and int(recsys[0]["dont_know"]) == 2
    assert sum(int(row["dont_know"]) for row in recsys[1:]) == 2


def test_anonymous_exports_show_pseudonyms_and_withhold_small_teams(
    survey, team, other_team, member, manager, other_member, admin_api
):
    survey.anonymous = True
    survey.min_group_size = 2
    survey.save()
    submit(survey, team, member, 3)
    submit(survey, team, manager, 1)
    submit(survey, other_team, other_member, 2)  # one respondent: withheld
    survey.status = "closed"  # anonymous results are released when the survey closes
    survey.save()
    services.aggregate(survey=survey)
    for fmt in FORMATS:
        _, body = fetch(admin_api, "answers", survey=survey.pk, format=fmt)
        rows = [normalise(row, fmt) for row in parse(body, fmt)]
        expected = expected_answers(survey, pseudonyms=True)
        if fmt == "csv":
            expected = in_csv(expected)
        assert rows == [row for row in expected if row["team"] == "recsys"]
        assert {row["team"] for row in rows} == {"recsys"}
        respondents = {row["respondent"] for row in rows}
        assert len(respondents) == 2
        for value in respondents:
            assert re.fullmatch("[0-9a-f]{16}", value), value
        assert not respondents & {"alice", "maria", "ines", str(member.pk), str(manager.pk)}
        text = body.decode(errors="replace") if fmt in ("csv", "json", "ndjson") else ""
        for key in Response.objects.values_list("respondent_key", flat=True):
            assert key not in text  # nor the keys that pseudonyms are derived from
        _, body = fetch(admin_api, "scores", survey=survey.pk, format=fmt)
        assert {row["team"] for row in parse(body, fmt)} == {"recsys"}
    # stable: a later export gives the same pseudonyms
    _, again = fetch(admin_api, "answers", survey=survey.pk, format="csv")
    assert {r["respondent"] for r in parse(again, "csv")} == respondents


def test_team_and_since_filters(answered, admin_api, other_team, other_member):
    _, body = fetch(admin_api, "answers", survey=answered.pk, team="fraud", format="ndjson")
    rows = parse(body, "ndjson")
    assert {row["team"] for row in rows} == {"fraud"}
    assert len(rows) == answered.framework.questions.count()

    cutoff = timezone.now()
    Response.objects.filter(status="submitted").exclude(team=other_team).update(
        submitted_at=cutoff - timedelta(hours=1)
    )
    Response.objects.filter(status="submitted", team=other_team).update(
        submitted_at=cutoff + timedelta(seconds=1)
    )
    since = (cutoff - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    _, body = fetch(admin_api, "answers", survey=answered.pk, since=since, format="csv")
    assert {row["team"] for row in parse(body, "csv")} == {"fraud"}
    _, body = fetch(admin_api, "scores", survey=answered.pk, team="recsys", format="csv")
    assert {row["team"] for row in parse(body, "csv")} == {"recsys"}


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({}, {"survey": ["This field is required."]}),
        ({"survey": "abc"}, {"survey": ["A valid integer is required."]}),
        ({"survey": "999999"}, {"survey": ["No survey 999999."]}),
        ({"survey": "{survey}", "team": "ghost"}, {"team": ["Team 'ghost' is not part of"]}),
        ({"survey": "{survey}", "since": "yesterday"}, {"since": ["Datetime has wrong format."]}),
        ({"survey": "{survey}", "format": "pdf"}, {"format": ['"pdf" is not a valid choice.']}),
    ],
)
def test_bad_filters_are_400_with_field_messages(survey, admin_api, params, errors):
    params = {k: v.format(survey=survey.pk) for k, v in params.items()}
    for kind in ("answers", "scores"):
        response, _ = fetch(admin_api, kind, **params)
        assert response.status_code == 400
        body = response.json()
        assert set(body) == set(errors)
        for field, messages in errors.items():
            assert body[field][0].startswith(messages[0])
    assert not ExportAudit.objects.exists()


def test_every_export_is_audited_with_its_row_count(answered, admin_user, admin_api):
    _, body = fetch(admin_api, "answers", survey=answered.pk, team="recsys", format="json")
    _, scores = fetch(admin_api, "scores", survey=answered.pk, format="csv")
    audits = list(ExportAudit.objects.order_by("pk"))
    assert [(a.kind, a.format, a.status) for a in audits] == [
        ("answers", "json", "completed"),
        ("scores", "csv", "completed"),
    ]
    assert audits[0].row_count == len(json.loads(body)) == 2 * answered.framework.questions.count()
    assert audits[1].row_count == len(parse(scores, "csv"))
    assert audits[0].user == admin_user
    assert audits[0].actor == "admin"
    assert audits[0].token is not None and audits[0].via == "api"
    assert audits[0].filters == {"survey": answered.pk, "team": "recsys", "since": None}
    assert audits[0].finished_at >= audits[0].started_at


def test_a_broken_off_download_is_audited_as_aborted(answered, admin_user, monkeypatch):
    # What a WSGI server does when the client goes away: close the body iterator.
    # Small blocks: 10 rows a fetch (Python writers), a row a block (COPY on PostgreSQL).
    monkeypatch.setattr("reports.exports.FETCH_ROWS", 10)
    monkeypatch.setattr("reports.exports.STREAM_BYTES", 1)
    export = export_start(
        ExportRequest(kind="answers", survey=answered, format="ndjson"), user=admin_user
    )
    body = export.stream()
    first = next(body)
    body.close()
    audit = ExportAudit.objects.get()
    assert audit.status == "aborted"
    total = Answer.objects.filter(response__survey=answered, response__status="submitted")
    assert 0 < audit.row_count == len(first.splitlines()) < total.count()


def test_the_audit_log_is_in_the_admin(answered, admin_user, admin_api, client):
    fetch(admin_api, "scores", survey=answered.pk)
    client.force_login(admin_user)
    page = client.get("/admin/reports/exportaudit/")
    assert page.status_code == 200
    assert b"scores" in page.content and b"completed" in page.content


def test_export_command_writes_the_same_rows(answered, admin_api, tmp_path):
    target = tmp_path / "answers.parquet"
    err = StringIO()
    call_command(
        "export",
        "answers",
        "--survey",
        str(answered.pk),
        "--format",
        "parquet",
        "-o",
        str(target),
        stderr=err,
    )
    rows = [normalise(row, "parquet") for row in parse(target.read_bytes(), "parquet")]
    assert rows == expected_answers(answered)
    assert f"Wrote {len(rows)} answers rows" in err.getvalue()
    audit = ExportAudit.objects.get()
    assert audit.via == "cli" and audit.actor.startswith("cli:") and audit.row_count == len(rows)
    with pytest.raises(CommandError, match="--survey: No survey 999999"):
        call_command("export", "scores", "--survey", "999999", "-o", str(tmp_path / "x.csv"))
    with pytest.raises(CommandError, match="--since"):
        call_command("export", "scores", "--survey", str(answered.pk), "--since", "soon", "-o", "-")


def test_admin_exports_with_a_token_and_others_cannot(answered, member, manager):
    for user in (member, manager):
        response, _ = fetch(token_client(user), "scores", survey=answered.pk)
        assert response.status_code == 403
    _, key = api_token_create(user=member, expires_in=timedelta(seconds=-1))
    expired = APIClient()
    expired.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response, _ = fetch(expired, "answers", survey=answered.pk)
    assert response.status_code == 401
    assert not ExportAudit.objects.exists()


def test_anonymous_answer_rows_do_not_come_in_submission_order(survey, team, admin_api):
    """Break-it finding: rows ordered by response id listed pseudonyms in the order people
    submitted, which with other clues dated each one."""
    from tests.factories import MembershipFactory

    survey.anonymous, survey.min_group_size = True, 2
    survey.save()
    people = [MembershipFactory(team=team).user for _ in range(6)]
    submitted = [submit(survey, team, person, 2).respondent_key for person in people]
    survey.status = "closed"
    survey.save()
    _, body = fetch(admin_api, "answers", survey=survey.pk, format="ndjson")
    seen = list(dict.fromkeys(row["respondent"] for row in parse(body, "ndjson")))
    pseudonym = {key: respondent_pseudonym(survey, team.pk, key) for key in submitted}
    assert seen == [pseudonym[key] for key in sorted(submitted)]
    assert seen != [pseudonym[key] for key in submitted]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_an_exported_score_never_reaches_a_threshold_its_level_did_not(answered, admin_api, fmt):
    """Break-it finding: 79.996 at level 3 was exported as 80.00."""
    from reports.models import DimensionScore, TeamScore

    team_score = TeamScore.objects.filter(survey=answered).order_by("team__slug").first()
    TeamScore.objects.filter(pk=team_score.pk).update(score=79.996, level=3)
    DimensionScore.objects.filter(team_score=team_score).update(score=59.99999999999, level=3)
    _, body = fetch(admin_api, "scores", survey=answered.pk, format=fmt)
    rows = [row for row in parse(body, fmt) if row["team"] == team_score.team.slug]
    overall, dimension = rows[0], rows[1]
    assert float(overall["score"]) == 79.99
    assert float(dimension["score"]) == 60.0  # within the level rule's tolerance: level 3
