"""Celery beat tasks of the survey lifecycle: reminders and closing on time."""

from __future__ import annotations

from celery import shared_task

from surveys import services


@shared_task(acks_late=True, ignore_result=True)
def send_reminders() -> int:
    """E-mail members who have not submitted, a few days before their survey closes."""
    return services.reminders_send()


@shared_task(acks_late=True, ignore_result=True)
def close_due_surveys() -> list[int]:
    """Close surveys whose closes_at has passed; closing enqueues their final scoring."""
    return services.surveys_close_due()
