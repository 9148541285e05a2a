"""Webhooks with a real Celery worker on Redis and a real receiver: a submission through the
API is scored by the worker, whose scores.updated reaches the receiver signed; a failed
attempt is retried by Celery after its backoff."""

from __future__ import annotations

import orjson
import pytest
from rest_framework.test import APIClient

from common import events
from notifications import services
from notifications.models import WebhookDelivery
from tests.conftest import api_answers
from tests.integration.conftest import wait_for
from tests.notifications.conftest import SECRET, Answer, signed_by

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_submission_leads_to_a_signed_scores_updated(real_celery, receiver, survey, team, member):
    services.webhook_create(url=receiver.url(), secret=SECRET, events=["scores.updated"], by=None)
    real_celery()
    api = APIClient()
    api.force_authenticate(member)
    response = api.post(
        f"/api/v1/surveys/{survey.pk}/responses/",
        {"team": team.slug, "answers": api_answers(survey.framework, 3)},
        format="json",
    )
    assert response.status_code == 201, response.json()
    [received] = receiver.wait_for(1, timeout=60)
    assert signed_by(SECRET, received)
    assert received.headers["X-Maturity-Event"] == "scores.updated"
    body = orjson.loads(received.body)
    assert body["event"] == "scores.updated" and body["data"]["survey"]["id"] == survey.pk
    [scored] = body["data"]["teams"]
    assert (scored["slug"], scored["score"], scored["level"]) == ("recsys", 75.0, 3)
    delivery = wait_for(
        lambda: WebhookDelivery.objects.filter(status="succeeded").first(),
        message="the delivery to be recorded as succeeded",
    )
    assert delivery.attempts == 1 and received.headers["X-Maturity-Delivery"] == str(delivery.uuid)
    assert body["id"] == str(delivery.event_id)


def test_a_failed_attempt_is_retried_by_celery_after_its_backoff(real_celery, receiver):
    services.webhook_create(url=receiver.url(), secret=SECRET, events=["action.overdue"], by=None)
    real_celery(WEBHOOK_RETRY_BASE_SECONDS="0.5")
    receiver.answer(Answer(500, body=b"busy"), Answer(200))
    events.publish("action.overdue", {"action": {"id": 1, "title": "Write the runbook"}})
    first, second = receiver.wait_for(2, timeout=60)
    assert first.body == second.body and signed_by(SECRET, second)
    assert first.headers["X-Maturity-Delivery"] == second.headers["X-Maturity-Delivery"]
    delivery = wait_for(
        lambda: WebhookDelivery.objects.filter(status="succeeded").first(),
        message="the retried delivery to succeed",
    )
    assert (delivery.attempts, delivery.response_code, delivery.error) == (2, 200, "")
    waited = (delivery.completed_at - delivery.created_at).total_seconds()
    assert waited >= 0.4  # the backoff (0.5 s +-20 %), not an immediate loop
