"""A local fake of GitHub, GitLab and Jira Cloud: a real HTTP server on 127.0.0.1 (a free
port, in a thread) answering the documented requests and responses of the endpoints the
trackers app uses, so that the tests run the real client code over real sockets.

- GitHub REST under ``/github``: ``GET /repos/{owner}/{repo}``, ``POST
  /repos/{owner}/{repo}/issues`` (201; 422 "Validation Failed" for an empty title; 410 when
  issues are off), ``GET /repos/{owner}/{repo}/issues/{number}``. Bearer token; 401 "Bad
  credentials"; 404 "Not Found".
- GitLab REST v4 under ``/gitlab/api/v4``: ``GET /projects/:id`` (id or url-encoded path),
  ``POST /projects/:id/issues``, ``GET /projects/:id/issues/:iid``. ``PRIVATE-TOKEN`` or
  Bearer; 401 ``{"message": "401 Unauthorized"}``; 400 ``{"message": {"title": ["can't be
  blank"]}}``; 404 ``{"message": "404 Project Not Found"}``.
- Jira Cloud REST v3 under ``/jira``: ``GET /rest/api/3/project/{key}``, ``POST
  /rest/api/3/issue`` (an ADF description; 400 ``{"errorMessages", "errors"}``), ``GET
  /rest/api/3/issue/{idOrKey}``. Basic auth (e-mail:API token); 401 as plain text.
- ``limit(...)``: the next requests get a rate-limit answer (429 or 403, Retry-After,
  ``x-ratelimit-remaining: 0`` with ``x-ratelimit-reset``).
- Test helpers close or reopen an issue as a person would, and build the webhook delivery
  the tracker would send (body and headers, signed with the given secret).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import Request, urlopen

GITHUB_DOCS = "https://docs.github.com/rest"


@dataclass
class Repo:
    full_name: str
    token: str
    has_issues: bool = True
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Project:
    id: int
    path: str
    token: str
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass
class JiraProject:
    key: str
    email: str
    token: str
    issue_types: tuple[str, ...] = ("Task", "Story", "Bug")
    labels_on_screen: bool = True
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)  # by id


@dataclass
class Limit:
    status: int
    headers: dict[str, str]
    message: str
    times: int


@dataclass
class Delivery:
    """A webhook as the tracker would send it."""

    body: bytes
    headers: dict[str, str]

    def post(self, client, path: str):
        """POST it with Django's test client."""
        return client.post(
            path, data=self.body, content_type="application/json", headers=self.headers
        )

    def send(self, url: str) -> int:
        """POST it over HTTP (to a live server); return the status."""
        request = Request(url, data=self.body, method="POST", headers=self.headers)  # noqa: S310
        request.add_header("Content-Type", "application/json")
        try:
            with urlopen(request, timeout=10) as response:  # noqa: S310 - a test's own URL
                return response.status
        except Exception as error:  # urllib raises for 4xx; its code is the answer
            return getattr(error, "code", 0)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


