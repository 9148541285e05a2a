"""HTTP clients of the three issue trackers: check access, create an issue, read its state.

No Django here (a library, as Healthchecks keeps hc/lib): the services hand the clients a
connection's decrypted settings and turn their failures into answers. Every request has a
timeout (connect 5 s, read 15 s); responses are read up to MAX_RESPONSE_BYTES. Tokens go
in the Authorization header only, and redirects are never followed (the services
check where the address leads before each use: common.ssrf).

Documented shapes used (and served by tests/trackers/fake_tracker.py):

- GitHub REST: ``GET /repos/{owner}/{repo}``, ``POST /repos/{owner}/{repo}/issues``
  (201 ``{"id", "number", "html_url", "state"}``; 422 ``{"message": "Validation Failed",
  "errors": [...]}``), ``GET /repos/{owner}/{repo}/issues/{number}`` (``state`` open or
  closed, ``state_reason`` completed, not_planned, reopened, duplicate or null).
- GitLab REST v4: ``GET /projects/:id``, ``POST /projects/:id/issues`` (201 ``{"id",
  "iid", "project_id", "web_url", "state"}``), ``GET /projects/:id/issues/:iid``
  (``state`` opened or closed); errors ``{"message": ...}`` or ``{"error": ...}``.
- Jira Cloud REST v3: ``GET /rest/api/3/project/{key}``, ``POST /rest/api/3/issue`` (an
  Atlassian Document Format description; 201 ``{"id", "key", "self"}``; 400
  ``{"errorMessages": [...], "errors": {field: message}}``), ``GET
  /rest/api/3/issue/{id}?fields=status,resolution`` (``fields.status.statusCategory.key``
  new, indeterminate or done).
"""

from __future__ import annotations

import email.utils
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar
from urllib.parse import quote

import requests
from requests.auth import AuthBase, HTTPBasicAuth

from common.text import storable

CONNECT_TIMEOUT = 5.0  # seconds
READ_TIMEOUT = 15.0  # seconds
MAX_RESPONSE_BYTES = 2 * 1024 * 1024
MAX_REDIRECTS = 3
# The longest pause a tracker's rate limit may impose on us (seconds): a reset time years
# ahead (a broken clock) must not silence a connection for ever.
MAX_PAUSE_SECONDS = 24 * 3600.0
# Without a Retry-After, GitHub asks to wait at least a minute after a secondary limit.
DEFAULT_PAUSE_SECONDS = 60.0
LABEL = "mlops-maturity"
USER_AGENT = "mlops-maturity-trackers/1"
# Jira resolutions that mean "closed without doing it".
JIRA_WONT_DO_RESOLUTIONS = frozenset({"won't do", "won't fix", "declined", "cannot reproduce"})


class Outcome(StrEnum):
    """What an issue's state means for its action."""

    OPEN = "open"
    DONE = "done"
    NOT_PLANNED = "not_planned"
    CLOSED_OTHER = "closed_other"  # closed for another reason (a duplicate): no change


@dataclass(frozen=True)
class IssueState:
    """An issue's state: its meaning, and how the tracker names it (``label``, for people)."""

    outcome: Outcome
    label: str


@dataclass(frozen=True)
class IssueDraft:
    """A new issue: a title, an introduction, labelled facts ("Question", "Due", ...) and
    the link back to the action."""

    title: str
    intro: str
    facts: tuple[tuple[str, str], ...]
    link: str


@dataclass(frozen=True)
class CreatedIssue:
    """An issue a tracker created: its ids, its page, where it lives and its state."""

    external_id: str
    external_key: str
    url: str
    target: str
    state: IssueState


class Failure(StrEnum):
    AUTH = "auth"  # 401, or 403 without a rate limit: the credentials or their rights
    NOT_FOUND = "not_found"  # 404
    GONE = "gone"  # 410 (GitHub: issues are turned off in the repository)
    REJECTED = "rejected"  # 400/422: the tracker refused the content
    RATE_LIMITED = "rate_limited"  # 429, or 403 with GitHub's rate-limit signs
    UNAVAILABLE = "unavailable"  # no answer, a timeout, a 5xx: worth trying again later
    BAD_RESPONSE = "bad_response"  # an answer that is not what the documentation says


