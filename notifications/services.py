"""Writes of the notifications app: webhooks, their deliveries, the weekly digest.

Webhooks: registered by those who run the programme (selectors.can_manage_webhooks;
views and API check it). Each event published (common.events) becomes one
``WebhookDelivery`` per active webhook subscribed to it (``on_event_published``, the
listener: two statements, no request to any receiver) and a task per delivery once
they are committed (notifications.tasks.deliver_webhook), which calls
``delivery_attempt``.

Attempts and retries. An attempt claims its delivery (a row lock, then the attempt
counted and ``next_attempt_at`` pushed past the task's time limit), sends without holding
any lock, then records the result:

- 2xx: succeeded; the webhook's ``consecutive_failures`` goes back to 0.
- A timeout, a failed connection, a 5xx, 408 or 429: tried again after
  WEBHOOK_RETRY_BASE_SECONDS x 4^(attempt - 1), +-20 % jitter (30 s, 2 min, 8 min,
  32 min, ~2 h by default), or after the receiver's Retry-After (429, 503), capped at
  WEBHOOK_RETRY_AFTER_MAX_SECONDS; at most WEBHOOK_MAX_ATTEMPTS attempts in all.
- Anything else (another 4xx, a refused address, a redirect not followed), or the last
  attempt failing: failed, and one more consecutive failure for the webhook; at
  WEBHOOK_DISABLE_AFTER_FAILURES in a row the webhook is disabled (not active, with when
  and why) and its pending deliveries fail without being sent.

A retry waits in the broker when it is short enough for Redis to hold it without
handing it to a second worker (tasks.countdown_limit); longer ones wait in the database
and beat's ``deliveries_enqueue_due`` (every minute) sends them when due, as it does any
delivery whose message was lost (a broker outage at enqueue time, a worker killed
mid-attempt: ``next_attempt_at`` then passes). A claim is taken once, so a duplicate
message does nothing.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import orjson
from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import Profile
from accounts.zones import zone_of
from common import ssrf
from common.errors import ApplicationError
from notifications import formats, rules, selectors, transport
from notifications.models import DigestSent, Webhook, WebhookDelivery

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

# Seconds added to the task's hard time limit before an attempt in flight is taken for
# lost (its worker killed) and sent again; and the slack beat allows a due delivery
# before it enqueues it again (a countdown about to fire).
LOST_MARGIN_SECONDS = 60
# Clock skew between the machine that set a countdown and the worker that runs it.
CLOCK_SKEW_SECONDS = 5
RETRY_FACTOR = 4
DUE_BATCH = 1000


class NotificationError(ApplicationError):
    """A broken rule about webhooks; ``field`` names the input at fault."""

    STATUS: ClassVar[dict[str, int]] = {"forbidden": 403, "inactive": 409}


# --- webhooks ----------------------------------------------------------------------------


def _checked_url(url: str) -> str:
    """``url`` if it may be a webhook's address, by its text and by where its host
    resolves now (WEBHOOK_ALLOW_PRIVATE aside); else NotificationError on ``url``."""
    problem = rules.url_problem(url)
    if problem is None:
        try:
            ssrf.check_url(url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE)
        except ssrf.UrlRefused as error:
            problem = str(error)
    if problem is not None:
        raise NotificationError(problem, code="invalid_url", field="url")
    return url


def _checked_secret(secret: str) -> str:
    problem = rules.secret_problem(secret)
    if problem is not None:
        raise NotificationError(problem, code="invalid_secret", field="secret")
    return secret


def _checked_events(events: Iterable[str]) -> list[str]:
    names = list(events)
    problem = rules.events_problem(names)
    if problem is not None:
        raise NotificationError(problem, code="invalid_events", field="events")
    return rules.ordered_events(names)


def _checked_format(fmt: str) -> str:
    if fmt not in Webhook.Format.values:
        raise NotificationError(
            f"The format must be one of {', '.join(Webhook.Format.values)}.",
            code="invalid_format",
            field="format",
        )
    return fmt


@transaction.atomic
def webhook_create(
    *,
    url: str,
    secret: str,
    events: Sequence[str],
    fmt: str = "json",
    active: bool = True,
    by: User | None,
) -> Webhook:
    """Register a webhook (active unless ``active`` is False).

    Raises NotificationError with the field at fault: a URL refused by its text or because
    its host resolves to an address that is not public (ssrf; unless
    WEBHOOK_ALLOW_PRIVATE) or not at all, a secret shorter than 16 or longer than 256
    characters, no or unknown events, an unknown format."""
    webhook = Webhook(
        url=_checked_url(url),
        secret=_checked_secret(secret),
        events=_checked_events(events),
        format=_checked_format(fmt),
        active=active,
        created_by=by,
    )
    webhook.save()
    return webhook


CHANGEABLE = ("url", "secret", "events", "format", "active")


@transaction.atomic
def webhook_update(*, webhook: Webhook, changes: Mapping[str, Any]) -> Webhook:
    """Change ``webhook`` by ``changes`` (keys of CHANGEABLE; checked as webhook_create
    checks them). Making it active again clears its disabling and failure count; a new
    URL is checked again. Raises NotificationError."""
    unknown = sorted(set(changes) - set(CHANGEABLE))
    if unknown:
        raise NotificationError(
            f"These fields cannot be changed: {', '.join(unknown)}.", code="not_changeable"
        )
    locked = Webhook.objects.select_for_update().get(pk=webhook.pk)
    if "url" in changes and changes["url"] != locked.url:
        locked.url = _checked_url(changes["url"])
    if "secret" in changes:
        locked.secret = _checked_secret(changes["secret"])
    if "events" in changes:
        locked.events = _checked_events(changes["events"])
    if "format" in changes:
        locked.format = _checked_format(changes["format"])
    if "active" in changes:
        active = bool(changes["active"])
        if active and not locked.active:
            locked.disabled_at, locked.disabled_reason = None, ""
            locked.consecutive_failures = 0
        locked.active = active
    locked.save()
    return locked


def webhook_delete(*, webhook: Webhook) -> None:
    """Delete ``webhook`` and its delivery log (queued attempts then find nothing)."""
    webhook.delete()


# --- the listener ------------------------------------------------------------------------


def on_event_published(sender: object, *, name: str, payload: Any, **kwargs: Any) -> None:
    """common.events' receiver: record a delivery of ``name`` for each active webhook
    subscribed to it, and queue them once committed. Never raises (an error is logged):
    the publisher's work is done and must not see ours fail."""
    try:
        deliveries_create(event=name, payload=payload)
    except Exception:
        logger.exception("webhook deliveries of %s not recorded", name)


