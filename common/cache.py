"""The cache of pages, fragments and API pages: built once per version, never invalidated.

A cached value's key carries the version of everything it depends on, so a change makes a
new key (and the old entry simply expires) instead of needing invalidation. Two kinds of
version: one derived from the data a value shows (cached_build: fragments and API pages,
keyed by what a statement reads), and the data revision that any write renews
(cached_page: whole pages per reader, common.revisions), in front of the first.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Collection
from functools import cache as once
from typing import Any, TypeVar, cast

from django.conf import settings
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.utils import timezone

from common import revisions

logger = logging.getLogger(__name__)

_ValueT = TypeVar("_ValueT")

PAGE_CACHE_SECONDS = 600
PAGE_KEY_PREFIX = "maturity:api-page:"
FRAGMENT_KEY_PREFIX = "maturity:fragment:"
WHOLE_PAGE_KEY_PREFIX = "maturity:page:"
# How long a whole page is kept under one revision: the bound on staleness should a write
# happen outside Django, or a revision renewal fail (common.revisions).
PAGE_REVISION_SECONDS = 300


def cached_build(
    key: str, build: Callable[[], _ValueT], seconds: int = PAGE_CACHE_SECONDS
) -> _ValueT:
    """Return the cached value of ``key``, or ``build()`` (then cached for ``seconds``).

    The one way pages and fragments are cached: the key must carry the version of
    everything the value depends on (so nothing is ever served stale, and nothing needs
    invalidating). One process builds a missing value while the others asking for it wait
    for it (_single_flight). When the cache is unreachable the value is built each time and
    the outage logged: a cache outage must not become an outage of the pages.
    """
    value: _ValueT | None = _get(key)
    if value is not None:
        return value

    def build_and_store() -> _ValueT:
        built = build()
        _set(key, built, seconds)
        return built

    return _single_flight(key, build_and_store)


# A missing value is built by the first process that asks (it marks the key as being
# built); the others wait for it, polling, instead of building the same value at once (8
# clients of a page after a renewal: 8 builds of 130 ms on 2 cores), for at most
# BUILD_WAIT_SECONDS, then build it themselves. The mark expires should its builder die.
BUILD_WAIT_SECONDS = 3.0
BUILD_MARK_SECONDS = 30
_POLL_SECONDS = 0.01


def _get(key: str) -> Any:
    try:
        return cache.get(key)
    except Exception as error:  # noqa: BLE001 - any cache failure: build it instead
        logger.warning("page cache unavailable: %s", error)
        return None


def _set(key: str, value: object, seconds: int) -> None:
    try:
        cache.set(key, value, seconds)
    except Exception as error:  # noqa: BLE001
        logger.warning("page cache unavailable: %s", error)


def _single_flight(key: str, build_and_store: Callable[[], _ValueT]) -> _ValueT:
    """Return ``build_and_store()``, unless another process is building ``key``: then what
    it stored under ``key`` once done (or, when it stored nothing or took longer than
    BUILD_WAIT_SECONDS, ``build_and_store()`` after all)."""
    mark = f"{key}:building"
    try:
        claimed = bool(cache.add(mark, 1, BUILD_MARK_SECONDS))
    except Exception:  # noqa: BLE001 - no cache: nobody to wait for
        claimed = True
    if not claimed:
        deadline = time.monotonic() + BUILD_WAIT_SECONDS
        while time.monotonic() < deadline:
            time.sleep(_POLL_SECONDS)
            try:
                found = cache.get_many([key, mark])
            except Exception:  # noqa: BLE001
                break
            if key in found:
                return cast(_ValueT, found[key])
            if mark not in found:
                break  # built, but not stored (not cacheable): build it here
        return build_and_store()
    try:
        return build_and_store()
    finally:
        with contextlib.suppress(Exception):
            cache.delete(mark)


def version_digest(*parts: object) -> str:
    """Return the sha256 hex digest of ``parts``' repr: a cache key of a version tuple."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()