def _signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class FakeTracker:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.projects: dict[int, Project] = {}
        self.jira: dict[str, JiraProject] = {}
        self.seen: list[Seen] = []
        self.limits: list[Limit] = []
        self.lock = threading.Lock()
        self._next_id = 5000
        handler = type("Handler", (_Handler,), {"fake": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeTracker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- addresses ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def github_url(self) -> str:
        return f"{self.url}/github"

    @property
    def gitlab_url(self) -> str:
        return f"{self.url}/gitlab/api/v4"

    @property
    def jira_url(self) -> str:
        return f"{self.url}/jira"

    def new_id(self) -> int:
        with self.lock:
            self._next_id += 1
            return self._next_id

    # --- set-up --------------------------------------------------------------------------------

    def add_repo(self, full_name: str, token: str, **options: Any) -> Repo:
        self.repos[full_name] = Repo(full_name, token, **options)
        return self.repos[full_name]

    def add_project(self, path: str, token: str) -> Project:
        project = Project(self.new_id(), path, token)
        self.projects[project.id] = project
        return project

    def add_jira_project(self, key: str, email: str, token: str, **options: Any) -> JiraProject:
        self.jira[key] = JiraProject(key, email, token, **options)
        return self.jira[key]

    def limit(
        self,
        *,
        status: int = 429,
        retry_after: str | None = None,
        reset_in: int | None = None,
        message: str = "You have exceeded a secondary rate limit.",
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests with a rate limit."""
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        if reset_in is not None:
            headers["x-ratelimit-remaining"] = "0"
            headers["x-ratelimit-reset"] = str(int(time.time()) + reset_in)
        self.limits.append(Limit(status, headers, message, times))

    def requests_to(self, prefix: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.path.startswith(prefix)]

    # --- people acting in the trackers -----------------------------------------------------------

    def github_issue(self, repo: str, number: int) -> dict[str, Any]:
        return self.repos[repo].issues[number]

    def github_set_state(self, repo: str, number: int, state: str, reason: str | None) -> None:
        issue = self.repos[repo].issues[number]
        issue.update(state=state, state_reason=reason)
        issue["closed_at"] = _now() if state == "closed" else None

    def github_webhook(self, repo: str, number: int, action: str, secret: str) -> Delivery:
        payload = {
            "action": action,
            "issue": self.repos[repo].issues[number],
            "repository": {"id": 1, "full_name": repo},
            "sender": {"login": "octocat", "id": 1},
        }
        body = json.dumps(payload).encode()
        headers = {
            "X-GitHub-Event": "issues",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": _signature(secret, body),
            "User-Agent": "GitHub-Hookshot/fake",
        }
        return Delivery(body, headers)

    def gitlab_issue(self, project_id: int, iid: int) -> dict[str, Any]:
        return self.projects[project_id].issues[iid]

    def gitlab_set_state(self, project_id: int, iid: int, state: str) -> None:
        issue = self.projects[project_id].issues[iid]
        issue.update(state=state, closed_at=_now() if state == "closed" else None)

    def gitlab_webhook(self, project_id: int, iid: int, action: str, secret: str) -> Delivery:
        project = self.projects[project_id]
        payload = {
            "object_kind": "issue",
            "event_type": "issue",
            "user": {"id": 1, "name": "Administrator", "username": "root"},
            "project": {"id": project.id, "path_with_namespace": project.path},
            "object_attributes": {**project.issues[iid], "action": action},
            "labels": [],
            "changes": {},
        }
        body = json.dumps(payload).encode()
        headers = {"X-Gitlab-Event": "Issue Hook", "X-Gitlab-Token": secret}
        return Delivery(body, headers)

    def jira_issue(self, key: str) -> dict[str, Any]:
        for project in self.jira.values():
            for issue in project.issues.values():
                if issue["key"] == key:
                    return issue
        raise KeyError(key)

    def jira_set_status(
        self, key: str, name: str, category: str, resolution: str | None = None
    ) -> None:
        issue = self.jira_issue(key)
        issue["fields"]["status"] = {
            "name": name,
            "statusCategory": {"key": category, "name": name},
        }
        issue["fields"]["resolution"] = {"name": resolution} if resolution else None

    def jira_webhook(self, key: str, secret: str, event: str = "jira:issue_updated") -> Delivery:
        issue = self.jira_issue(key)
        payload = {
            "timestamp": int(time.time() * 1000),
            "webhookEvent": event,
            "issue_event_type_name": "issue_generic",
            "user": {"accountId": "abc", "displayName": "Jo"},
            "issue": issue,
            "changelog": {"id": "1", "items": [{"field": "status", "toString": "Done"}]},
        }
        body = json.dumps(payload).encode()
        headers = {
            "X-Hub-Signature": _signature(secret, body),
            "X-Atlassian-Webhook-Identifier": str(uuid.uuid4()),
        }
        return Delivery(body, headers)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class _Handler(BaseHTTPRequestHandler):
    fake: FakeTracker
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    # --- plumbing ----------------------------------------------------------------------------

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        path = urlsplit(self.path).path
        self.fake.seen.append(Seen(method, path, dict(self.headers.items()), body))
        if self._limited(path):
            return
        if path.startswith("/github/"):
            self._github(method, path.removeprefix("/github"), body)
        elif path.startswith("/gitlab/api/v4/"):
            self._gitlab(method, path.removeprefix("/gitlab/api/v4"), body)
        elif path.startswith("/jira/"):
            self._jira(method, path.removeprefix("/jira"), body)
        else:
            self._json(404, {"message": "Not Found"})

    def _limited(self, path: str) -> bool:
        if not self.fake.limits:
            return False
        limit = self.fake.limits[0]
        limit.times -= 1
        if limit.times <= 0:
            self.fake.limits.pop(0)
        self._json(limit.status, {"message": limit.message}, limit.headers)
        return True

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self._send(status, data, "application/json; charset=utf-8", headers)

    def _send(
        self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _bearer(self) -> str:
        value = self.headers.get("Authorization", "")
        for prefix in ("Bearer ", "token "):
            if value.startswith(prefix):
                return value.removeprefix(prefix)
        return ""

    # --- GitHub --------------------------------------------------------------------------------

    def _github_error(self, status: int, message: str, **extra: Any) -> None:
        self._json(
            status,
            {"message": message, "documentation_url": GITHUB_DOCS, "status": str(status), **extra},
        )

    def _github(self, method: str, path: str, body: Any) -> None:
        match = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/issues(?:/(\d+))?)?", path)
        if not match:
            return self._github_error(404, "Not Found")
        repo = self.fake.repos.get(f"{unquote(match[1])}/{unquote(match[2])}")
        if not self._bearer():
            return self._github_error(401, "Requires authentication")
        if repo is not None and self._bearer() != repo.token:
            return self._github_error(401, "Bad credentials")
        if repo is None:
            return self._github_error(404, "Not Found")
        if match[3] is None and method == "GET":
            return self._json(
                200,
                {"id": 1, "full_name": repo.full_name, "has_issues": repo.has_issues},
            )
        if not repo.has_issues:
            return self._github_error(410, "Issues are disabled for this repo")
        if match[4] is None and method == "POST":
            return self._github_create(repo, body)
        if match[4] is not None and method == "GET":
            issue = repo.issues.get(int(match[4]))
            if issue is None:
                return self._github_error(404, "Not Found")
            return self._json(200, issue)
        return self._github_error(404, "Not Found")

    def _github_create(self, repo: Repo, body: Any) -> None:
        title = body.get("title") if isinstance(body, dict) else None
        if not isinstance(title, str) or not title.strip():
            return self._github_error(
                422,
                "Validation Failed",
                errors=[{"resource": "Issue", "code": "missing_field", "field": "title"}],
            )
        number = len(repo.issues) + 1
        issue = {
            "id": self.fake.new_id(),
            "node_id": f"I_{number}",
            "url": f"{self.fake.github_url}/repos/{repo.full_name}/issues/{number}",
            "html_url": f"https://github.com/{repo.full_name}/issues/{number}",
            "number": number,
            "state": "open",
            "state_reason": None,
            "title": title,
            "body": body.get("body"),
            "labels": [{"name": name} for name in body.get("labels") or []],
            "user": {"login": "maturity-bot"},
            "created_at": _now(),
            "closed_at": None,
        }
        repo.issues[number] = issue
        self._json(201, issue)

    # --- GitLab --------------------------------------------------------------------------------

    def _gitlab(self, method: str, path: str, body: Any) -> None:
        match = re.fullmatch(r"/projects/([^/]+)(/issues(?:/(\d+))?)?", path)
        if not match:
            return self._json(404, {"error": "404 Not Found"})
        project = self._gitlab_project(unquote(match[1]))
        token = self.headers.get("PRIVATE-TOKEN") or self._bearer()
        if project is not None and token != project.token or not token:
            return self._json(401, {"message": "401 Unauthorized"})
        if project is None:
            return self._json(404, {"message": "404 Project Not Found"})
        if match[2] is None and method == "GET":
            web = f"https://gitlab.com/{project.path}"
            return self._json(
                200,
                {
                    "id": project.id,
                    "path_with_namespace": project.path,
                    "web_url": web,
                    "issues_enabled": True,
                },
            )
        if match[3] is None and method == "POST":
            return self._gitlab_create(project, body)
        if match[3] is not None and method == "GET":
            issue = project.issues.get(int(match[3]))
            if issue is None:
                return self._json(404, {"message": "404 Not found"})
            return self._json(200, issue)
        return self._json(404, {"error": "404 Not Found"})

    def _gitlab_project(self, ident: str) -> Project | None:
        if ident.isdigit():
            return self.fake.projects.get(int(ident))
        return next((p for p in self.fake.projects.values() if p.path == ident), None)

    def _gitlab_create(self, project: Project, body: Any) -> None:
        if not isinstance(body, dict) or "title" not in body:
            return self._json(400, {"error": "title is missing"})
        if not str(body["title"]).strip():
            return self._json(400, {"message": {"title": ["can't be blank"]}})
        iid = len(project.issues) + 1
        labels = [label for label in str(body.get("labels") or "").split(",") if label]
        issue = {
            "id": self.fake.new_id(),
            "iid": iid,
            "project_id": project.id,
            "title": body["title"],
            "description": body.get("description"),
            "state": "opened",
            "labels": labels,
            "web_url": f"https://gitlab.com/{project.path}/-/issues/{iid}",
            "created_at": _now(),
            "closed_at": None,
        }
        project.issues[iid] = issue
        self._json(201, issue)

    # --- Jira --------------------------------------------------------------------------------

    def _jira_user(self) -> tuple[str, str] | None:
        value = self.headers.get("Authorization", "")
        if not value.startswith("Basic "):
            return None
        try:
            email, _, token = base64.b64decode(value[6:]).decode().partition(":")
        except ValueError:
            return None
        return email, token

    def _jira(self, method: str, path: str, body: Any) -> None:
        user = self._jira_user()
        if user is None or not any((p.email, p.token) == user for p in self.fake.jira.values()):
            return self._send(
                401, b"Client must be authenticated to access this resource.", "text/plain"
            )
        if match := re.fullmatch(r"/rest/api/3/project/([^/]+)", path):
            project = self.fake.jira.get(unquote(match[1]))
            if project is None or method != "GET":
                message = f"No project could be found with key '{unquote(match[1])}'."
                return self._json(404, {"errorMessages": [message], "errors": {}})
            return self._json(200, {"id": "10000", "key": project.key, "name": project.key})
        if path == "/rest/api/3/issue" and method == "POST":
            return self._jira_create(body)
        if match := re.fullmatch(r"/rest/api/3/issue/([^/]+)", path):
            issue = self._jira_find(unquote(match[1]))
            if issue is None or method != "GET":
                message = "Issue does not exist or you do not have permission to see it."
                return self._json(404, {"errorMessages": [message], "errors": {}})
            return self._json(200, issue)
        return self._json(404, {"errorMessages": ["Not found"], "errors": {}})

    def _jira_find(self, ident: str) -> dict[str, Any] | None:
        for project in self.fake.jira.values():
            for issue in project.issues.values():
                if ident in (issue["id"], issue["key"]):
                    return issue
        return None

    def _jira_create(self, body: Any) -> None:
        fields = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            return self._json(400, {"errorMessages": ["No fields."], "errors": {}})
        project = self.fake.jira.get((fields.get("project") or {}).get("key", ""))
        errors = {}
        if project is None:
            errors["project"] = "valid project is required"
        if not str(fields.get("summary") or "").strip():
            errors["summary"] = "You must specify a summary of the issue."
        issue_type = (fields.get("issuetype") or {}).get("name")
        if project is not None and issue_type not in project.issue_types:
            errors["issuetype"] = "Specify a valid issue type"
        description = fields.get("description")
        if description is not None and not (
            isinstance(description, dict)
            and description.get("type") == "doc"
            and description.get("version") == 1
        ):
            errors["description"] = "Operation value must be an Atlassian Document."
        if project is not None and "labels" in fields and not project.labels_on_screen:
            errors["labels"] = (
                "Field 'labels' cannot be set. It is not on the appropriate screen, or unknown."
            )
        if errors:
            return self._json(400, {"errorMessages": [], "errors": errors})
        issue_id = str(self.fake.new_id())
        key = f"{project.key}-{len(project.issues) + 1}"
        project.issues[issue_id] = {
            "id": issue_id,
            "key": key,
            "self": f"{self.fake.jira_url}/rest/api/3/issue/{issue_id}",
            "fields": {
                "summary": fields["summary"],
                "description": description,
                "labels": fields.get("labels", []),
                "issuetype": {"name": issue_type},
                "status": {"name": "To Do", "statusCategory": {"key": "new", "name": "To Do"}},
                "resolution": None,
            },
        }
        self._json(201, {"id": issue_id, "key": key, "self": project.issues[issue_id]["self"]})
