"""The time zone a person reads times in: their profile's, else the deployment's.

common.times prints every time in Django's current zone; TimezoneMiddleware makes that the
signed-in person's zone for their requests (read from their session, where login and the
profile page put it: no statement per request), and code writing to a person outside a
request (an e-mail) asks ``zone_of``.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

if TYPE_CHECKING:
    from django.contrib.auth.models import User

SESSION_KEY = "accounts.time_zone"


@cache
def zone_names() -> list[str]:
    """The IANA zone names this machine knows of places (Area/Location) and UTC, sorted:
    the profile's choices (not "localtime", "Factory" or the POSIX-style "EST5EDT")."""
    return sorted(name for name in zoneinfo.available_timezones() if "/" in name) + ["UTC"]


def valid_zone(name: str) -> zoneinfo.ZoneInfo | None:
    """The zone of an IANA name, or None for "" and anything unknown."""
    if not name or name not in zone_names():
        return None
    return zoneinfo.ZoneInfo(name)


def zone_of(user: User) -> zoneinfo.ZoneInfo | None:
    """The zone ``user`` chose (None: the deployment's), one statement."""
    from accounts.models import Profile

    name = Profile.objects.filter(user=user).values_list("time_zone", flat=True).first()
    return valid_zone(name or "")


def remember(request: HttpRequest, name: str) -> None:
    """Keep the person's zone in their session (login, profile page)."""
    request.session[SESSION_KEY] = name


class TimezoneMiddleware:
    """Activate the signed-in person's zone for the request (else the deployment's)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = (
            valid_zone(request.session.get(SESSION_KEY, ""))
            if hasattr(request, "session")
            else None
        )
        if zone is not None:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
