"""Periodic work of the actions app (Celery beat: config.settings CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from actions import services


@shared_task(acks_late=True, ignore_result=True)
def notify_overdue_actions() -> int:
    """Publish ``action.overdue`` once for each action past its due date (hourly)."""
    return services.actions_overdue_notify()
