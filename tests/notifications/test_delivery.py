"""From a published event to a signed request (eager tasks, a real local receiver): who
gets what, retries and their backoff, giving up, disabling, re-delivery, the log's
pruning, and the address rule at delivery time."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import orjson
import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from common import events
from common.events import EVENTS
from notifications import services, tasks
from notifications.models import Webhook, WebhookDelivery
from tests.notifications.conftest import SECRET, Answer, signed_by

pytestmark = pytest.mark.django_db

PAYLOAD = {
    "survey": {"id": 7, "title": "Q3 2026 round", "anonymous": False},
    "team": {"slug": "platform", "name": "Platform", "rollup": False},
    "from": 2,
    "to": 3,
}


def hook(url: str, events_: list[str] | tuple[str, ...] = EVENTS, **kwargs) -> Webhook:
    return services.webhook_create(url=url, secret=SECRET, events=events_, by=None, **kwargs)


@pytest.fixture
def publish(django_capture_on_commit_callbacks):
    """Publish an event and run what follows its commit (the listener, then the tasks)."""

    def run(name: str = "team.level_changed", payload: dict | None = None) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            events.publish(name, payload if payload is not None else PAYLOAD)

    return run


def test_an_event_goes_signed_to_each_active_webhook_subscribed_to_it(receiver, publish):
    everything = hook(receiver.url("/all"))
    hook(receiver.url("/actions-only"), ["action.created"])
    hook(receiver.url("/paused"), active=False)
    publish()
    [received] = receiver.received
    delivery = WebhookDelivery.objects.get()
    assert received.path == "/all" and delivery.webhook == everything
    assert signed_by(SECRET, received)
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["X-Maturity-Event"] == "team.level_changed"
    assert received.headers["X-Maturity-Delivery"] == str(delivery.uuid)
    body = orjson.loads(received.body)
    assert body == {
        "event": "team.level_changed",
        "id": str(delivery.event_id),
        "occurred_at": delivery.occurred_at.isoformat().replace("+00:00", "Z"),
        "data": PAYLOAD,
    }
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("succeeded", 1, 200)
    assert delivery.response_excerpt == "ok" and delivery.duration_ms is not None
    assert delivery.next_attempt_at is None and delivery.completed_at is not None


def test_one_event_has_one_id_for_every_webhook(receiver, publish):
    hook(receiver.url("/a"))
    hook(receiver.url("/b"))
    publish()
    ids = {orjson.loads(r.body)["id"] for r in receiver.received}
    deliveries = {r.headers["X-Maturity-Delivery"] for r in receiver.received}
    assert len(receiver.received) == 2 and len(ids) == 1 and len(deliveries) == 2


def test_nothing_is_recorded_or_sent_when_the_publisher_rolls_back(
    receiver, django_capture_on_commit_callbacks
):
    hook(receiver.url())
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        with transaction.atomic():
            events.publish("team.level_changed", PAYLOAD)
            raise RuntimeError("the publisher's work failed")
    assert not WebhookDelivery.objects.exists() and receiver.received == []


def test_the_listener_is_two_statements_and_never_raises_into_the_publisher(
    receiver, caplog, django_assert_num_queries
):
    hook(receiver.url())
    with django_assert_num_queries(2):  # the webhooks, one insert (no network: not committed)
        events.event_published.send(sender=None, name="team.level_changed", payload=PAYLOAD)
    assert WebhookDelivery.objects.count() == 1 and receiver.received == []
    with caplog.at_level(logging.ERROR, logger="notifications.services"):
        # A payload that is not JSON (keys must be text): logged, not raised.
        events.event_published.send(sender=None, name="scores.updated", payload={1: "x"})
    assert "webhook deliveries of scores.updated not recorded" in caplog.text
    assert WebhookDelivery.objects.count() == 1


def test_a_failed_attempt_is_retried_after_its_backoff_with_the_same_request(
    receiver, publish, django_capture_on_commit_callbacks
):
    hook(receiver.url())
    receiver.answer(Answer(500, body=b"busy"))
    started = timezone.now()
    publish()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("pending", 1, 500)
    assert delivery.error == "The receiver answered 500." and delivery.response_excerpt == "busy"
    wait = (delivery.next_attempt_at - started).total_seconds()
    assert 24 <= wait <= 37  # 30 s +-20 %
    # Not due yet: beat leaves it, and a message arriving early does nothing.
    assert services.deliveries_enqueue_due() == 0
    assert services.delivery_attempt(delivery.pk).status == "skipped"
    with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=61)):
        with django_capture_on_commit_callbacks(execute=True):
            assert services.deliveries_enqueue_due() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("succeeded", 2, 200)
    first, second = receiver.received
    assert first.body == second.body and signed_by(SECRET, second)
    assert first.headers["X-Maturity-Delivery"] == second.headers["X-Maturity-Delivery"]


def test_retry_after_is_obeyed_up_to_its_cap(receiver, publish, settings):
    hook(receiver.url())
    settings.WEBHOOK_RETRY_AFTER_MAX_SECONDS = 600
    receiver.answer(Answer(429, {"Retry-After": "77"}), Answer(503, {"Retry-After": "86400"}))
    publish()
    publish()
    waits = sorted(
        (d.next_attempt_at - d.last_attempt_at).total_seconds()
        for d in WebhookDelivery.objects.all()
    )
    assert 76 <= waits[0] <= 78 and 599 <= waits[1] <= 601


def test_the_backoff_grows_fourfold_with_jitter(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    for attempt, base in enumerate([30, 120, 480, 1920, 7680], start=1):
        delays = {services.retry_delay(attempt) for _ in range(20)}
        assert all(0.8 * base <= delay <= 1.2 * base for delay in delays) and len(delays) > 1
    assert services.retry_delay(3, retry_after=0) == 1
    # Only retries that fit in the broker wait there (480 s visibility - 300 s - 60 s).
    assert tasks.countdown_limit() == 120


def test_a_refusal_is_final_and_a_success_resets_the_failure_count(receiver, publish):
    webhook = hook(receiver.url())
    receiver.answer(Answer(404, body=b"no such hook"))
    publish()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.completed_at is not None) == (
        "failed",
        1,
        True,
    )
    webhook.refresh_from_db()
    assert webhook.consecutive_failures == 1 and webhook.active
    publish()
    webhook.refresh_from_db()
    assert webhook.consecutive_failures == 0


def test_a_delivery_that_keeps_failing_gives_up_after_the_last_attempt(
    receiver, publish, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    webhook = hook(receiver.url())
    receiver.answer(Answer(500), Answer(502))
    publish()
    delivery = WebhookDelivery.objects.get()
    with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=61)):
        with django_capture_on_commit_callbacks(execute=True):
            services.deliveries_enqueue_due()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("failed", 2, 502)
    assert delivery.next_attempt_at is None
    webhook.refresh_from_db()
    assert webhook.consecutive_failures == 1


def test_a_webhook_is_disabled_after_failures_in_a_row_and_stops_receiving(
    receiver, publish, settings
):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 2
    webhook = hook(receiver.url())
    receiver.answer(Answer(400), Answer(410))
    # A delivery recorded but not yet attempted when the webhook gets disabled.
    [waiting] = services.deliveries_create(event="team.level_changed", payload=PAYLOAD)
    publish()
    webhook.refresh_from_db()
    assert webhook.active and webhook.consecutive_failures == 1
    publish()
    webhook.refresh_from_db()
    assert not webhook.active and webhook.disabled_at is not None
    assert webhook.disabled_reason == (
        "Disabled after 2 failed deliveries in a row; the last: The receiver answered 410."
    )
    assert services.delivery_attempt(waiting.pk).status == "failed"
    waiting.refresh_from_db()
    assert (
        waiting.error == "Not sent: the webhook was disabled or paused." and waiting.attempts == 0
    )
    publish()
    assert len(receiver.received) == 2 and WebhookDelivery.objects.count() == 3
    # Made active again: the count starts from zero and events flow.
    services.webhook_update(webhook=webhook, changes={"active": True})
    webhook.refresh_from_db()
    assert (webhook.disabled_at, webhook.disabled_reason, webhook.consecutive_failures) == (
        None,
        "",
        0,
    )
    publish()
    assert len(receiver.received) == 3


def test_a_redelivery_sends_the_same_event_again_as_a_new_delivery(
    receiver, publish, admin_user, django_capture_on_commit_callbacks
):
    webhook = hook(receiver.url())
    publish()
    original = WebhookDelivery.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        again = services.delivery_redeliver(delivery=original, by=admin_user)
    again.refresh_from_db()
    assert (again.event_id, again.payload, again.occurred_at) == (
        original.event_id,
        original.payload,
        original.occurred_at,
    )
    assert again.redelivery_of == original and again.requested_by == admin_user
    assert again.status == "succeeded" and again.uuid != original.uuid
    first, second = receiver.received
    assert first.body == second.body
    assert second.headers["X-Maturity-Delivery"] == str(again.uuid) != str(original.uuid)
    services.webhook_update(webhook=webhook, changes={"active": False})
    with pytest.raises(services.NotificationError) as refused:
        services.delivery_redeliver(delivery=original, by=admin_user)
    assert refused.value.code == "inactive" and refused.value.status_code == 409


def test_a_second_message_for_the_same_attempt_does_nothing(receiver):
    hook(receiver.url())
    [delivery] = services.deliveries_create(event="team.level_changed", payload=PAYLOAD)
    assert services.delivery_attempt(delivery.pk).status == "succeeded"
    assert services.delivery_attempt(delivery.pk).status == "skipped"
    assert services.delivery_attempt(10**12).status == "skipped"  # deleted with its webhook
    assert len(receiver.received) == 1


def test_an_attempt_lost_with_its_worker_is_made_again_once_its_lease_ends(
    receiver, settings, django_capture_on_commit_callbacks
):
    hook(receiver.url())
    [delivery] = services.deliveries_create(event="team.level_changed", payload=PAYLOAD)
    # What a worker killed mid-attempt leaves: the attempt counted, due after its lease.
    lease = settings.CELERY_TASK_TIME_LIMIT + services.LOST_MARGIN_SECONDS
    claimed_at = timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempts=1, next_attempt_at=claimed_at + timedelta(seconds=lease)
    )
    assert services.deliveries_enqueue_due() == 0
    with time_machine.travel(claimed_at + timedelta(seconds=lease + 61)):
        with django_capture_on_commit_callbacks(execute=True):
            assert services.deliveries_enqueue_due() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)


def test_the_delivery_log_is_pruned_after_its_days(receiver, settings):
    settings.WEBHOOK_LOG_DAYS = 30
    webhook = hook(receiver.url())
    now = timezone.now()

    def delivery(days_ago: float, **extra) -> WebhookDelivery:
        return WebhookDelivery.objects.create(
            webhook=webhook,
            event="team.level_changed",
            event_id=uuid.uuid4(),
            occurred_at=now,
            payload=PAYLOAD,
            status="succeeded",
            created_at=now - timedelta(days=days_ago),
            **extra,
        )

    old = delivery(31)
    kept = delivery(29, redelivery_of=old)
    delivery(45)
    assert services.deliveries_prune() == 2
    kept.refresh_from_db()
    assert list(WebhookDelivery.objects.all()) == [kept] and kept.redelivery_of is None


def test_the_address_rule_is_applied_again_at_delivery_time(receiver, publish, settings):
    webhook = hook(receiver.url())  # registered where 127.0.0.1 was allowed
    settings.WEBHOOK_ALLOW_PRIVATE = False
    publish()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed" and delivery.attempts == 1
    assert "127.0.0.1 (loopback)" in delivery.error and delivery.response_code is None
    assert receiver.received == []
    webhook.refresh_from_db()
    assert webhook.consecutive_failures == 1


@pytest.mark.parametrize("fmt", ["slack", "teams"])
def test_chat_formats_are_delivered_signed_too(receiver, publish, fmt):
    hook(receiver.url(), fmt=fmt)
    publish()
    [received] = receiver.received
    assert signed_by(SECRET, received)
    body = orjson.loads(received.body)
    if fmt == "slack":
        assert body["text"] == "Platform moved from level 2 to level 3 in “Q3 2026 round”"
    else:
        assert body["attachments"][0]["content"]["type"] == "AdaptiveCard"
