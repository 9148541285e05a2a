"""A person's own settings: their time zone and whether they get the weekly digest (the
display name is Django's first and last name, which e-mails and pages show)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Profile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    # An IANA zone name (Europe/Paris); "" means the deployment's TIME_ZONE.
    time_zone = models.CharField(max_length=64, blank=True)
    # A signed-up account whose address is not confirmed yet: inactive, never matched by
    # single sign-on, replaced by a new sign-up or sign-in of that address (accounts.services).
    unverified = models.BooleanField(default=False)
    # Managers' Monday e-mail (notifications.services.digests_send); off by the profile
    # page or the e-mail's one-click unsubscribe link.
    weekly_digest = models.BooleanField(default=True, db_default=True)

    def __str__(self) -> str:
        return f"Profile of {self.user}"
