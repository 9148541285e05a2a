"""One Redis client per URL and process, so that requests reuse pooled connections.

redis-py's pool notices a fork and reconnects in the child, so a client made before
gunicorn or Celery forks is safe to keep.
"""

from __future__ import annotations

from functools import cache

import redis


@cache
def redis_client(url: str) -> redis.Redis:
    """Return the process's client for ``url`` (short timeouts: callers degrade, not hang)."""
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
