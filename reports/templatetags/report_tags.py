from __future__ import annotations

from django import template

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
