from __future__ import annotations

from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        # Who created or changed which campaign, and how: "Log entries" in the admin.
        from auditlog.registry import auditlog

        from campaigns.models import Campaign

        if not auditlog.contains(Campaign):
            auditlog.register(
                Campaign,
                exclude_fields=["deadline_notified_at", "progress_computed_at", "updated_at"],
            )
