"""Celery tasks of the notifications app: thin wrappers over notifications.services that
own the retry policy (see services for the rules)."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from django.conf import settings

from notifications import services

logger = logging.getLogger(__name__)


def countdown_limit() -> float:
    """The longest retry (seconds) that may wait in the broker: a message with a
    countdown stays unacknowledged in Redis until it runs, and Redis hands it to another
    worker after the visibility timeout, so the wait plus the task's hard time limit
    (and a margin) must stay under it: 480 - 300 - 60 = 120 s by default. Longer retries
    wait in the database for beat (deliveries_enqueue_due)."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    margin = services.LOST_MARGIN_SECONDS
    return float(max(0, visibility - settings.CELERY_TASK_TIME_LIMIT - margin))


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_webhook(self: Task[Any, Any], delivery_id: int) -> str:
    """Make one attempt at a webhook delivery; retry it after its backoff when that is
    short enough to wait in the broker (countdown_limit), else leave it to beat. Returns
    the attempt's outcome (``succeeded``, ``retry``, ``failed``, ``skipped``)."""
    outcome = services.delivery_attempt(delivery_id)
    retry_in = outcome.retry_in
    # Eager mode (no broker) has nothing to wait in: beat, if it runs, sends it later.
    if retry_in is not None and not settings.CELERY_TASK_ALWAYS_EAGER:
        if retry_in <= countdown_limit():
            raise self.retry(countdown=retry_in, max_retries=None)
    return outcome.status


@shared_task(acks_late=True, ignore_result=True)
def enqueue_due_deliveries() -> int:
    """Queue the webhook deliveries that are due (beat, every minute); count them."""
    queued = services.deliveries_enqueue_due()
    if queued:
        logger.info("enqueue_due_deliveries queued %d delivery(ies)", queued)
    return queued


@shared_task(acks_late=True, ignore_result=True)
def prune_deliveries() -> int:
    """Delete the delivery log older than WEBHOOK_LOG_DAYS (beat, daily); count them."""
    deleted = services.deliveries_prune()
    if deleted:
        logger.info("prune_deliveries deleted %d delivery(ies)", deleted)
    return deleted


@shared_task(acks_late=False, ignore_result=True)
def send_weekly_digest() -> int:
    """E-mail this week's digests (beat, Mondays 07:00); count those sent. No late
    acknowledgement: a lost worker loses e-mails rather than repeating them (and a run
    again the same week sends only what was not sent)."""
    run = services.digests_send()
    logger.info(
        "weekly digest: %d sent, %d with nothing to report, %d already sent, %d failed",
        len(run.sent),
        len(run.empty),
        len(run.already),
        len(run.failed),
    )
    return len(run.sent)
