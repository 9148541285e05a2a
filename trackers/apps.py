from __future__ import annotations

from django.apps import AppConfig


class TrackersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "trackers"
    verbose_name = "Issue trackers"

    def ready(self) -> None:
        # Who connected, changed or deleted which tracker, and who pushed which action:
        # "Log entries" in the admin. Never the encrypted secrets, nor the sync's
        # bookkeeping (every poll would log).
        from auditlog.registry import auditlog

        from trackers import checks  # noqa: F401 - registers the settings checks
        from trackers.models import TrackerConnection, TrackerLink

        if not auditlog.contains(TrackerConnection):
            auditlog.register(
                TrackerConnection,
                exclude_fields=[
                    "token_encrypted",
                    "webhook_secret_encrypted",
                    "last_sync_at",
                    "last_error",
                    "last_error_at",
                    "paused_until",
                    "updated_at",
                ],
            )
        if not auditlog.contains(TrackerLink):
            auditlog.register(TrackerLink, exclude_fields=["last_synced_at", "claimed_at"])
