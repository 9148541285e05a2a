"""The tracker clients (trackers.clients): rate-limit and error reading (pure), and the
clients against the fake trackers over HTTP."""

from __future__ import annotations

import email.utils
import time

import pytest

from tests.trackers.conftest import GITHUB_TOKEN, GITLAB_TOKEN, JIRA_EMAIL, JIRA_TOKEN
from tests.trackers.fake_tracker import FakeTracker
from trackers.clients import (
    MAX_PAUSE_SECONDS,
    Failure,
    GitHubClient,
    GitLabClient,
    IssueDraft,
    JiraClient,
    Outcome,
    TrackerFailure,
    error_detail,
    github_state,
    pause_seconds,
)

NOW = 1_800_000_000.0
DRAFT = IssueDraft("Title", "Intro", (("Question", "Do you?"),), "https://x.example/a")


def test_a_429_waits_as_long_as_retry_after_says():
    assert pause_seconds(429, {"Retry-After": "30"}, None, NOW) == 30
    date = email.utils.formatdate(NOW + 90, usegmt=True)
    assert pause_seconds(429, {"retry-after": date}, None, NOW) == pytest.approx(90)
    assert pause_seconds(429, {}, None, NOW) == 60  # GitHub: at least a minute


def test_github_403_rate_limits_are_told_from_permission_refusals():
    reset = str(int(NOW) + 300)
    exhausted = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    assert pause_seconds(403, exhausted, {"message": "API rate limit exceeded"}, NOW) == 300
    secondary = {"message": "You have exceeded a secondary rate limit."}
    assert pause_seconds(403, {}, secondary, NOW) == 60
    assert pause_seconds(403, {"Retry-After": "5"}, None, NOW) == 5
    refused = {"message": "Resource not accessible by personal access token"}
    assert pause_seconds(403, {"x-ratelimit-remaining": "4999"}, refused, NOW) is None
    assert pause_seconds(404, {"Retry-After": "5"}, None, NOW) is None


def test_pauses_are_bounded():
    assert pause_seconds(429, {"Retry-After": "99999999"}, None, NOW) == MAX_PAUSE_SECONDS
    assert pause_seconds(429, {"Retry-After": "0"}, None, NOW) == 1
    assert pause_seconds(429, {"Retry-After": "soon"}, None, NOW) == 60
    assert pause_seconds(429, {"Retry-After": "²"}, None, NOW) == 60
    odd_reset = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "١٢"}
    assert pause_seconds(403, odd_reset, None, NOW) == 60


def test_error_details_read_each_trackers_shape():
    github = {
        "message": "Validation Failed",
        "errors": [{"resource": "Issue", "code": "missing_field", "field": "title"}],
    }
    assert error_detail(github, "?") == "Validation Failed; title missing_field"
    assert error_detail({"message": {"title": ["can't be blank"]}}, "?") == "title: can't be blank"
    assert error_detail({"error": "title is missing"}, "?") == "title is missing"
    jira = {"errorMessages": ["Nope."], "errors": {"summary": "Required."}}
    assert error_detail(jira, "?") == "Nope.; summary: Required."
    assert error_detail("plain text", "HTTP 401") == "HTTP 401"
    assert len(error_detail({"message": "x" * 1000}, "?")) == 300


def test_github_states_read_the_closing_reason():
    assert github_state({"state": "closed", "state_reason": None}).outcome == Outcome.DONE
    assert github_state({"state": "open"}).label == "open"
    with pytest.raises(TrackerFailure):
        github_state({"state": "merged"})


@pytest.fixture
def tracker():
    with FakeTracker() as fake:
        fake.add_repo("acme/app", GITHUB_TOKEN)
        fake.project = fake.add_project("acme/app", GITLAB_TOKEN)
        fake.add_jira_project("OPS", JIRA_EMAIL, JIRA_TOKEN)
        yield fake