def deliveries_create(
    *, event: str, payload: Any, occurred_at: datetime | None = None
) -> list[WebhookDelivery]:
    """Record one pending delivery of ``event`` per active webhook subscribed to it (one
    event id for them all) and queue each after commit; return them. Nothing is sent to
    a receiver here (in eager mode, with no broker, the queued task runs at once)."""
    webhooks = [
        webhook
        for webhook in Webhook.objects.filter(active=True).only("pk", "events")
        if event in webhook.events
    ]
    if not webhooks:
        return []
    # A JSON copy: the row holds exactly what will be sent, whatever the publisher does
    # with its dict afterwards.
    data = orjson.loads(orjson.dumps(payload, default=str))
    now = occurred_at or timezone.now()
    event_id = uuid.uuid4()
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            webhook_id=webhook.pk,
            event=event,
            event_id=event_id,
            occurred_at=now,
            payload=data,
            created_at=now,
            next_attempt_at=now,
        )
        for webhook in webhooks
    )
    ids = [delivery.pk for delivery in deliveries]
    transaction.on_commit(lambda: deliveries_enqueue(ids))
    return deliveries


def deliveries_enqueue(delivery_ids: Iterable[int]) -> int:
    """Send a task for each delivery; never raises. Returns how many were queued.

    A broker that is down loses nothing: the deliveries stay pending and beat's
    deliveries_enqueue_due queues them again. In eager mode (no broker) the attempt runs
    here, and its failure is logged, not raised.
    """
    from notifications.tasks import deliver_webhook  # the tasks module imports this one

    queued = 0
    for delivery_id in delivery_ids:
        try:
            deliver_webhook.delay(delivery_id)
        except Exception:
            logger.exception("webhook delivery %s not queued; beat will queue it", delivery_id)
        else:
            queued += 1
    return queued


