from __future__ import annotations

from django.apps import AppConfig


class TrackersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "trackers"
    verbose_name = "Issue trackers"