class TrackerFailure(Exception):
    """A request the tracker did not fulfil.

    ``detail`` is the tracker's own message (or what went wrong), ``status`` its HTTP
    status (None without an answer), ``retry_after`` seconds to wait (rate limits only).
    """

    def __init__(
        self,
        kind: Failure,
        detail: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        detail = printable(detail)
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.status = status
        self.retry_after = retry_after


class _BearerAuth(AuthBase):
    """``Authorization: Bearer <token>``: set as the session's auth, so that requests never
    replaces it with a ~/.netrc entry, and drops it on a redirect to another host."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


def pause_seconds(status: int, headers: Mapping[str, str], body: Any, now: float) -> float | None:
    """Return how long a rate-limited answer asks us to wait (seconds), None if it is not one.

    429 always is; GitHub also answers 403 for its primary limit (``x-ratelimit-remaining:
    0``) and secondary limits (a Retry-After, or a message naming the rate limit). The wait
    is Retry-After (seconds or an HTTP date), else the reset time (epoch seconds) of an
    exhausted limit, else a minute; between 1 s and MAX_PAUSE_SECONDS.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    exhausted = any(
        lowered.get(name, "").strip() == "0"
        for name in ("x-ratelimit-remaining", "ratelimit-remaining")
    )
    message = body.get("message") if isinstance(body, dict) else None
    named = isinstance(message, str) and "rate limit" in message.lower()
    if status != 429 and not (status == 403 and (exhausted or named or "retry-after" in lowered)):
        return None
    wait = _retry_after(lowered.get("retry-after", ""), now)
    if wait is None and exhausted:
        reset = lowered.get("x-ratelimit-reset") or lowered.get("ratelimit-reset") or ""
        wait = float(reset) - now if _digits(reset) else None
    if wait is None:
        wait = DEFAULT_PAUSE_SECONDS
    return min(max(wait, 1.0), MAX_PAUSE_SECONDS)


def _digits(value: str) -> bool:
    """ASCII digits only ("²" is a digit to str.isdigit, not to float)."""
    value = value.strip()
    return value.isascii() and value.isdigit()


def _retry_after(value: str, now: float) -> float | None:
    value = value.strip()
    if not value:
        return None
    if _digits(value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when.timestamp() - now if when.tzinfo is not None else None


def error_detail(body: Any, fallback: str) -> str:
    """Return the tracker's own explanation from an error body, at most 300 characters.

    Reads GitHub's ``{"message", "errors": [{"field", "code", "message"}]}``, GitLab's
    ``{"message": str | {field: [str]}}`` and ``{"error": str}``, and Jira's
    ``{"errorMessages": [str], "errors": {field: str}}``; ``fallback`` otherwise.
    """
    parts: list[str] = []
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str):
            parts.append(message)
        parts += _field_messages(message)
        if isinstance(body.get("error"), str):
            parts.append(body["error"])
        parts += [item for item in body.get("errorMessages") or [] if isinstance(item, str)]
        parts += _field_messages(body.get("errors"))
        items = body.get("errors")
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict):
                text = item.get("message") or " ".join(
                    str(item[key]) for key in ("field", "code") if isinstance(item.get(key), str)
                )
                parts.append(str(text))
    text = "; ".join(part.strip() for part in parts if part and part.strip())
    return (text or fallback)[:300]


def _field_messages(value: Any) -> list[str]:
    """``{field: message or [messages]}`` as "field: message" lines."""
    if not isinstance(value, dict):
        return []
    lines = []
    for field, messages in value.items():
        items = messages if isinstance(messages, list) else [messages]
        lines += [f"{field}: {item}" for item in items if isinstance(item, str)]
    return lines


def printable(value: str) -> str:
    """``value`` without the characters PostgreSQL cannot store (NUL) or UTF-8 cannot
    encode (lone surrogates): a tracker's text (a message, a state's name) is stored on
    the link, the connection and the audit log, and must never make that a 500."""
    return "".join(char for char in value if char != "\x00" and not "\ud800" <= char <= "\udfff")