def test_each_client_checks_creates_and_reads(tracker):
    clients = [
        GitHubClient(tracker.github_url, "acme/app", GITHUB_TOKEN),
        GitLabClient(tracker.gitlab_url, "acme/app", GITLAB_TOKEN),
        JiraClient(tracker.jira_url, "OPS", JIRA_EMAIL, JIRA_TOKEN, "Task"),
    ]
    for client in clients:
        assert "is reachable" in client.check()
        issue = client.create_issue(DRAFT)
        assert issue.state.outcome == Outcome.OPEN
        state = client.issue_state(issue.target, issue.external_id, issue.external_key)
        assert state.outcome == Outcome.OPEN


def test_the_token_never_travels_in_the_address(tracker):
    GitHubClient(tracker.github_url, "acme/app", GITHUB_TOKEN).create_issue(DRAFT)
    GitLabClient(tracker.gitlab_url, "acme/app", GITLAB_TOKEN).create_issue(DRAFT)
    for seen in tracker.seen:
        assert GITHUB_TOKEN not in seen.path and GITLAB_TOKEN not in seen.path
        assert "Bearer" in seen.headers["Authorization"]


def test_wrong_credentials_and_missing_projects_are_told_apart(tracker):
    cases = [
        (GitHubClient(tracker.github_url, "acme/app", "nope"), Failure.AUTH, 401),
        (GitHubClient(tracker.github_url, "acme/none", GITHUB_TOKEN), Failure.NOT_FOUND, 404),
        (GitLabClient(tracker.gitlab_url, "acme/app", "nope"), Failure.AUTH, 401),
        (GitLabClient(tracker.gitlab_url, "acme/none", GITLAB_TOKEN), Failure.NOT_FOUND, 404),
        (JiraClient(tracker.jira_url, "OPS", JIRA_EMAIL, "nope", "Task"), Failure.AUTH, 401),
        (
            JiraClient(tracker.jira_url, "NONE", JIRA_EMAIL, JIRA_TOKEN, "Task"),
            Failure.NOT_FOUND,
            404,
        ),
    ]
    for client, kind, status in cases:
        with pytest.raises(TrackerFailure) as failed:
            client.check()
        assert (failed.value.kind, failed.value.status) == (kind, status), client


def test_issues_turned_off_are_gone(tracker):
    tracker.repos["acme/app"].has_issues = False
    client = GitHubClient(tracker.github_url, "acme/app", GITHUB_TOKEN)
    with pytest.raises(TrackerFailure) as failed:
        client.create_issue(DRAFT)
    assert failed.value.kind == Failure.GONE and failed.value.status == 410
    with pytest.raises(TrackerFailure) as checked:
        client.check()
    assert "turned off" in checked.value.detail


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"<html>Sign in</html>", "did not answer JSON"),
        (b"[]", "no repository"),
        (b'{"id": 1, "number": "x"}', "no html_url"),
        (b'{"id": 1, "number": "%s", "html_url": "https://x"}' % (b"9" * 65), "number is too long"),
        (b"x" * (3 * 1024 * 1024), "larger than 2 MB"),
    ],
)
def test_an_answer_that_is_not_the_documented_one_is_a_bad_response(body, detail):
    """A proxy's login page, a list, a half issue, a flood: never a crash."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(201 if self.command == "POST" else 200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    client = GitHubClient(f"http://127.0.0.1:{server.server_address[1]}", "a/b", GITHUB_TOKEN)
    try:
        with pytest.raises(TrackerFailure) as failed:
            client.create_issue(DRAFT) if "number" in detail or "url" in detail else client.check()
    finally:
        server.shutdown()
        server.server_close()
    assert failed.value.kind == Failure.BAD_RESPONSE and detail in failed.value.detail


def test_a_silent_server_times_out(monkeypatch):
    import socket
    import threading

    from trackers import clients

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    monkeypatch.setattr(clients, "READ_TIMEOUT", 0.5)
    port = listener.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(TrackerFailure) as failed:
        GitHubClient(f"http://127.0.0.1:{port}", "acme/app", GITHUB_TOKEN).check()
    assert failed.value.kind == Failure.UNAVAILABLE and "ReadTimeout" in failed.value.detail
    assert time.monotonic() - started < 5
    listener.close()
