from __future__ import annotations

from django.apps import AppConfig


class ActionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "actions"
    verbose_name = "Improvement actions"

    def ready(self) -> None:
        # Who created or changed which action, and how: "Log entries" in the admin.
        from auditlog.registry import auditlog

        from actions.models import Action

        if not auditlog.contains(Action):
            auditlog.register(Action, exclude_fields=["overdue_notified_at"])