def _text(value: Any, name: str, max_length: int = 64) -> str:
    """A string or integer field of a tracker's answer, as text (an id, a key: at most
    ``max_length`` characters); BAD_RESPONSE otherwise."""
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
        raise TrackerFailure(Failure.BAD_RESPONSE, f"the answer has no {name}")
    if len(str(value)) > max_length:
        raise TrackerFailure(Failure.BAD_RESPONSE, f"the answer's {name} is too long")
    if not storable(str(value)):
        raise TrackerFailure(Failure.BAD_RESPONSE, f"the answer's {name} is not text")
    return str(value)


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TrackerFailure(Failure.BAD_RESPONSE, f"the answer has no {name}")
    return value


def github_state(issue: Any) -> IssueState:
    """The state of a GitHub issue object (REST answer or webhook ``issue``).

    Closed as completed (or without a reason: issues closed before reasons existed) is
    DONE, as not planned NOT_PLANNED, as anything else (a duplicate) CLOSED_OTHER.
    Raises TrackerFailure(BAD_RESPONSE) for an object without a state.
    """
    issue = _object(issue, "issue")
    state = issue.get("state")
    if state == "open":
        return IssueState(Outcome.OPEN, "open")
    if state != "closed":
        raise TrackerFailure(Failure.BAD_RESPONSE, "the issue has no state")
    reason = issue.get("state_reason")
    if reason in (None, "completed"):
        return IssueState(Outcome.DONE, "closed")
    if reason == "not_planned":
        return IssueState(Outcome.NOT_PLANNED, "closed (not planned)")
    return IssueState(Outcome.CLOSED_OTHER, f"closed ({printable(str(reason))[:40]})")


def gitlab_state(issue: Any) -> IssueState:
    """The state of a GitLab issue object (REST answer, or webhook ``object_attributes``):
    ``opened`` is OPEN, ``closed`` DONE. Raises TrackerFailure(BAD_RESPONSE) otherwise."""
    state = _object(issue, "issue").get("state")
    if state == "opened":
        return IssueState(Outcome.OPEN, "opened")
    if state == "closed":
        return IssueState(Outcome.DONE, "closed")
    raise TrackerFailure(Failure.BAD_RESPONSE, "the issue has no state")


def jira_state(issue: Any) -> IssueState:
    """The state of a Jira issue object (REST answer or webhook ``issue``), from
    ``fields.status.statusCategory.key``: ``done`` is DONE, or NOT_PLANNED with a
    resolution such as "Won't Do"; any other category is OPEN. Raises
    TrackerFailure(BAD_RESPONSE) without a status category."""
    fields = _object(_object(issue, "issue").get("fields"), "fields")
    status = _object(fields.get("status"), "status")
    category = _object(status.get("statusCategory"), "status category").get("key")
    if not isinstance(category, str) or not category:
        raise TrackerFailure(Failure.BAD_RESPONSE, "the issue has no status category")
    name = status.get("name") if isinstance(status.get("name"), str) else category
    label = printable(str(name))[:64]
    if category != "done":
        return IssueState(Outcome.OPEN, label)
    resolution = fields.get("resolution")
    resolved_as = resolution.get("name") if isinstance(resolution, dict) else None
    if isinstance(resolved_as, str) and resolved_as.strip().lower() in JIRA_WONT_DO_RESOLUTIONS:
        return IssueState(Outcome.NOT_PLANNED, f"{label} ({printable(resolved_as)})"[:64])
    return IssueState(Outcome.DONE, label)


