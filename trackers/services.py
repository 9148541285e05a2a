"""Connecting issue trackers, pushing actions to them, and syncing their state back.

- Connections are created, changed and deleted here; their token and webhook secret are
  encrypted (trackers.crypto) before they reach the database.
- ``action_push`` turns an action into an issue of the connection that applies to its team,
  once: the link row is claimed before the tracker is asked, so a second push returns the
  first one's issue and a concurrent one is refused.
- ``connection_poll`` (beat, every TRACKER_POLL_MINUTES) and ``webhook_apply`` (the
  trackers' webhooks) bring issue states back: closed -> done, closed as not planned ->
  won't do, reopened -> in progress (only an action the sync itself closed, see
  ``status_change``).

Every outbound request is made outside a database transaction; a tracker's rate limit
pauses its connection until the time the tracker gave (``paused_until``).
"""

from __future__ import annotations

import logging
import secrets
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from actions.models import Action
from actions.selectors import action_url, can_change_action
from actions.services import ActionError, action_update
from common import ssrf
from common.errors import ApplicationError
from maturity.models import Choice
from trackers import crypto, selectors
from trackers.clients import (
    CreatedIssue,
    Failure,
    GitHubClient,
    GitLabClient,
    IssueDraft,
    IssueState,
    JiraClient,
    Outcome,
    TrackerClient,
    TrackerFailure,
)
from trackers.models import TrackerConnection, TrackerLink
from trackers.validation import ConnectionSettings
from trackers.webhooks import WebhookEvent

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

# A push under way for longer than this (seconds; well above a request's 20 s of timeouts)
# is taken to have died, and another push may start again.
PUSH_CLAIM_SECONDS = 120
# Issues read per connection per poll, those synced longest ago first.
POLL_BATCH = 500
ACTIVE = (Action.Status.OPEN, Action.Status.IN_PROGRESS)


class TrackerError(ApplicationError):
    """A push, test or change that cannot be done; ``code`` says why.

    The tracker's own refusals are 502 (its answer was an error: ``tracker_auth``,
    ``tracker_not_found``, ``tracker_rejected``, ``tracker_unavailable``,
    ``tracker_bad_response``) or 503 with ``retry_after`` seconds (``tracker_rate_limited``).
    """

    STATUS: ClassVar[dict[str, int]] = {
        "forbidden": 403,
        "not_configured": 409,
        "credentials_unreadable": 409,
        "address_refused": 409,
        "no_connection": 409,
        "already_linked": 409,
        "push_in_progress": 409,
        "tracker_auth": 502,
        "tracker_not_found": 502,
        "tracker_rejected": 502,
        "tracker_unavailable": 502,
        "tracker_bad_response": 502,
        "tracker_rate_limited": 503,
    }

    @property
    def retry_after(self) -> int | None:
        """Seconds to wait before trying again (rate limits only)."""
        value = self.extra.get("retry_after")
        return value if isinstance(value, int) else None


@dataclass(frozen=True)
class PushResult:
    """The link of a pushed action; ``created`` False when the action had one already."""

    link: TrackerLink
    created: bool


@dataclass
class PollResult:
    """One connection's poll: issues read, actions changed, links found broken; the error
    that stopped it ("" if none), whether trying again soon may help (``transient``), and
    the end of a rate-limit pause that kept it from starting."""

    checked: int = 0
    changed: int = 0
    broken: int = 0
    error: str = ""
    transient: bool = False
    paused_until: datetime | None = None
    repository_checked: bool = False


# --- connections ----------------------------------------------------------------------------


def _encrypted(plaintext: str) -> str:
    try:
        return crypto.encrypt(plaintext)
    except crypto.EncryptionUnavailable:
        raise TrackerError(crypto.NOT_CONFIGURED, code="not_configured") from None


def _plaintext(connection: TrackerConnection, ciphertext: str) -> str:
    try:
        return crypto.decrypt(ciphertext)
    except crypto.EncryptionUnavailable:
        raise TrackerError(crypto.NOT_CONFIGURED, code="not_configured") from None
    except crypto.Undecryptable:
        raise TrackerError(
            f"The credentials of {connection.name} cannot be decrypted with the configured "
            "TRACKER_ENCRYPTION_KEY (was its key removed?): enter the token and webhook "
            "secret again.",
            code="credentials_unreadable",
        ) from None


