"""Celery tasks of the trackers: the periodic poll of pushed issues' states."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from celery import Task, shared_task

from trackers import selectors, services
from trackers.models import TrackerConnection

# Tries after a poll that could not reach its tracker: 1, 2 then 4 minutes later. A rate
# limit or refused credentials are not retried (the pause, or a person, ends them).
POLL_RETRIES = 3


@shared_task(acks_late=True, ignore_result=True)
def poll_trackers() -> int:
    """Beat (every TRACKER_POLL_MINUTES): queue a poll of each connection with an issue
    whose action is still open. Returns how many were queued."""
    connection_ids = list(selectors.connections_to_poll().values_list("pk", flat=True))
    for connection_id in connection_ids:
        poll_connection.delay(connection_id)
    return len(connection_ids)


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=POLL_RETRIES)
def poll_connection(self: Task[Any, Any], connection_id: int) -> dict[str, Any]:
    """Poll one connection (services.connection_poll); try again later only when the
    tracker could not be reached. Returns the poll's result as a dict."""
    connection = TrackerConnection.objects.filter(pk=connection_id).first()
    if connection is None:
        return {}
    result = services.connection_poll(connection)
    if result.transient and self.request.retries < POLL_RETRIES:
        raise self.retry(countdown=60 * 2**self.request.retries)
    return asdict(result)