@transaction.atomic
def delivery_redeliver(*, delivery: WebhookDelivery, by: User | None) -> WebhookDelivery:
    """Deliver ``delivery``'s event again: a new delivery of the same event (same event
    id, payload and time, so receivers see the same body), queued after commit.

    Raises NotificationError ``inactive`` (409) when the webhook is not active.
    """
    webhook = Webhook.objects.select_for_update().get(pk=delivery.webhook_id)
    if not webhook.active:
        raise NotificationError(
            "The webhook is not active: make it active before delivering again.",
            code="inactive",
        )
    again = WebhookDelivery.objects.create(
        webhook=webhook,
        event=delivery.event,
        event_id=delivery.event_id,
        occurred_at=delivery.occurred_at,
        payload=delivery.payload,
        redelivery_of=delivery,
        requested_by=by,
    )
    transaction.on_commit(lambda: deliveries_enqueue([again.pk]))
    return again


# --- attempts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptOutcome:
    """What ``delivery_attempt`` did: ``status`` is ``succeeded``, ``retry`` (due again
    in ``retry_in`` seconds), ``failed``, or ``skipped`` (nothing to do: gone, finished,
    not due yet, or taken by another worker)."""

    status: str
    retry_in: float | None = None


def retry_delay(attempt: int, retry_after: float | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1 for the first): the
    receiver's Retry-After when it gave one (at most WEBHOOK_RETRY_AFTER_MAX_SECONDS, at
    least 1), else WEBHOOK_RETRY_BASE_SECONDS x 4^(attempt - 1) with +-20 % jitter."""
    if retry_after is not None:
        return max(1.0, min(retry_after, float(settings.WEBHOOK_RETRY_AFTER_MAX_SECONDS)))
    base = settings.WEBHOOK_RETRY_BASE_SECONDS * RETRY_FACTOR ** max(0, attempt - 1)
    # Jitter spreads the retries of many deliveries that failed together; not security.
    return float(base * random.uniform(0.8, 1.2))  # noqa: S311


def _policy() -> transport.Policy:
    return transport.Policy(
        allow_private=settings.WEBHOOK_ALLOW_PRIVATE,
        connect_timeout=settings.WEBHOOK_CONNECT_TIMEOUT,
        read_timeout=settings.WEBHOOK_READ_TIMEOUT,
        ca_bundle=settings.WEBHOOK_CA_BUNDLE,
    )


def _claim(delivery_id: int, now: datetime) -> WebhookDelivery | AttemptOutcome:
    """Take the delivery for one attempt and return it (the attempt counted); or return
    the outcome when there is nothing to send: ``skipped`` (gone, finished, not due, or
    in flight elsewhere), ``failed`` (its webhook is no longer active: finished unsent,
    not counted against the webhook)."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("webhook")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
            return AttemptOutcome("skipped")
        due = delivery.next_attempt_at
        if due is not None and due > now + timedelta(seconds=CLOCK_SKEW_SECONDS):
            return AttemptOutcome("skipped")  # not yet, or an attempt in flight elsewhere
        if not delivery.webhook.active:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.error = "Not sent: the webhook was disabled or paused."
            delivery.next_attempt_at, delivery.completed_at = None, now
            delivery.save(update_fields=["status", "error", "next_attempt_at", "completed_at"])
            return AttemptOutcome(WebhookDelivery.Status.FAILED)
        lease = settings.CELERY_TASK_TIME_LIMIT + LOST_MARGIN_SECONDS
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.next_attempt_at = now + timedelta(seconds=lease)
        delivery.save(update_fields=["attempts", "last_attempt_at", "next_attempt_at"])
    return delivery


def request_for(delivery: WebhookDelivery) -> tuple[bytes, dict[str, str]]:
    """The body and headers of ``delivery``'s request, in its webhook's format, signed
    with its secret."""
    webhook = delivery.webhook
    body = formats.body(
        webhook.format,
        event=delivery.event,
        event_id=delivery.event_id,
        occurred_at=delivery.occurred_at,
        data=delivery.payload,
    )
    headers = {
        "Content-Type": "application/json",
        "User-Agent": transport.USER_AGENT,
        "X-Maturity-Event": delivery.event,
        "X-Maturity-Delivery": str(delivery.uuid),
        "X-Maturity-Signature": transport.signature(webhook.secret, body),
    }
    return body, headers