class TrackerClient(ABC):
    """One tracker project or repository, reached with one set of credentials."""

    provider_name: ClassVar[str]

    def __init__(self, base_url: str, target: str, auth: AuthBase) -> None:
        self.base_url = base_url.rstrip("/")
        self.target = target
        self.session = requests.Session()
        self.session.auth = auth
        self.session.max_redirects = MAX_REDIRECTS
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})

    def close(self) -> None:
        """Close the client's pooled connections."""
        self.session.close()

    @abstractmethod
    def check(self) -> str:
        """Read the repository or project; return a sentence saying what was found.

        Raises TrackerFailure.
        """

    @abstractmethod
    def create_issue(self, draft: IssueDraft) -> CreatedIssue:
        """Create an issue from ``draft``. Raises TrackerFailure."""

    @abstractmethod
    def issue_state(self, target: str, external_id: str, external_key: str) -> IssueState:
        """Read the state of an issue this client created (``target``, ids as created).

        Raises TrackerFailure.
        """

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send ``method path`` (below the base URL); return the answer's JSON.

        Raises TrackerFailure for no answer (UNAVAILABLE), an error status (by kind, with
        the tracker's message) or an answer that is not JSON (BAD_RESPONSE).
        """
        url = f"{self.base_url}{path}"
        # Redirects are not followed: the API answers in place, and a hop could lead
        # anywhere (the services check the address itself before each use: client_for).
        try:
            with self.session.request(
                method,
                url,
                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                stream=True,
                allow_redirects=False,
                **kwargs,
            ) as response:
                raw = _read_limited(response)
                status, headers = response.status_code, response.headers
        except requests.RequestException as error:
            raise TrackerFailure(
                Failure.UNAVAILABLE, f"no answer from {self.provider_name} ({type(error).__name__})"
            ) from None
        body = _json_or_none(raw)
        if 300 <= status < 400:
            raise TrackerFailure(
                Failure.BAD_RESPONSE,
                f"{self.provider_name} redirected ({status}); check the connection's address",
                status=status,
            )
        if 200 <= status < 300:
            if body is None:
                raise TrackerFailure(
                    Failure.BAD_RESPONSE, f"{self.provider_name} did not answer JSON", status=status
                )
            return body
        raise self.failure(status, headers, body)

    def failure(self, status: int, headers: Mapping[str, str], body: Any) -> TrackerFailure:
        """The TrackerFailure an error answer stands for."""
        wait = pause_seconds(status, headers, body, time.time())
        if wait is not None:
            detail = error_detail(body, "rate limit exceeded")
            return TrackerFailure(Failure.RATE_LIMITED, detail, status=status, retry_after=wait)
        kinds = {
            401: Failure.AUTH,
            403: Failure.AUTH,
            404: Failure.NOT_FOUND,
            410: Failure.GONE,
            400: Failure.REJECTED,
            422: Failure.REJECTED,
        }
        kind = kinds.get(status)
        if kind is None:
            kind = Failure.UNAVAILABLE if status >= 500 else Failure.BAD_RESPONSE
        return TrackerFailure(kind, error_detail(body, f"HTTP {status}"), status=status)


def _read_limited(response: requests.Response) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_content(chunk_size=65536):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise TrackerFailure(
                Failure.BAD_RESPONSE, "the answer is larger than 2 MB", status=response.status_code
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        return None


def _markdown(draft: IssueDraft) -> str:
    lines = [draft.intro, ""]
    lines += [f"**{label}:** {value}" for label, value in draft.facts]
    lines += ["", f"Track it on the team's report: {draft.link}"]
    return "\n".join(lines)


class GitHubClient(TrackerClient):
    """A GitHub repository (``target`` "owner/repo"), with a fine-grained token that may
    read and write its issues."""

    provider_name = "GitHub"

    def __init__(self, base_url: str, target: str, token: str) -> None:
        super().__init__(base_url, target, _BearerAuth(token))
        self.session.headers.update(
            {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        )

    def _repo_path(self, target: str) -> str:
        owner, _, repo = target.partition("/")
        return f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}"

    def check(self) -> str:
        repo = _object(self.request("GET", self._repo_path(self.target)), "repository")
        if repo.get("has_issues") is False:
            raise TrackerFailure(Failure.GONE, "issues are turned off in this repository")
        return f"GitHub repository {repo.get('full_name') or self.target} is reachable."

    def create_issue(self, draft: IssueDraft) -> CreatedIssue:
        payload = {"title": draft.title, "body": _markdown(draft), "labels": [LABEL]}
        issue = self.request("POST", f"{self._repo_path(self.target)}/issues", json=payload)
        issue = _object(issue, "issue")
        return CreatedIssue(
            external_id=_text(issue.get("id"), "id"),
            external_key=_text(issue.get("number"), "number"),
            url=_text(issue.get("html_url"), "html_url", max_length=500),
            target=self.target,
            state=github_state(issue),
        )

    def issue_state(self, target: str, external_id: str, external_key: str) -> IssueState:
        path = f"{self._repo_path(target)}/issues/{quote(external_key, safe='')}"
        return github_state(self.request("GET", path))


class GitLabClient(TrackerClient):
    """A GitLab project (``target`` its numeric id or "group/project" path), with a token of
    scope ``api``."""

    provider_name = "GitLab"

    def __init__(self, base_url: str, target: str, token: str) -> None:
        super().__init__(base_url, target, _BearerAuth(token))

    @staticmethod
    def _project_path(target: str) -> str:
        return f"/projects/{quote(target, safe='')}"

    def check(self) -> str:
        project = _object(self.request("GET", self._project_path(self.target)), "project")
        if project.get("issues_enabled") is False:
            raise TrackerFailure(Failure.GONE, "issues are turned off in this project")
        name = project.get("path_with_namespace") or self.target
        return f"GitLab project {name} is reachable."

    def create_issue(self, draft: IssueDraft) -> CreatedIssue:
        payload = {"title": draft.title, "description": _markdown(draft), "labels": LABEL}
        issue = self.request("POST", f"{self._project_path(self.target)}/issues", json=payload)
        issue = _object(issue, "issue")
        return CreatedIssue(
            external_id=_text(issue.get("id"), "id"),
            external_key=_text(issue.get("iid"), "iid"),
            url=_text(issue.get("web_url"), "web_url", max_length=500),
            # The numeric project id: stable when the project is renamed or moved.
            target=_text(issue.get("project_id"), "project_id"),
            state=gitlab_state(issue),
        )

    def issue_state(self, target: str, external_id: str, external_key: str) -> IssueState:
        path = f"{self._project_path(target)}/issues/{quote(external_key, safe='')}"
        return gitlab_state(self.request("GET", path))


def _adf(draft: IssueDraft) -> dict[str, Any]:
    """The draft as an Atlassian Document Format document (Jira Cloud's rich text)."""

    def paragraph(*content: dict[str, Any]) -> dict[str, Any]:
        return {"type": "paragraph", "content": list(content)}

    def text(value: str, *marks: dict[str, Any]) -> dict[str, Any]:
        node: dict[str, Any] = {"type": "text", "text": value}
        if marks:
            node["marks"] = list(marks)
        return node

    strong = {"type": "strong"}
    blocks = [paragraph(text(draft.intro))]
    blocks += [
        paragraph(text(f"{label}: ", strong), text(value)) for label, value in draft.facts if value
    ]
    link = {"type": "link", "attrs": {"href": draft.link}}
    blocks.append(paragraph(text("Track it on the team's report: "), text(draft.link, link)))
    return {"type": "doc", "version": 1, "content": blocks}


class JiraClient(TrackerClient):
    """A Jira Cloud project (``target`` its key), with an account's e-mail and API token
    (basic auth), creating issues of ``issue_type``."""

    provider_name = "Jira"

    def __init__(self, base_url: str, target: str, email: str, token: str, issue_type: str) -> None:
        super().__init__(base_url, target, HTTPBasicAuth(email, token))
        self.issue_type = issue_type

    def check(self) -> str:
        path = f"/rest/api/3/project/{quote(self.target, safe='')}"
        project = _object(self.request("GET", path), "project")
        return f"Jira project {project.get('key') or self.target} is reachable."

    def create_issue(self, draft: IssueDraft) -> CreatedIssue:
        fields: dict[str, Any] = {
            "project": {"key": self.target},
            "summary": draft.title,
            "issuetype": {"name": self.issue_type},
            "description": _adf(draft),
            "labels": [LABEL],
        }
        try:
            created = self.request("POST", "/rest/api/3/issue", json={"fields": fields})
        except TrackerFailure as failure:
            # Labels are refused when the field is not on the project's create screen:
            # the issue matters more than its label.
            if failure.kind != Failure.REJECTED or "labels" not in failure.detail:
                raise
            del fields["labels"]
            created = self.request("POST", "/rest/api/3/issue", json={"fields": fields})
        created = _object(created, "issue")
        key = _text(created.get("key"), "key")
        return CreatedIssue(
            external_id=_text(created.get("id"), "id"),
            external_key=key,
            url=f"{self.base_url}/browse/{quote(key, safe='')}",
            target=self.target,
            # A new issue is in the project's first status; its category is "new".
            state=IssueState(Outcome.OPEN, "new"),
        )

    def issue_state(self, target: str, external_id: str, external_key: str) -> IssueState:
        path = f"/rest/api/3/issue/{quote(external_id, safe='')}"
        return jira_state(self.request("GET", path, params={"fields": "status,resolution"}))
