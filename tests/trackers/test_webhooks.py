"""Webhook verification and parsing (trackers.webhooks): pure, no database."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from trackers.clients import Outcome
from trackers.webhooks import WebhookRefused, parse, verify

SECRET = "s3cret-of-sixteen-chars"


def signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_github_signatures_are_checked_over_the_raw_body():
    body = b'{"action": "closed"}'
    verify("github", SECRET, body, {"X-Hub-Signature-256": signed(body)})
    verify(
        "github", SECRET, body, {"x-hub-signature-256": signed(body).upper().replace("SHA", "sha")}
    )
    with pytest.raises(WebhookRefused) as wrong:
        verify("github", SECRET, body + b" ", {"X-Hub-Signature-256": signed(body)})
    assert wrong.value.status == 403
    with pytest.raises(WebhookRefused) as missing:
        verify("github", SECRET, body, {})
    assert missing.value.status == 403 and "missing" in missing.value.message
    with pytest.raises(WebhookRefused):  # the older SHA-1 header is not enough
        verify("github", SECRET, body, {"X-Hub-Signature": "sha1=" + "0" * 40})


def test_jira_requires_its_signature():
    body = b'{"webhookEvent": "jira:issue_updated"}'
    verify("jira", SECRET, body, {"X-Hub-Signature": signed(body)})
    with pytest.raises(WebhookRefused) as missing:
        verify("jira", SECRET, body, {})
    assert missing.value.status == 403 and "set a secret" in missing.value.message
    with pytest.raises(WebhookRefused):
        verify("jira", SECRET, body, {"X-Hub-Signature": signed(body, "another-secret-value")})
    with pytest.raises(WebhookRefused):
        verify("jira", SECRET, body, {"X-Hub-Signature": "sha256=not-hex-é"})


def test_gitlab_tokens_must_equal_the_secret():
    verify("gitlab", SECRET, b"{}", {"X-Gitlab-Token": SECRET})
    for headers in ({}, {"X-Gitlab-Token": SECRET[:-1]}, {"X-Gitlab-Token": "é" * 5}):
        with pytest.raises(WebhookRefused) as refused:
            verify("gitlab", SECRET, b"{}", headers)
        assert refused.value.status == 403


def github(action: str, issue: dict) -> tuple[bytes, dict]:
    return json.dumps({"action": action, "issue": issue}).encode(), {"X-GitHub-Event": "issues"}


def test_github_events_give_the_issue_and_its_meaning():
    body, headers = github("closed", {"id": 42, "state": "closed", "state_reason": "completed"})
    event = parse("github", body, headers)
    assert event.external_id == "42" and event.state.outcome == Outcome.DONE
    body, headers = github("closed", {"id": 42, "state": "closed", "state_reason": "not_planned"})
    assert parse("github", body, headers).state.outcome == Outcome.NOT_PLANNED
    body, headers = github("reopened", {"id": 42, "state": "open", "state_reason": "reopened"})
    assert parse("github", body, headers).state.outcome == Outcome.OPEN
    body, headers = github("deleted", {"id": 42})
    assert parse("github", body, headers).state is None
    body, headers = github("labeled", {"id": 42, "state": "open"})
    assert parse("github", body, headers) is None
    assert parse("github", b'{"zen": "x"}', {"X-GitHub-Event": "ping"}) is None


def test_gitlab_events_act_on_close_and_reopen_only():
    def gitlab(action: str, state: str) -> bytes:
        attributes = {"id": 7, "iid": 1, "state": state, "action": action}
        return json.dumps({"object_kind": "issue", "object_attributes": attributes}).encode()

    assert parse("gitlab", gitlab("close", "closed"), {}).state.outcome == Outcome.DONE
    assert parse("gitlab", gitlab("reopen", "opened"), {}).state.outcome == Outcome.OPEN
    assert parse("gitlab", gitlab("update", "opened"), {}) is None
    assert parse("gitlab", b'{"object_kind": "note"}', {}) is None


def test_jira_events_read_the_status_category():
    def jira(category: str, resolution: str | None = None) -> bytes:
        fields = {
            "status": {"name": "Whatever", "statusCategory": {"key": category}},
            "resolution": {"name": resolution} if resolution else None,
        }
        issue = {"id": "10001", "key": "OPS-1", "fields": fields}
        return json.dumps({"webhookEvent": "jira:issue_updated", "issue": issue}).encode()

    assert parse("jira", jira("done"), {}).state.outcome == Outcome.DONE
    assert parse("jira", jira("done", "Won't Do"), {}).state.outcome == Outcome.NOT_PLANNED
    assert parse("jira", jira("indeterminate"), {}).state.outcome == Outcome.OPEN
    assert parse("jira", b'{"webhookEvent": "comment_created"}', {}) is None


ISSUES = {"X-GitHub-Event": "issues"}
JIRA_UPDATED = "jira:issue_updated"


@pytest.mark.parametrize(
    ("provider", "payload", "headers"),
    [
        ("github", b"", ISSUES),
        ("github", b"null", ISSUES),
        ("jira", b"\x00\x01", {}),
        ("github", {"action": "closed", "issue": []}, ISSUES),
        ("github", {"action": "closed", "issue": {"id": 1, "state": 5}}, ISSUES),
        ("github", {"action": "closed", "issue": {"id": "", "state": "closed"}}, ISSUES),
        ("gitlab", {"object_kind": "issue"}, {}),
        ("gitlab", {"object_kind": "issue", "object_attributes": {"action": "close", "id": 1}}, {}),
        (
            "gitlab",
            {"object_kind": "issue", "object_attributes": {"action": "close", "id": {}}},
            {},
        ),
        ("jira", {"webhookEvent": JIRA_UPDATED}, {}),
        (
            "jira",
            {"webhookEvent": JIRA_UPDATED, "issue": {"id": "1", "fields": {"status": "x"}}},
            {},
        ),
        (
            "jira",
            {
                "webhookEvent": JIRA_UPDATED,
                "issue": {"id": "1", "fields": {"status": {"statusCategory": {"key": 3}}}},
            },
            {},
        ),
    ],
)
def test_unexpected_shapes_are_400(provider, payload, headers):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    with pytest.raises(WebhookRefused) as refused:
        parse(provider, body, headers)
    assert refused.value.status == 400
