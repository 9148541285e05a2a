"""Celery beat tasks of the survey lifecycle: reminders and closing on time."""

from __future__ import annotations

from celery import shared_task

from surveys import services
from surveys.models import Survey


@shared_task(acks_late=True, ignore_result=True)
def send_reminders() -> int:
    """E-mail members who have not submitted, a few days before their survey closes."""
    return services.reminders_send()


@shared_task(acks_late=True, ignore_result=True)
def close_due_surveys() -> list[int]:
    """Close surveys whose closes_at has passed; closing enqueues their final scoring."""
    return services.surveys_close_due()


@shared_task(acks_late=False, ignore_result=True)
def send_manual_reminders(survey_id: int, pairs: list[list[int]]) -> int:
    """E-mail the reminders a lead sent (services.reminders_send_now recorded them): at most
    once (no late acknowledgement: a lost worker loses e-mails, it never repeats them)."""
    survey = Survey.objects.filter(pk=survey_id).first()
    if survey is None:
        return 0
    return services.reminders_deliver(
        survey=survey, pairs=[(user_id, team_id) for user_id, team_id in pairs]
    )
