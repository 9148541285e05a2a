"""Template filters for campaigns: a due date in words, and a team's standing in words."""

from __future__ import annotations

from datetime import date

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def due_words(due: date | None) -> str:
    """Say how far ``due`` is from today (in the current time zone): "45 days left",
    "due tomorrow", "due today", "1 day overdue", "12 days overdue"; empty for None."""
    if due is None:
        return ""
    days = (due - timezone.localdate()).days
    if days == 0:
        return "due today"
    if days == 1:
        return "due tomorrow"
    if days > 1:
        return f"{days} days left"
    return f"{-days} day{'' if days == -1 else 's'} overdue"


@register.filter
def is_overdue(due: date | None) -> bool:
    """Whether ``due`` has passed (today in the current time zone)."""
    return due is not None and due < timezone.localdate()