def delivery_attempt(delivery_id: int) -> AttemptOutcome:
    """Make one attempt at a delivery and record it (see the module's docstring for the
    rules); return what came of it. Idempotent per attempt: a second call for the same
    attempt (a duplicate message) is ``skipped``."""
    claimed = _claim(delivery_id, timezone.now())
    if isinstance(claimed, AttemptOutcome):
        return claimed
    body, headers = request_for(claimed)
    result = transport.post(claimed.webhook.url, body, headers, _policy())
    return _record(claimed, result, timezone.now())


def _record(delivery: WebhookDelivery, result: transport.Result, now: datetime) -> AttemptOutcome:
    """Store the attempt's result on the delivery (if it is still this attempt's) and
    what it means for the webhook."""
    fields: dict[str, Any] = {
        "response_code": result.status_code,
        "error": result.error[:500],
        "response_excerpt": result.excerpt[: transport.EXCERPT_BYTES],
        "duration_ms": result.duration_ms,
    }
    if result.ok:
        outcome = AttemptOutcome(WebhookDelivery.Status.SUCCEEDED)
        fields |= {"status": outcome.status, "next_attempt_at": None, "completed_at": now}
    elif result.retryable and delivery.attempts < settings.WEBHOOK_MAX_ATTEMPTS:
        delay = retry_delay(delivery.attempts, result.retry_after)
        outcome = AttemptOutcome("retry", delay)
        fields["next_attempt_at"] = now + timedelta(seconds=delay)
    else:
        outcome = AttemptOutcome(WebhookDelivery.Status.FAILED)
        fields |= {"status": outcome.status, "next_attempt_at": None, "completed_at": now}
    with transaction.atomic():
        mine = WebhookDelivery.objects.filter(
            pk=delivery.pk, status=WebhookDelivery.Status.PENDING, attempts=delivery.attempts
        ).update(**fields)
        if not mine:  # deleted meanwhile (with its webhook), or taken for lost and redone
            return AttemptOutcome("skipped")
        if result.ok:
            Webhook.objects.filter(pk=delivery.webhook_id, consecutive_failures__gt=0).update(
                consecutive_failures=0
            )
        elif outcome.status == WebhookDelivery.Status.FAILED:
            _count_failure(delivery.webhook_id, result.error, now)
    return outcome


def _count_failure(webhook_id: int, error: str, now: datetime) -> None:
    """One more failed delivery in a row; disable the webhook at the limit."""
    Webhook.objects.filter(pk=webhook_id).update(consecutive_failures=F("consecutive_failures") + 1)
    limit = settings.WEBHOOK_DISABLE_AFTER_FAILURES
    reason = f"Disabled after {limit} failed deliveries in a row; the last: {error}"
    disabled = Webhook.objects.filter(
        pk=webhook_id, active=True, consecutive_failures__gte=limit
    ).update(active=False, disabled_at=now, disabled_reason=reason[:500])
    if disabled:
        logger.warning("webhook %s disabled: %s", webhook_id, reason)


def deliveries_enqueue_due(*, now: datetime | None = None) -> int:
    """Queue the pending deliveries due more than LOST_MARGIN_SECONDS ago (beat, every
    minute): retries too long to wait in the broker, and deliveries whose message or
    worker was lost. Returns how many were queued (at most DUE_BATCH a run)."""
    cutoff = (now or timezone.now()) - timedelta(seconds=LOST_MARGIN_SECONDS)
    due = list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=cutoff
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:DUE_BATCH]
    )
    return deliveries_enqueue(due)