@transaction.atomic
def connection_create(*, values: ConnectionSettings, by: User) -> TrackerConnection:
    """Create a connection from checked ``values`` (validation.connection_clean), its
    secrets encrypted; without a webhook secret it gets a random one (webhook_secret).

    Raises TrackerError ``not_configured`` (409) without TRACKER_ENCRYPTION_KEY, and
    ``team_taken`` (400, field ``team``) when another connection took the team meanwhile.
    """
    connection = TrackerConnection(
        provider=values.provider,
        name=values.name,
        base_url=values.base_url,
        target=values.target,
        issue_type=values.issue_type,
        email=values.email,
        team=values.team,
        token_encrypted=_encrypted(values.token),
        webhook_secret_encrypted=_encrypted(values.webhook_secret or secrets.token_urlsafe(32)),
        created_by=by,
    )
    _save(connection)
    return connection


@transaction.atomic
def connection_update(connection: TrackerConnection, *, values: ConnectionSettings) -> None:
    """Change ``connection`` to checked ``values`` (the provider never changes); a blank
    token or webhook secret keeps the stored one. New settings clear the last error and
    any rate-limit pause. Raises TrackerError as connection_create does."""
    for name in ("name", "base_url", "target", "issue_type", "email", "team"):
        setattr(connection, name, getattr(values, name))
    if values.token:
        connection.token_encrypted = _encrypted(values.token)
    if values.webhook_secret:
        connection.webhook_secret_encrypted = _encrypted(values.webhook_secret)
    connection.last_error = ""
    connection.last_error_at = None
    connection.paused_until = None
    _save(connection)


def _save(connection: TrackerConnection) -> None:
    try:
        with transaction.atomic():
            connection.save()
    except IntegrityError:
        raise TrackerError(
            "Another connection applies to this team already.", code="team_taken", field="team"
        ) from None


def connection_delete(connection: TrackerConnection) -> None:
    """Delete ``connection`` and its links: their issues are no longer synced (the actions
    keep their issue's address in ``external_url``)."""
    connection.delete()


def webhook_secret(connection: TrackerConnection) -> str:
    """Return the connection's webhook secret in plain text (to verify a delivery, or to
    show a lead what to paste into the tracker). Raises TrackerError if unreadable."""
    return _plaintext(connection, connection.webhook_secret_encrypted)


def webhook_url(connection: TrackerConnection) -> str:
    """The absolute address the tracker's webhook posts to (from SITE_URL)."""
    path = reverse("tracker-webhook", kwargs={"public_id": connection.public_id})
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def client_for(connection: TrackerConnection) -> TrackerClient:
    """Return the HTTP client of ``connection``, its token decrypted.

    Raises TrackerError ``address_refused`` (the API address leads to a private,
    loopback or link-local address and TRACKER_ALLOW_PRIVATE is off), ``not_configured``
    or ``credentials_unreadable``.
    """
    if not settings.TRACKER_ALLOW_PRIVATE:
        # Checked at each use, not only when saved: the host's DNS may have changed since.
        try:
            ssrf.check_url(connection.base_url, allow_private=False)
        except ssrf.UrlRefused as error:
            raise TrackerError(
                f"The tracker's address was refused: {error}", code="address_refused"
            ) from None
    token = _plaintext(connection, connection.token_encrypted)
    client: TrackerClient
    if connection.provider == TrackerConnection.Provider.GITHUB:
        client = GitHubClient(connection.base_url, connection.target, token)
    elif connection.provider == TrackerConnection.Provider.GITLAB:
        client = GitLabClient(connection.base_url, connection.target, token)
    else:
        client = JiraClient(
            connection.base_url, connection.target, connection.email, token, connection.issue_type
        )
    return client


def connection_test(connection: TrackerConnection) -> str:
    """Read the connection's repository or project (a GET); return what was found, as a
    sentence. Raises TrackerError (the tracker's refusal, mapped as for a push)."""
    _check_not_paused(connection, timezone.now())
    with closing(client_for(connection)) as client:
        try:
            found = client.check()
        except TrackerFailure as failure:
            raise _failed(connection, failure) from None
    _record_success(connection)
    return found


# --- failures and pauses -----------------------------------------------------------------------

_WHAT = {"github": "repository", "gitlab": "project", "jira": "project"}


