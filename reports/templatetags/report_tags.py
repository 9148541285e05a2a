from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from django import template
from django.http import QueryDict

from reports.display import SCORE_DECIMALS, shown_text

register = template.Library()


@register.filter
def shown(value: float | None, decimals: int = SCORE_DECIMALS) -> str:
    """Format a score (or spread) by the display rule of reports.display: 79.96 -> "79.9".

    Use it for every number a level, choice or contested rule compares with a threshold;
    empty for None.
    """
    return shown_text(value, int(decimals))


@register.filter
def signed(value: float | None, digits: int = 1) -> str:
    """Format a change with its sign: +3.2, -1.0, ±0.0; empty for None."""
    if value is None:
        return ""
    rounded = round(value, digits)
    if rounded == 0:
        return f"±{abs(rounded):.{digits}f}"
    return f"{rounded:+.{digits}f}"


@register.filter
def trend_arrow(value: float | None) -> str:
    if value is None:
        return ""
    if value >= 2:
        return "▲"
    if value <= -2:
        return "▼"
    return "▶"


@register.filter
def percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.0f}%"


@register.filter
def floored(value: float | None, decimals: int = 3) -> str:
    """Format a statistic rounded down to ``decimals``: "—" for None.

    Rounding down keeps every comparison with a threshold of at most ``decimals`` decimals
    as the flags made it: an agreement of 0.6669 (< 0.667, ambiguous) shows 0.666, not 0.667.
    """
    if value is None:
        return "—"
    step = Decimal(1).scaleb(-int(decimals))
    return str(Decimal(repr(value)).quantize(step, rounding=ROUND_FLOOR))


@register.filter
def floored_percent(value: float | None, decimals: int = 1) -> str:
    """Format a share as a percent rounded down (see floored): 0.8999 -> "89.9%"."""
    if value is None:
        return "—"
    step = Decimal(1).scaleb(-int(decimals))
    return f"{(Decimal(repr(value)) * 100).quantize(step, rounding=ROUND_FLOOR)}%"


@register.simple_tag
def query_url(params: QueryDict, **changes: object) -> str:
    """Return ``?<params>`` with ``changes`` applied (None or "" removes a parameter)."""
    query = params.copy()
    for name, value in changes.items():
        if value is None or value == "":
            query.pop(name, None)
        else:
            query[name] = str(value)
    return f"?{query.urlencode()}"


@register.simple_tag
def sort_url(params: QueryDict, key: str) -> str:
    """Return the URL that sorts the organisation table by ``key`` (from page 1): the other
    direction when it is sorted by ``key`` already; names A-Z first, numbers highest first."""
    current = params.get("sort") or "name"
    default = "asc" if key == "name" else "desc"
    direction = params.get("dir") or ("asc" if current == "name" else "desc")
    if current == key:
        direction = "asc" if direction == "desc" else "desc"
    else:
        direction = default
    return query_url(params, sort=key, dir=direction, page=None)
