"""The checks of a webhook's fields that need no lookup, shared by the API's serializer,
the console's form and the services (which also resolve the URL's host: ssrf)."""

from __future__ import annotations

from collections.abc import Iterable

from common import ssrf
from common.events import EVENTS
from common.text import text_problem

SECRET_MIN_LENGTH = 16
SECRET_MAX_LENGTH = 256


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook's address by its text alone, or None (see
    ssrf.parse_url: length, scheme, credentials, host, port)."""
    problem = text_problem(url)
    if problem is not None:
        return problem
    try:
        ssrf.parse_url(url)
    except ssrf.UrlRefused as error:
        return str(error)
    return None


def secret_problem(secret: str) -> str | None:
    """Why ``secret`` cannot sign requests, or None: it must be SECRET_MIN_LENGTH to
    SECRET_MAX_LENGTH printable characters (it is used as typed, UTF-8 encoded)."""
    if len(secret) < SECRET_MIN_LENGTH:
        return f"The secret must be at least {SECRET_MIN_LENGTH} characters long."
    if len(secret) > SECRET_MAX_LENGTH:
        return f"The secret must be at most {SECRET_MAX_LENGTH} characters long."
    if text_problem(secret) is not None or not secret.isprintable():
        return "The secret must be printable characters (no control characters)."
    return None


def events_problem(events: Iterable[object]) -> str | None:
    """Why ``events`` is not a subscription, or None: at least one name, all in EVENTS."""
    names = list(events)
    if not names:
        return "Choose at least one event."
    unknown = [str(name) for name in names if name not in EVENTS]
    if unknown:
        return f"Unknown events: {', '.join(unknown)}. Known: {', '.join(EVENTS)}."
    return None


def ordered_events(events: Iterable[str]) -> list[str]:
    """``events`` without repeats, in the order of EVENTS."""
    chosen = set(events)
    return [name for name in EVENTS if name in chosen]
