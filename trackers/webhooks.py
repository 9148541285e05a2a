"""Inbound webhooks of the trackers: check who sent one, read which issue changed how.

No Django here: the view passes the raw body and the headers. Verification:

- GitHub: ``X-Hub-Signature-256: sha256=<hex>``, the HMAC-SHA256 of the raw body under the
  connection's webhook secret. Events: ``X-GitHub-Event: issues`` with ``action`` closed,
  reopened or deleted (others, and ``ping``, are acknowledged and ignored).
- GitLab: ``X-Gitlab-Token`` equal to the secret. Events: ``object_kind: issue`` with
  ``object_attributes.action`` close or reopen, and ``object_attributes.state``.
- Jira Cloud admin webhooks created with a secret: ``X-Hub-Signature: sha256=<hex>``, as
  GitHub's. Required: a Jira webhook without a secret could be sent by anyone who learns
  the URL. Events: ``webhookEvent`` jira:issue_updated (the issue's
  ``fields.status.statusCategory.key``) and jira:issue_deleted.

Every comparison of a secret or signature is constant-time (hmac.compare_digest).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from common.text import storable
from trackers.clients import IssueState, TrackerFailure, github_state, gitlab_state, jira_state


class WebhookRefused(Exception):
    """A delivery we refuse: ``status`` 403 (not from the tracker) or 400 (unreadable)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class WebhookEvent:
    """An issue's new state (``state`` None: the issue was deleted)."""

    external_id: str
    state: IssueState | None


def _signature_ok(secret: str, body: bytes, given: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), given.strip().lower().encode("utf-8"))


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


def verify(provider: str, secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    """Check that ``body`` was sent by the tracker that knows ``secret``.

    ``provider`` is github, gitlab or jira. Raises WebhookRefused(403) when the signature
    or token is missing or wrong.
    """
    lowered = _lowered(headers)
    if provider == "gitlab":
        given = lowered.get("x-gitlab-token", "")
        if not given:
            raise WebhookRefused(403, "The X-Gitlab-Token header is missing.")
        if not hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8")):
            raise WebhookRefused(403, "The X-Gitlab-Token header is not this webhook's secret.")
        return
    header = "x-hub-signature-256" if provider == "github" else "x-hub-signature"
    given = lowered.get(header, "")
    if not given:
        raise WebhookRefused(403, f"The {header} header is missing: set a secret on the webhook.")
    if not _signature_ok(secret, body, given):
        raise WebhookRefused(403, f"The {header} signature does not match this webhook's secret.")


def parse(provider: str, body: bytes, headers: Mapping[str, str]) -> WebhookEvent | None:
    """Read a verified delivery: the issue it is about and its new state, or None for an
    event that changes no action (a ping, a comment, a label, another kind of object).

    Raises WebhookRefused(400) for a body that is not a JSON object, or an event of a
    kind we act on without the fields its documentation promises.
    """
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise WebhookRefused(400, "The body is not JSON.") from None
    if not isinstance(payload, dict):
        raise WebhookRefused(400, "The body is not a JSON object.")
    readers: dict[str, Callable[[dict[str, Any], dict[str, str]], WebhookEvent | None]] = {
        "github": _github,
        "gitlab": _gitlab,
        "jira": _jira,
    }
    return readers[provider](payload, _lowered(headers))


def _identifier(value: Any, where: str) -> str:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | str)
        or str(value) == ""
        or not storable(str(value))
    ):
        raise WebhookRefused(400, f"{where} is missing or not an id.")
    return str(value)[:64]


def _state(reader: Callable[[Any], IssueState], value: Any, where: str) -> IssueState:
    try:
        return reader(value)
    except TrackerFailure:
        raise WebhookRefused(400, f"{where} has no state this service can read.") from None


def _github(payload: dict[str, Any], headers: dict[str, str]) -> WebhookEvent | None:
    if headers.get("x-github-event") != "issues":
        return None  # ping, and the events a webhook sends besides the ones we asked for
    action = payload.get("action")
    if not isinstance(action, str):
        raise WebhookRefused(400, "An issues event needs an action.")
    if action not in ("closed", "reopened", "deleted"):
        return None
    issue = payload.get("issue")
    if not isinstance(issue, dict):
        raise WebhookRefused(400, "An issues event needs its issue.")
    external_id = _identifier(issue.get("id"), "issue.id")
    if action == "deleted":
        return WebhookEvent(external_id, None)
    return WebhookEvent(external_id, _state(github_state, issue, "issue"))


def _gitlab(payload: dict[str, Any], headers: dict[str, str]) -> WebhookEvent | None:
    if payload.get("object_kind") != "issue":
        return None
    attributes = payload.get("object_attributes")
    if not isinstance(attributes, dict):
        raise WebhookRefused(400, "An issue event needs object_attributes.")
    if attributes.get("action") not in ("close", "reopen"):
        return None  # open, update: no change of state to act on
    external_id = _identifier(attributes.get("id"), "object_attributes.id")
    return WebhookEvent(external_id, _state(gitlab_state, attributes, "object_attributes"))


def _jira(payload: dict[str, Any], headers: dict[str, str]) -> WebhookEvent | None:
    event = payload.get("webhookEvent")
    if event not in ("jira:issue_updated", "jira:issue_deleted"):
        return None
    issue = payload.get("issue")
    if not isinstance(issue, dict):
        raise WebhookRefused(400, f"A {event} event needs its issue.")
    external_id = _identifier(issue.get("id"), "issue.id")
    if event == "jira:issue_deleted":
        return WebhookEvent(external_id, None)
    return WebhookEvent(external_id, _state(jira_state, issue, "issue"))
