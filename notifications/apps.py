from __future__ import annotations

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from common.events import event_published
        from notifications import services
        from notifications.models import Webhook

        # Every published event becomes a delivery per subscribed webhook (no network
        # here: a worker sends them).
        event_published.connect(services.on_event_published, dispatch_uid="notifications")
        # Who registered or changed which webhook: "Log entries" in the admin. The secret
        # is never logged; the failure count changes with every delivery.
        if not auditlog.contains(Webhook):
            auditlog.register(Webhook, exclude_fields=["secret", "consecutive_failures"])
