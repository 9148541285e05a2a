"""How times are shown to people: one format, in one zone, always with the zone's name.

The rule (README, "Times and time zones"): every time a person reads (pages, PDFs, e-mail
subjects and bodies) is converted to the zone in effect and printed as
``2 Dec 2026, 00:30 CET``. The zone in effect is Django's current time zone: the
deployment's ``TIME_ZONE`` unless something activated another one
(``django.utils.timezone.activate``). Once people have a zone of their own, a middleware
activates it for their requests and code that writes to one person outside a request (an
e-mail) passes it as ``zone``; nothing else changes. Machine-readable times (API, exports)
stay ISO 8601 in UTC.

The zone's name is its abbreviation (CET, CEST, GMT, EST, UTC) when it has a real one. Many
zones have only a numeric "abbreviation" (Asia/Dubai: "+04", America/Sao_Paulo: "-03"); a
bare offset does not say which offset, so those are named by their IANA key. A fixed-offset
zone without a key reads "UTC+04:00".

Templates load this module as the ``times`` library: ``{% load times %}``, then
``{{ value|when }}``.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from django import template
from django.utils import dateformat, timezone

WHEN_FORMAT = "j M Y, H:i"  # Django date format: 2 Dec 2026, 00:30

register = template.Library()


def zone_name(moment: datetime) -> str:
    """Return the name of an aware ``moment``'s zone: "CET", "Asia/Dubai" or "UTC+04:00"."""
    abbreviation = moment.tzname() or ""
    if any(character.isalpha() for character in abbreviation):
        return abbreviation
    key: str | None = getattr(moment.tzinfo, "key", None)  # ZoneInfo's IANA name
    # Etc/GMT-4 is UTC+4 (POSIX inverts the sign): its key would mislead, its offset not.
    if key and not key.startswith("Etc/"):
        return key
    offset = moment.strftime("%z")  # "+0400"
    return f"UTC{offset[:3]}:{offset[3:]}"


def when(value: datetime | None, zone: tzinfo | None = None) -> str:
    """Return ``value`` in ``zone`` (default: the current zone) as "2 Dec 2026, 00:30 CET".

    An aware datetime is converted to the zone; a naive one is taken to be in it already.
    None gives "" so templates can say ``{{ value|when|default:"never" }}``.
    """
    if value is None:
        return ""
    zone = zone or timezone.get_current_timezone()
    if timezone.is_naive(value):
        local = timezone.make_aware(value, zone)
    else:
        local = timezone.localtime(value, zone)
    return f"{dateformat.format(local, WHEN_FORMAT)} {zone_name(local)}"


@register.filter(name="when", expects_localtime=False)
def when_filter(value: datetime | None, zone: tzinfo | None = None) -> str:
    """Template form of ``when``: ``{{ survey.closes_at|when }}``; "" for anything else."""
    return when(value, zone) if isinstance(value, datetime) else ""
