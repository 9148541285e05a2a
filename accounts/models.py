"""A person's own settings: their time zone (the display name is Django's first and last
name, which e-mails and pages show)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Profile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    # An IANA zone name (Europe/Paris); "" means the deployment's TIME_ZONE.
    time_zone = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return f"Profile of {self.user}"
