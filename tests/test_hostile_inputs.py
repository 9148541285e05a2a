"""A hand-written list of hostile inputs against web forms, the API and the CLI (issue 13,
section 4): each gets a clear refusal with the one right status, never a 500 or a
traceback, and nothing is half-written."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from maturity.models import Framework
from reports.models import ApiToken, ExportAudit
from surveys.models import Answer, Invitation, Response, Survey, Team

pytestmark = pytest.mark.django_db


def cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def nested(depth: int) -> bytes:
    return b'{"team": "recsys", "answers": ' + b"[" * depth + b"]" * depth + b"}"


@dataclass(frozen=True)
class Api:
    """One hostile API request and the status it must get."""

    name: str
    method: str
    path: str
    status: int
    body: Any = None
    raw: bytes | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    as_admin: bool = False
    code: str | None = None  # the JSON error code, where the contract names one


def answers(**change: Any) -> list[dict[str, Any]]:
    """A complete, valid answer list (the shipped framework's keys) with one answer changed."""
    from maturity.schema import parse_framework_file
    from tests.conftest import MLOPS_YAML

    keys = [q.key for _, q in parse_framework_file(MLOPS_YAML).questions()]
    result = [{"question": key, "choice": 2} for key in keys]
    result[0] = {**result[0], **change}
    return result


SUBMIT = "/api/v1/surveys/{survey}/responses/"
API_CASES = [
    Api("comment with a NUL", "post", SUBMIT, 400, {"team": "recsys", "answers": answers(comment="a\x00b")}),
    Api("comment with a lone surrogate", "post", SUBMIT, 400, raw=b'{"team": "recsys", "answers": [{"question": "x", "choice": 1, "comment": "\\ud800"}]}'),
    Api("comment over 5,000 characters", "post", SUBMIT, 400, {"team": "recsys", "answers": answers(comment="x" * 5001)}),
    Api("answers is a string", "post", SUBMIT, 400, {"team": "recsys", "answers": "all of them"}),
    Api("answers is empty", "post", SUBMIT, 400, {"team": "recsys", "answers": []}),
    Api("1,001 answers", "post", SUBMIT, 400, {"team": "recsys", "answers": [{"question": "x", "choice": 1}] * 1001}),
    Api("an answer is a number", "post", SUBMIT, 400, {"team": "recsys", "answers": [7]}),
    Api("choice is a fraction", "post", SUBMIT, 400, {"team": "recsys", "answers": answers(choice=2.5)}),
    Api("choice is negative", "post", SUBMIT, 400, {"team": "recsys", "answers": answers(choice=-1)}),
    Api("choice is huge", "post", SUBMIT, 400, {"team": "recsys", "answers": answers(choice=10**30)}),
    Api("choice is a boolean", "post", SUBMIT, 400, {"team": "recsys", "answers": answers(choice=True)}),
    Api("choice is not offered", "post", SUBMIT, 400, {"team": "recsys", "answers": answers(choice=9)}),
    Api("choice and N/A together", "post", SUBMIT, 400, {"team": "recsys", "answers": answers(na=True)}),
    Api("na is an object", "post", SUBMIT, 400, {"team": "recsys", "answers": answers(na={"x": 1})}),
    Api("a question answered twice", "post", SUBMIT, 400, {"team": "recsys", "answers": [*answers(), answers()[1]]}),
    Api("an unknown question", "post", SUBMIT, 400, {"team": "recsys", "answers": [*answers(), {"question": "<script>", "choice": 1}]}),
    Api("team with a NUL", "post", SUBMIT, 400, {"team": "rec\x00sys", "answers": answers()}),
    Api("team of 10,000 characters", "post", SUBMIT, 400, {"team": "a" * 10000, "answers": answers()}),
    Api("a team not in the survey", "post", SUBMIT, 400, {"team": "nobody", "answers": answers()}),
    Api("body 10,000 arrays deep", "post", SUBMIT, 400, raw=nested(10_000), code="parse_error"),
    Api("body 100,000 arrays deep", "post", SUBMIT, 400, raw=nested(100_000), code="parse_error"),
    Api("body is not JSON", "post", SUBMIT, 400, raw=b'{"team": ', code="parse_error"),
    Api("body is a JSON array", "post", SUBMIT, 400, raw=b"[1, 2]"),
    Api("body is a JSON string", "post", SUBMIT, 400, raw=b'"recsys"'),
    Api("body is NaN", "post", SUBMIT, 400, raw=b"NaN", code="parse_error"),
    Api("body is text/plain", "post", SUBMIT, 415, raw=b"team=recsys", content_type="text/plain"),
    Api("body of 3 MB", "post", SUBMIT, 413, raw=b'{"team": "' + b"a" * 3_000_000 + b'"}', code="request_too_large"),
    Api("Idempotency-Key of 300 characters", "post", SUBMIT, 400, {"team": "recsys", "answers": answers()}, headers={"Idempotency-Key": "k" * 300}),
    Api("survey id beyond bigint", "post", "/api/v1/surveys/99999999999999999999999/responses/", 404, {"team": "recsys", "answers": answers()}, code="not_found"),
    Api("a forged cursor on memberships", "get", "/api/v1/memberships/?cursor=" + cursor("p=abc"), 400),
    Api("a forged cursor on surveys", "get", "/api/v1/surveys/?cursor=" + cursor("p=abc"), 400),
    Api("a forged cursor on runs", "get", "/api/v1/aggregation-runs/?cursor=" + cursor("p=abc"), 400, as_admin=True),
    Api("a cursor that is not base64", "get", "/api/v1/surveys/?cursor=%%%", 400),
    Api("a cursor with a NUL position", "get", "/api/v1/teams/?cursor=" + cursor("p=a\x00b"), 400),
    Api("a cursor beyond bigint", "get", "/api/v1/surveys/?cursor=" + cursor("p=99999999999999999999999"), 400),
    Api("a cursor with a negative offset", "get", "/api/v1/surveys/?cursor=" + cursor("o=-5"), 400),
    Api("page_size=false", "get", "/api/v1/surveys/?page_size=false", 400),
    Api("page_size=-1", "get", "/api/v1/memberships/?page_size=-1", 400),
    Api("page_size=abc", "get", "/api/v1/teams/?page_size=abc", 400),
    Api("page_size=0", "get", "/api/v1/frameworks/?page_size=0", 400),
    Api("page_size over the maximum", "get", "/api/v1/surveys/?page_size=100000", 400),
    Api("page_size of 5,000 digits", "get", "/api/v1/surveys/?page_size=" + "9" * 5000, 400),
    Api("page_size on scores", "get", "/api/v1/surveys/{survey}/scores/?page_size=abc", 400),
    Api("a filter with a NUL", "get", "/api/v1/teams/?name=a%00b", 400),
    Api("export ?survey=abc", "get", "/api/v1/exports/answers/?survey=abc", 400, as_admin=True),
    Api("export ?format=pdf", "get", "/api/v1/exports/scores/?survey={survey}&format=pdf", 400, as_admin=True),
    Api("export ?since=yesterday", "get", "/api/v1/exports/answers/?survey={survey}&since=yesterday", 400, as_admin=True),
    Api("framework ?version=abc", "get", "/api/v1/frameworks/mlops/?version=abc", 400),
    Api("an unknown endpoint", "get", "/api/v1/no-such-thing/", 404, code="not_found"),
    Api("a survey id that is a word", "get", "/api/v1/surveys/abc/", 404, code="not_found"),
    Api("a survey id with a dot", "get", "/api/v1/surveys/1.exe/", 404, code="not_found"),
    Api("scores of a survey beyond bigint", "get", "/api/v1/surveys/99999999999999999999999/scores/", 404, code="not_found"),
    Api("a team slug with a NUL", "get", "/api/v1/teams/a%00b/", 404, code="not_found"),
    Api("a membership id that is a word", "delete", "/api/v1/memberships/abc/", 404, as_admin=True, code="not_found"),
    Api("a survey with closes_at before opens_at", "post", "/api/v1/surveys/", 400, {"title": "t", "framework": "mlops", "opens_at": "2026-01-02T00:00:00Z", "closes_at": "2026-01-01T00:00:00Z"}, as_admin=True),
    Api("a survey title with a NUL", "post", "/api/v1/surveys/", 400, {"title": "a\x00b", "framework": "mlops"}, as_admin=True),
    Api("a team that is its own parent", "patch", "/api/v1/teams/recsys/", 400, {"parent": "recsys"}, as_admin=True),
]  # fmt: skip


def counts() -> dict[str, int]:
    """What a hostile request must leave as it was."""
    return {
        model.__name__: model.objects.count()
        for model in (Response, Answer, Survey, Team, Invitation, Framework, ApiToken)
    }


@pytest.mark.parametrize("case", API_CASES, ids=[case.name for case in API_CASES])
def test_hostile_api_requests_get_one_clear_refusal(
    case, survey, team, member, admin_user, framework
):
    api = APIClient()
    api.force_authenticate(admin_user if case.as_admin else member)
    before = counts()
    path = case.path.format(survey=survey.pk)
    send = getattr(api, case.method)
    if case.raw is not None:
        result = send(path, case.raw, content_type=case.content_type, headers=case.headers)
    elif case.body is not None:
        result = send(path, case.body, format="json", headers=case.headers)
    else:
        result = send(path, headers=case.headers)
    assert result.status_code == case.status, getattr(result, "content", b"")[:500]
    assert result["Content-Type"].startswith("application/json")
    body = json.loads(b"".join(getattr(result, "streaming_content", [result.content])))
    if case.code is not None:
        assert body["code"] == case.code
    assert counts() == before


def test_every_404_under_the_api_is_json(client, member):
    client.force_login(member)
    for path in (
        "/api/v1/",
        "/api/v1/surveys/0/",
        "/api/v1/surveys/0/scores/",
        "/api/v1/surveys/0/recommendations/",
        "/api/v1/aggregation-runs/0/",
        "/api/v1/frameworks/no-such/",
        "/api/v1/teams/no-such/",
        "/api/v1/surveys/1/responses/x/",
        "/api/v1/exports/0/",  # POST /api/v1/exports/ creates export jobs
        "/api/v1/exports/0/download/",
        "/api/v1/%E2%80%AE/",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found", path


@pytest.fixture
def page(survey, team, member, framework):
    dimension = framework.dimensions.order_by("order").first()
    question = dimension.questions.order_by("order").first()
    return {
        "url": reverse("survey-dimension", args=[survey.pk, team.slug, dimension.key]),
        "question": question,
    }


WEB_CASES = [
    ("a comment with a NUL", lambda q: {f"q-{q.key}": "2", f"comment-{q.key}": "a\x00b"}, "Null characters are not allowed."),
    ("a comment over 5,000 characters", lambda q: {f"comment-{q.key}": "x" * 5001}, "no more than 5000 characters"),
    ("a level beyond any integer", lambda q: {f"q-{q.key}": "9" * 40}, "Choose one of the offered levels."),
    ("a level with a NUL", lambda q: {f"q-{q.key}": "2\x00"}, "Choose one of the offered levels."),
    ("a level that is a word", lambda q: {f"q-{q.key}": "best"}, "Choose one of the offered levels."),
    ("a level in superscript digits", lambda q: {f"q-{q.key}": "²"}, "Choose one of the offered levels."),
    ("a level in Arabic-Indic digits", lambda q: {f"q-{q.key}": "٣"}, "Choose one of the offered levels."),
    ("N/A where it is not offered", lambda q: {f"q-{q.key}": "na"}, "cannot be answered N/A"),
    ("a level not offered", lambda q: {f"q-{q.key}": "7"}, "is not offered"),
]  # fmt: skip


@pytest.mark.parametrize("build,message", [c[1:] for c in WEB_CASES], ids=[c[0] for c in WEB_CASES])
def test_hostile_survey_page_posts_are_refused_on_the_page(client, member, page, build, message):
    client.force_login(member)
    before = counts()
    result = client.post(page["url"], build(page["question"]))
    assert result.status_code == 422
    assert message in result.content.decode().replace("&#x27;", "'")
    # The draft exists (opening the page starts it), but no answer was written.
    assert Answer.objects.count() == before["Answer"]


def test_hostile_autosaves_are_json_refusals(client, member, page):
    client.force_login(member)
    question = page["question"]
    autosave = page["url"] + "autosave/"
    for body in (
        f"comment-{question.key}=a%00b",
        f"q-{question.key}=%ED%A0%80",  # a lone surrogate, as UTF-8 bytes
        f"q-{question.key}=-1",
        f"q-{question.key}=%C2%B2",  # "²": a digit to str.isdigit, not to int()
    ):
        result = client.post(
            autosave,
            body,
            content_type="application/x-www-form-urlencoded",
            headers={"accept": "application/json"},
        )
        assert result.status_code == 422, body
        assert result.json()["code"] == "invalid"
    assert not Answer.objects.exists()


def test_hostile_manager_forms_are_refused_with_messages(client, survey, team, manager):
    client.force_login(manager)
    url = reverse("survey-invitations", args=[survey.pk, team.slug])
    for form, message in (
        ({"max_uses": "abc"}, "Enter a whole number."),
        ({"max_uses": "-3"}, "greater than or equal to 1"),
        ({"expires_at": "31/31/2031"}, "Enter a valid date/time."),
        ({"expires_at": "2001-01-01 00:00"}, "The expiry must be in the future."),
        ({"action": "email", "emails": "not-an-address"}, "Not valid e-mail addresses"),
        (
            {"action": "email", "emails": " ".join(f"a{i}@x.test" for i in range(201))},
            "At most 200",
        ),
        ({"action": "email", "emails": "a@x.test\x00"}, "Null characters are not allowed."),
    ):
        result = client.post(url, form)
        assert result.status_code == 422, form
        assert message in result.content.decode().replace("&#x27;", "'"), form
    assert not Invitation.objects.exists()


def test_hostile_report_parameters_are_not_found(client, survey, manager):
    client.force_login(manager)
    # 5,000 digits: more than Python turns into an int (sys.get_int_max_str_digits).
    for query in ("abc", "99999999999999999999999", "9" * 5000, "1%00", "-1", "%C2%B2", "%D9%A3"):
        assert client.get(f"/reports/teams/recsys/?survey={query}").status_code == 404
        assert client.get(f"/reports/?survey={query}").status_code == 404
        assert client.get(f"/reports/heatmap.json?survey={query}").status_code == 404


def test_a_login_with_hostile_fields_is_refused(client):
    result = client.post("/accounts/login/", {"username": "a\x00b", "password": "x" * 10000})
    assert result.status_code == 200
    assert "didn" in result.content.decode()


@pytest.mark.parametrize(
    "content,message",
    [
        ("slug: a\nslug: b\n", "duplicate key 'slug'"),
        ("a: " + "[" * 10_000 + "]" * 10_000 + "\n", "nests deeper than 50 levels"),
        ("a: &x [1]\nb: *x\n", "aliases (*name) are not allowed"),
        ("a: [1, 2\n", "invalid YAML"),
        ("- just\n- a list\n", "a mapping at the top level"),
        ("slug: Not A Slug\n", "slug"),
        ("\x00\x01binary", "invalid YAML"),
    ],
    ids=["duplicate key", "10,000 deep", "alias", "unclosed list", "a list", "bad slug", "binary"],
)
def test_hostile_framework_files_are_refused_and_nothing_is_written(
    no_frameworks, tmp_path: Path, content: str, message: str
):
    path = tmp_path / "hostile.yaml"
    path.write_text(content, encoding="utf-8")
    for arguments in ((str(path),), ("--check", str(path))):
        with pytest.raises(CommandError) as refused:
            call_command("load_framework", *arguments)
        assert str(refused.value).startswith("hostile.yaml: ")
        assert message in str(refused.value)
    assert not Framework.objects.exists()


@pytest.mark.parametrize(
    "command,arguments,message",
    [
        ("erase_person", ["nobody", "--yes"], "No user 'nobody'"),
        ("erase_person", ["a\x00b", "--yes"], "Null characters"),
        ("export", ["answers", "--survey", "999999", "-o", "-"], "999999"),
        ("export", ["answers", "--survey", "abc", "-o", "-"], "A valid integer is required"),
        ("aggregate", ["999999"], "999999"),
        ("create_api_token", ["nobody"], "nobody"),
        ("load_framework", ["/no/such/file.yaml"], "cannot read the file"),
    ],
)
def test_hostile_command_lines_are_refused_cleanly(survey, command, arguments, message):
    before = counts()
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        call_command(command, *arguments)
    assert counts() == before
    assert not ExportAudit.objects.exists()