def tracker_error(connection: TrackerConnection, failure: TrackerFailure) -> TrackerError:
    """The TrackerError (a message for people) a tracker's failure stands for."""
    name = connection.get_provider_display()
    what = f"{name} {_WHAT[connection.provider]} {connection.target}"
    status = f" (HTTP {failure.status})" if failure.status else ""
    if failure.kind == Failure.RATE_LIMITED:
        seconds = max(1, round(failure.retry_after or 60))
        return TrackerError(
            f"{name} asks us to slow down (rate limit): try again in {seconds} seconds.",
            code="tracker_rate_limited",
            extra={"retry_after": seconds},
        )
    messages = {
        Failure.AUTH: (
            "tracker_auth",
            f"{name} refused the credentials{status}: check the token"
            f"{' and e-mail' if connection.provider == 'jira' else ''} and what it may do. "
            f"{name} said: {failure.detail}",
        ),
        Failure.NOT_FOUND: (
            "tracker_not_found",
            f"The {what} was not found{status}, or the token cannot see it.",
        ),
        Failure.GONE: ("tracker_not_found", f"The {what} takes no issues: {failure.detail}."),
        Failure.REJECTED: ("tracker_rejected", f"{name} refused the issue: {failure.detail}"),
        Failure.UNAVAILABLE: (
            "tracker_unavailable",
            f"{name} could not be reached{status}: {failure.detail}. Try again later.",
        ),
        Failure.BAD_RESPONSE: (
            "tracker_bad_response",
            f"{name} answered in a way this service does not understand{status}: {failure.detail}.",
        ),
    }
    code, message = messages[failure.kind]
    return TrackerError(message, code=code)


def _failed(connection: TrackerConnection, failure: TrackerFailure) -> TrackerError:
    """Record a failure on the connection (pausing it on a rate limit); return its error."""
    error = tracker_error(connection, failure)
    now = timezone.now()
    changes: dict[str, Any] = {"last_error": error.message[:500], "last_error_at": now}
    if error.retry_after is not None:
        changes["paused_until"] = now + timedelta(seconds=error.retry_after)
    TrackerConnection.objects.filter(pk=connection.pk).update(**changes)
    for name, value in changes.items():
        setattr(connection, name, value)
    logger.warning("tracker %s (%s): %s", connection.pk, connection.provider, failure.kind)
    return error


def _record_error(connection: TrackerConnection, message: str) -> None:
    now = timezone.now()
    TrackerConnection.objects.filter(pk=connection.pk).update(
        last_error=message[:500], last_error_at=now
    )


def _record_success(connection: TrackerConnection, *, synced: bool = False) -> None:
    changes: dict[str, Any] = {"last_error": "", "last_error_at": None, "paused_until": None}
    if synced:
        changes["last_sync_at"] = timezone.now()
    TrackerConnection.objects.filter(pk=connection.pk).update(**changes)


def _check_not_paused(connection: TrackerConnection, now: datetime) -> None:
    """Refuse to call a tracker whose rate limit has not been reset yet."""
    if connection.paused_until is not None and connection.paused_until > now:
        wait = (connection.paused_until - now).total_seconds()
        raise tracker_error(
            connection, TrackerFailure(Failure.RATE_LIMITED, "paused", retry_after=wait)
        )


# --- pushing ---------------------------------------------------------------------------------


def issue_draft(action: Action) -> IssueDraft:
    """The issue an action becomes: its title, and a body with the question, its dimension,
    the recommended next step from the team's level when the action was made, the team,
    the due date, the owner and the link back to the action on its team's report."""
    question = action.question
    next_step = ""
    if action.baseline_score is not None:
        next_step = (
            Choice.objects.filter(question=question, score=action.baseline_score)
            .values_list("next_step", flat=True)
            .first()
            or ""
        )
    owner = action.owner
    facts = (
        ("Question", question.text),
        ("Dimension", question.dimension.name),
        ("Recommended next step", next_step),
        ("Team", action.team.name),
        ("Due", action.due.isoformat() if action.due else ""),
        ("Owner", (owner.get_full_name() or owner.get_username()) if owner else ""),
    )
    return IssueDraft(
        # One line: Jira refuses a summary with a line break.
        title=" ".join(action.title.split()),
        intro=f"An improvement action of {action.team.name} from the MLOps maturity "
        f'assessment "{action.survey.title}".',
        facts=tuple((label, value) for label, value in facts if value),
        link=action_url(action),
    )


def action_push(action: Action, *, by: User) -> PushResult:
    """Create an issue for ``action`` in the connection that applies to its team, and link
    them: ``external_url`` of the action becomes the issue's address (actions.services).

    Idempotent: an action already linked gets its link back (``created`` False); one whose
    issue was deleted (a broken link) is pushed again. ``by`` must be allowed to change the
    action (actions.selectors.can_change_action).

    Raises TrackerError: ``forbidden`` (403); ``no_connection``, ``already_linked`` (the
    action has an address typed by a person), ``push_in_progress`` (a concurrent push),
    ``not_configured``, ``credentials_unreadable`` (409); the tracker's refusals (502,
    503 with ``retry_after``).
    """
    if not can_change_action(by, action):
        raise TrackerError("You may not push this action to a tracker.", code="forbidden")
    link, claimed = _claim(action, by)
    if not claimed:
        return PushResult(link, created=False)
    try:
        issue = _create_issue(link.connection, link.action)
    except BaseException:
        TrackerLink.objects.filter(pk=link.pk, status=TrackerLink.Status.PENDING).delete()
        raise
    return PushResult(_complete(link, issue, by), created=True)


