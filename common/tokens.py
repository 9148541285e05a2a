"""Secret keys shown once and stored as a hash: API tokens (reports) and team-scoped
evidence tokens (evidence) share their making, hashing and revoking.

A key is ``<keyword><prefix>.<secret>``: the 8-hex-digit prefix finds the row, the sha256 of
the whole key is compared in constant time. Keys carry 256 random bits, so a fast hash is
sound; only the prefix and the hash are stored.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import Any, Protocol

from django.utils import timezone


def key_digest(key: str) -> str:
    """The stored form of a key: its sha256, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(prefix_taken: Callable[[str], bool], keyword: str = "") -> tuple[str, str]:
    """Return (prefix, key) for a new key whose prefix ``prefix_taken`` says is free."""
    while True:
        prefix = secrets.token_hex(4)
        if not prefix_taken(prefix):
            return prefix, f"{keyword}{prefix}.{secrets.token_urlsafe(32)}"


class Revocable(Protocol):
    revoked_at: Any  # a DateTimeField: datetime | None

    def save(self, *, update_fields: list[str]) -> None: ...


def revoke(token: Revocable) -> None:
    """Revoke a token now; revoking twice keeps the first time."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
