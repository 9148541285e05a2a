"""The cache of pages, fragments and API pages: built once per version, never invalidated.

A cached value's key carries the version of everything it depends on, so a change makes a
new key (and the old entry simply expires) instead of needing invalidation.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import TypeVar

from django.core.cache import cache

logger = logging.getLogger(__name__)

_ValueT = TypeVar("_ValueT")

PAGE_CACHE_SECONDS = 600
PAGE_KEY_PREFIX = "maturity:api-page:"
FRAGMENT_KEY_PREFIX = "maturity:fragment:"


def cached_build(
    key: str, build: Callable[[], _ValueT], seconds: int = PAGE_CACHE_SECONDS
) -> _ValueT:
    """Return the cached value of ``key``, or ``build()`` (then cached for ``seconds``).

    The one way pages and fragments are cached: the key must carry the version of
    everything the value depends on (so nothing is ever served stale, and nothing needs
    invalidating). When the cache is unreachable the value is built each time and the
    outage logged: a cache outage must not become an outage of the pages.
    """
    try:
        value: _ValueT | None = cache.get(key)
    except Exception as error:  # noqa: BLE001 - any cache failure: build it instead
        logger.warning("page cache unavailable: %s", error)
        value = None
    if value is None:
        value = build()
        try:
            cache.set(key, value, seconds)
        except Exception as error:  # noqa: BLE001
            logger.warning("page cache unavailable: %s", error)
    return value


def version_digest(*parts: object) -> str:
    """Return the sha256 hex digest of ``parts``' repr: a cache key of a version tuple."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()