@once
def csrf_placeholder() -> str:
    """The text a page cached whole carries where the reader's CSRF token goes: derived
    from SECRET_KEY (no reader can write it into a page), hexadecimal (no escaping changes
    it), the same in every process."""
    key = settings.SECRET_KEY.encode()
    return "csrf" + hmac.new(key, b"csrf-placeholder", hashlib.sha256).hexdigest()[:40]


def _has_messages(request: HttpRequest) -> bool:
    return hasattr(request, "_messages") and len(get_messages(request)) > 0


def _cacheable(response: HttpResponse) -> bool:
    """A 200 that sets no cookie (its headers are kept with it)."""
    return response.status_code == 200 and not response.cookies  # noqa: PLR2004


def _reads_only(request: HttpRequest, reads: Collection[str]) -> bool:
    """Whether the query string holds only parameters in ``reads``, each at most once."""
    return all(name in reads and len(values) == 1 for name, values in request.GET.lists())


def cached_page(
    request: HttpRequest,
    build: Callable[[], HttpResponse],
    *parts: object,
    reads: Collection[str],
) -> HttpResponse:
    """Return ``build()``'s response to ``request``, cached whole for this reader while no
    write happens (the data revision, common.revisions).

    Key: the revision, the placeholder, the reader, the full path with its query, the
    reader's time zone and today's date there (overdue marks, days left), and ``parts``
    (what else the page depends on: a time bucket; ``reads``: the query parameters the page
    reads). The page is rendered once with a placeholder for the CSRF token
    (common.context_processors.csrf_placeholder), and each response gets the reader's
    token in its place, so forms on a cached page post. Built, not cached, when
    settings.PAGE_REVISIONS is off (no cache shared by all processes), for anything but
    GET, when the query string holds a parameter not in ``reads`` or one twice (a tracking
    tag, junk: nobody may fill the cache with copies of a page by varying its query), when
    the reader has messages waiting (shown once), when the response is not a 200 or sets
    a cookie, and when a write happened while it was built. A cached page
    keeps the headers its view set (middleware adds its own to each response).
    Raises what ``build`` raises.
    """
    if (
        not settings.PAGE_REVISIONS
        or request.method != "GET"
        or not _reads_only(request, reads)
        or _has_messages(request)
    ):
        return build()
    revision = revisions.current()
    if revision is None:
        return build()
    reader = getattr(request, "user", None)
    key = WHOLE_PAGE_KEY_PREFIX + version_digest(
        revision,
        # Processes under another SECRET_KEY (while a new one rolls out) share the cache
        # but not the placeholder: each keeps to the pages it can fill in.
        csrf_placeholder(),
        getattr(reader, "pk", None),
        request.get_full_path(),
        timezone.get_current_timezone_name(),
        timezone.localdate().isoformat(),
        *parts,
    )
    entry: tuple[dict[str, str], str] | HttpResponse | None = _get(key)
    if entry is None:
        entry = _single_flight(key, lambda: _build_page(request, build, key, revision))
    if isinstance(entry, HttpResponse):
        return entry  # built here and not cacheable, or streaming: as it is
    headers, body = entry
    return HttpResponse(body.replace(csrf_placeholder(), get_token(request)), headers=headers)


def _build_page(
    request: HttpRequest, build: Callable[[], HttpResponse], key: str, revision: str
) -> tuple[dict[str, str], str] | HttpResponse:
    """Build the page with the CSRF placeholder; store it under ``key`` when cacheable and
    nothing was written meanwhile. Returns the stored (headers, body), else the response
    with the reader's token in place."""
    request.csrf_placeholder = True  # type: ignore[attr-defined]
    try:
        response = build()
    finally:
        del request.csrf_placeholder  # type: ignore[attr-defined]
    if response.streaming:
        return response
    body = response.content.decode(response.charset)
    if _cacheable(response) and revisions.current() == revision:
        entry = (dict(response.headers), body)
        _set(key, entry, PAGE_REVISION_SECONDS)
        return entry
    response.content = body.replace(csrf_placeholder(), get_token(request)).encode(response.charset)
    return response