def deliveries_prune(*, now: datetime | None = None) -> int:
    """Delete deliveries recorded more than WEBHOOK_LOG_DAYS days ago (beat, daily);
    return how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WEBHOOK_LOG_DAYS)
    deleted = 0
    while True:
        batch = list(
            WebhookDelivery.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[
                :5000
            ]
        )
        if not batch:
            return deleted
        deleted += (
            WebhookDelivery.objects.filter(pk__in=batch)
            .delete()[1]
            .get(WebhookDelivery._meta.label, 0)
        )


# --- the weekly digest -------------------------------------------------------------------

UNSUBSCRIBE_SALT = "notifications.digest.unsubscribe"


def unsubscribe_token(user: User) -> str:
    """The signed token of ``user``'s one-click unsubscribe link (no expiry: a digest
    read months later still unsubscribes)."""
    return signing.dumps({"u": user.pk}, salt=UNSUBSCRIBE_SALT)


def unsubscribe_user_id(token: str) -> int | None:
    """The user id a token of unsubscribe_token was made for, or None for any other text."""
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    user_id = data.get("u") if isinstance(data, dict) else None
    return user_id if isinstance(user_id, int) else None


def digest_unsubscribe(*, user: User) -> None:
    """Stop ``user``'s weekly digest (Profile.weekly_digest off; the profile page turns
    it back on)."""
    Profile.objects.update_or_create(user=user, defaults={"weekly_digest": False})


def week_of(moment: datetime) -> date:
    """The Monday (UTC) of ``moment``'s ISO week: the digest's once-a-week key."""
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def digest_message(digest: selectors.Digest) -> EmailMultiAlternatives:
    """The digest e-mail (text and HTML) to ``digest.user``, with its one-click
    unsubscribe link (List-Unsubscribe, RFC 8058)."""
    user = digest.user
    site = settings.SITE_URL.rstrip("/")
    unsubscribe = f"{site}/notifications/unsubscribe/{unsubscribe_token(user)}/"
    context = {
        "digest": digest,
        "user": user,
        "zone": digest.zone,
        "site_url": site,
        "unsubscribe_url": unsubscribe,
    }
    message = EmailMultiAlternatives(
        subject=f"Your weekly MLOps maturity digest: {digest.summary}",
        body=render_to_string("notifications/email/digest.txt", context),
        to=[user.email],
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    message.attach_alternative(
        render_to_string("notifications/email/digest.html", context), "text/html"
    )
    return message


@dataclass(frozen=True)
class DigestRun:
    """What digests_send did: ``sent`` (username, summary) of those e-mailed (to be, in a
    dry run); ``empty`` the usernames with nothing to report; ``already`` those who had
    this week's; ``failed`` those whose e-mail the mail server refused (they may be sent
    again this week)."""

    sent: list[tuple[str, str]]
    empty: list[str]
    already: list[str]
    failed: list[str]


def digests_send(
    *, now: datetime | None = None, users: Iterable[User] | None = None, dry_run: bool = False
) -> DigestRun:
    """E-mail this week's digest to every recipient (selectors.digest_recipients, or
    ``users`` among them) with something to report, over one connection to the mail
    server; at most once per person and week (DigestSent, recorded before the e-mail
    goes; removed again when the mail server refuses it, so a later run can retry).
    ``dry_run`` builds the digests and records and sends nothing."""
    now = now or timezone.now()
    week = week_of(now)
    recipients = selectors.digest_recipients(users)
    done = set(DigestSent.objects.filter(week=week).values_list("user_id", flat=True))
    run = DigestRun(sent=[], empty=[], already=[], failed=[])
    pending: list[selectors.Digest] = []
    for user in recipients:
        if user.pk in done:
            run.already.append(user.get_username())
            continue
        digest = selectors.digest_for(user, now=now, zone=zone_of(user))
        if digest.empty:
            run.empty.append(user.get_username())
        else:
            pending.append(digest)
    if dry_run:
        run.sent.extend((digest.user.get_username(), digest.summary) for digest in pending)
        return run
    if pending:
        with get_connection() as connection:  # one connection to the mail server for all
            for digest in pending:
                _send_once(digest, week, connection, run)
    return run


def _send_once(digest: selectors.Digest, week: date, connection: Any, run: DigestRun) -> None:
    user = digest.user
    try:
        with transaction.atomic():
            claim = DigestSent.objects.create(user=user, week=week)
    except IntegrityError:  # another run sent it meanwhile
        run.already.append(user.get_username())
        return
    try:
        connection.send_messages([digest_message(digest)])
    except Exception:
        logger.exception("weekly digest to %s not sent", user.get_username())
        claim.delete()
        run.failed.append(user.get_username())
    else:
        run.sent.append((user.get_username(), digest.summary))