@transaction.atomic
def _claim(action: Action, by: User) -> tuple[TrackerLink, bool]:
    """Lock the action; return its link (False) or a new pending one to push (True)."""
    locked = Action.objects.select_for_update().select_related("team").get(pk=action.pk)
    now = timezone.now()
    link = TrackerLink.objects.filter(action=locked).select_related("connection").first()
    replaced_url = ""
    if link is not None:
        if link.status == TrackerLink.Status.LINKED:
            return link, False
        if link.status == TrackerLink.Status.PENDING and now - link.claimed_at < timedelta(
            seconds=PUSH_CLAIM_SECONDS
        ):
            raise TrackerError(
                "This action is being pushed right now: reload the page in a moment.",
                code="push_in_progress",
            )
        replaced_url = link.url  # a broken link, or a push that died: start again
        link.delete()
    if locked.external_url and locked.external_url != replaced_url:
        raise TrackerError(
            f"The action links to {locked.external_url} already: remove that link from the "
            "action to push it to a tracker.",
            code="already_linked",
        )
    connection = selectors.connection_for(locked.team)
    if connection is None:
        raise TrackerError(
            f"No issue tracker is connected for {locked.team.name}: an admin or programme "
            "lead connects one in the console (Issue trackers).",
            code="no_connection",
        )
    _check_not_paused(connection, now)
    link = TrackerLink.objects.create(
        action=locked, connection=connection, created_by=by, claimed_at=now, created_at=now
    )
    return link, True


def _create_issue(connection: TrackerConnection, action: Action) -> CreatedIssue:
    draft = issue_draft(action)
    with closing(client_for(connection)) as client:
        try:
            issue = client.create_issue(draft)
        except TrackerFailure as failure:
            raise _failed(connection, failure) from None
    if not issue.url.startswith(("https://", "http://")) or len(issue.url) > 500:
        unusable = TrackerFailure(Failure.BAD_RESPONSE, "the new issue's address is not usable")
        raise _failed(connection, unusable)
    _record_success(connection)
    return issue


def _complete(link: TrackerLink, issue: CreatedIssue, by: User) -> TrackerLink:
    """Record the created issue on the link, then its address on the action."""
    link.status = TrackerLink.Status.LINKED
    link.target = issue.target[:200]
    link.external_id = issue.external_id
    link.external_key = issue.external_key
    link.url = issue.url
    link.external_state = issue.state.label
    link.last_synced_at = timezone.now()
    link.save()
    try:
        action_update(link.action, {"external_url": issue.url}, by=by)
    except ActionError as error:
        # The issue exists and the link holds its address: the action's own field is a
        # convenience, and a rule changed meanwhile must not lose the issue.
        logger.warning("action %s: external_url not set after push: %s", link.action_id, error)
    link.action.refresh_from_db()
    return link


# --- syncing back ------------------------------------------------------------------------------


def status_change(
    action: Action, link: TrackerLink, state: IssueState, provider_name: str
) -> dict[str, str] | None:
    """Return the change an issue's state asks of its action (for action_update), or None.

    - Closed (completed) -> done, closed as not planned -> won't do ("Closed as not planned
      in GitHub"): only an open or in-progress action; one a person closed stays as it is.
    - Reopened -> in progress: only an action the sync closed and nobody changed since
      (its status is still the link's ``synced_status``).
    - Closed for another reason (a duplicate): no change.
    """
    active = action.status in ACTIVE
    if state.outcome == Outcome.DONE and active:
        return {"status": Action.Status.DONE}
    if state.outcome == Outcome.NOT_PLANNED and active:
        return {
            "status": Action.Status.WONT_DO,
            "wont_do_reason": f"Closed as not planned in {provider_name}",
        }
    if state.outcome == Outcome.OPEN and not active and action.status == link.synced_status:
        return {"status": Action.Status.IN_PROGRESS}
    return None


