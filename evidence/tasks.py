"""Celery tasks of the evidence pipeline: collect_facts -> evaluate_checks -> the team's
aggregation (reports). Thin wrappers over evidence.services; idempotent, so a retried or
duplicated message only redoes what is missing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import redis
from celery import Task, shared_task
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError

from evidence import services
from evidence.models import Snapshot

RETRYABLE = (OperationalError, InterfaceError, ConnectionError, BrokerError, redis.RedisError)
_OPTIONS: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": RETRYABLE,
    "retry_backoff": 2,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(**_OPTIONS)
def collect_facts(self: Task[Any, Any], snapshot_id: int) -> dict[str, object]:
    """Collect a snapshot's facts, then queue evaluate_checks."""
    snapshot = services.snapshot_collect(snapshot_id)
    if snapshot.status != Snapshot.Status.FAILED:
        evaluate_checks.delay(snapshot_id)
    return {"snapshot": snapshot_id, "status": snapshot.status}


@shared_task(**_OPTIONS)
def evaluate_checks(self: Task[Any, Any], snapshot_id: int) -> dict[str, object]:
    """Evaluate the checks on a snapshot and have its team's open rounds re-scored."""
    snapshot = services.snapshot_evaluate(snapshot_id)
    return {"snapshot": snapshot_id, "status": snapshot.status}


@shared_task(acks_late=True, ignore_result=True)
def process_pending_snapshots() -> int:
    """Queue again the snapshots left pending for over 5 minutes (beat, every 5 minutes):
    a lost message or a broker outage only delays evidence. Return how many were queued."""
    queued = 0
    for snapshot_id in services.pending_snapshot_ids(timedelta(minutes=5)):
        try:
            collect_facts.delay(snapshot_id)
        except RETRYABLE:
            break  # the next beat tries again
        queued += 1
    return queued
