"""Signed outbound webhooks and their delivery log; the weekly digest's record of who got
which week's e-mail.

A ``Webhook`` is an address that receives the events it subscribes to (common.events),
each request signed with its secret. The secret must be kept as typed to sign with it,
so it is stored as is; pages and the API show only its last characters (``secret_hint``)
and the audit log leaves it out.

Each event a webhook subscribes to becomes a ``WebhookDelivery``: the event's name, id
and payload, and its attempts (services.delivery_attempt). A manual re-delivery is a new
delivery of the same event (same ``event_id``, same payload) pointing at the one it
repeats (``redelivery_of``).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Webhook(models.Model):
    class Format(models.TextChoices):
        JSON = "json", "JSON (signed)"
        SLACK = "slack", "Slack incoming webhook"
        TEAMS = "teams", "Microsoft Teams incoming webhook"

    url = models.CharField(max_length=2000)
    # Stored as typed: it signs every request (HMAC-SHA256). Never shown again in full.
    secret = models.CharField(max_length=256)
    events = models.JSONField(default=list, help_text="Event names (common.events.EVENTS).")
    format = models.CharField(max_length=8, choices=Format.choices, default=Format.JSON)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Deliveries in a row that ended failed (retries exhausted or a permanent refusal);
    # a success sets it back to 0. At WEBHOOK_DISABLE_AFTER_FAILURES the webhook is
    # disabled: active off, with when and why.
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.url

    @property
    def secret_hint(self) -> str:
        """The secret's last four characters, after an ellipsis: enough to tell which one
        a receiver holds, never enough to sign."""
        return f"…{self.secret[-4:]}"


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    # X-Maturity-Delivery: this delivery's own id (a re-delivery gets a new one).
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event = models.CharField(max_length=64)
    # The event's id ("id" in the body): one per published event, shared by every webhook
    # and every re-delivery of it.
    event_id = models.UUIDField()
    occurred_at = models.DateTimeField(help_text="When the event was published.")
    payload = models.JSONField(help_text="The event's payload (the body's data).")
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # While pending: when the next attempt is due (during an attempt: when it is taken for
    # lost, see services.delivery_attempt). None once finished.
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(max_length=1024, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    redelivery_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="redeliveries"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["webhook", "-created_at"], name="delivery_webhook_created"),
            models.Index(fields=["status", "next_attempt_at"], name="delivery_status_due"),
            models.Index(fields=["created_at"], name="delivery_created"),
        ]

    def __str__(self) -> str:
        return f"{self.event} -> {self.webhook_id} ({self.status})"


class DigestSent(models.Model):
    """A weekly digest e-mailed to ``user`` for the ISO week starting on ``week`` (a
    Monday, UTC): the unique pair keeps it to once a week, whoever sends it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="digests_sent"
    )
    week = models.DateField(help_text="The Monday (UTC) of the week it was sent in.")
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-week", "user"]
        constraints = [
            models.UniqueConstraint(fields=["user", "week"], name="digest_once_a_week"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.week}"
