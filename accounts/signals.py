"""At login, the person's zone goes into their session (accounts.zones)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest

from accounts import zones


@receiver(user_logged_in)
def remember_zone(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        zone = zones.zone_of(user)
        zones.remember(request, zone.key if zone is not None else "")