def link_state_apply(link: TrackerLink, state: IssueState | None) -> str:
    """Record an issue's ``state`` on its link and change the action as status_change says;
    ``state`` None (the issue was deleted) marks the link broken.

    Returns "updated" (the action changed), "unchanged", "broken" or "ignored" (the link is
    no longer linked). The action, then the link, are locked while this runs.
    """
    with transaction.atomic():
        action = Action.objects.select_for_update().get(pk=link.action_id)
        link = TrackerLink.objects.select_for_update().select_related("connection").get(pk=link.pk)
        if link.status != TrackerLink.Status.LINKED:
            return "ignored"
        provider_name = link.connection.get_provider_display()
        if state is None:
            link_broken(link, f"The issue was deleted in {provider_name}.")
            return "broken"
        change = status_change(action, link, state, provider_name)
        if change is not None:
            action_update(action, change, by=None)
            link.synced_status = change["status"]
        link.external_state = state.label
        link.last_synced_at = timezone.now()
        link.last_error = ""
        link.save(update_fields=["synced_status", "external_state", "last_synced_at", "last_error"])
    return "updated" if change is not None else "unchanged"


def link_broken(link: TrackerLink, reason: str) -> None:
    """Mark a link broken (its issue is gone): it is no longer polled, and pushing the
    action again creates a new issue."""
    link.status = TrackerLink.Status.BROKEN
    link.last_error = reason[:500]
    link.last_synced_at = timezone.now()
    link.save(update_fields=["status", "last_error", "last_synced_at"])


def webhook_apply(connection: TrackerConnection, event: WebhookEvent) -> str:
    """Apply a verified webhook event of ``connection``; return what happened: "updated",
    "unchanged", "broken", or "ignored" (an issue no action is linked to)."""
    link = TrackerLink.objects.filter(connection=connection, external_id=event.external_id).first()
    if link is None:
        return "ignored"
    result = link_state_apply(link, event.state)
    TrackerConnection.objects.filter(pk=connection.pk).update(last_sync_at=timezone.now())
    return result


def connection_poll(connection: TrackerConnection, *, limit: int = POLL_BATCH) -> PollResult:
    """Read the state of up to ``limit`` issues of ``connection`` whose actions are open or
    in progress, and apply it (link_state_apply).

    Never raises for the tracker's failures: a rate limit pauses the connection until the
    time the tracker gave and stops this poll; a refusal of the credentials, an unreachable
    tracker or an unreadable answer stop it and are recorded as the connection's
    ``last_error`` (``transient`` in the result for the unreachable); an issue that is gone
    (404/410, while its repository is still there) marks its link broken.
    """
    now = timezone.now()
    if connection.paused_until is not None and connection.paused_until > now:
        return PollResult(paused_until=connection.paused_until)
    try:
        client = client_for(connection)
    except TrackerError as error:
        _record_error(connection, error.message)
        return PollResult(error=error.message)
    result = PollResult()
    with closing(client):
        for link in selectors.pollable_links(connection, limit):
            try:
                _poll_link(client, link, result)
            except TrackerFailure as failure:
                result.error = _failed(connection, failure).message
                result.transient = failure.kind == Failure.UNAVAILABLE
                return result
    _record_success(connection, synced=True)
    return result


def _poll_link(client: TrackerClient, link: TrackerLink, result: PollResult) -> None:
    try:
        state = client.issue_state(link.target, link.external_id, link.external_key)
    except TrackerFailure as failure:
        if failure.kind not in (Failure.NOT_FOUND, Failure.GONE):
            raise
        if not result.repository_checked:
            # All issues are "not found" when the token lost the repository: that is the
            # connection's problem (raised from here), not every link's.
            client.check()
            result.repository_checked = True
        link_broken(link, f"{client.provider_name} answered {failure.status}: the issue is gone.")
        result.broken += 1
        return
    result.checked += 1
    if link_state_apply(link, state) == "updated":
        result.changed += 1


def connections_rotate_keys() -> tuple[int, list[str]]:
    """Re-encrypt every connection's token and webhook secret under the first key of
    TRACKER_ENCRYPTION_KEY. Returns how many connections were re-encrypted and the names
    of those no configured key opens (left as they were).

    Raises crypto.EncryptionUnavailable without a usable key.
    """
    rotated, unreadable = 0, []
    for connection in TrackerConnection.objects.order_by("pk"):
        try:
            token = crypto.rotate(connection.token_encrypted)
            secret = crypto.rotate(connection.webhook_secret_encrypted)
        except crypto.Undecryptable:
            unreadable.append(connection.name)
            continue
        TrackerConnection.objects.filter(pk=connection.pk).update(
            token_encrypted=token, webhook_secret_encrypted=secret
        )
        rotated += 1
    return rotated, unreadable
