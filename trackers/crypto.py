"""Tracker credentials at rest: Fernet under TRACKER_ENCRYPTION_KEY, never SECRET_KEY.

``TRACKER_ENCRYPTION_KEY`` holds one or more Fernet keys (32 url-safe base64-encoded bytes
each), separated by commas. The first encrypts; every one decrypts (cryptography's
MultiFernet). To rotate: put a new key first, run ``manage.py rotate_tracker_keys`` (which
re-encrypts every stored secret under it), then drop the old key.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class EncryptionUnavailable(Exception):
    """No usable key: TRACKER_ENCRYPTION_KEY is empty or holds a value that is not a key."""


class Undecryptable(Exception):
    """A stored secret none of the configured keys opens (a key was dropped too early)."""


NOT_CONFIGURED = (
    "Issue trackers are not set up on this server: TRACKER_ENCRYPTION_KEY is not set, so "
    "credentials cannot be stored safely. Ask whoever runs the service to set it."
)


def configured_keys(value: str | None = None) -> list[str]:
    """Return the keys of ``value`` (default: the setting), in order, blanks dropped."""
    raw = settings.TRACKER_ENCRYPTION_KEY if value is None else value
    return [key.strip() for key in (raw or "").split(",") if key.strip()]


def key_problem(value: str | None = None) -> str | None:
    """Say what is wrong with ``value`` (default: the setting) as a key list; None if usable.

    An empty value is a problem too ("not set").
    """
    keys = configured_keys(value)
    if not keys:
        return "TRACKER_ENCRYPTION_KEY is not set."
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            return (
                f"Key {position} of TRACKER_ENCRYPTION_KEY is not a Fernet key "
                "(32 url-safe base64-encoded bytes)."
            )
    return None


def _fernet() -> MultiFernet:
    problem = key_problem()
    if problem is not None:
        raise EncryptionUnavailable(problem)
    return MultiFernet([Fernet(key.encode("ascii")) for key in configured_keys()])


def encryption_ready() -> bool:
    """Tell whether secrets can be stored (a usable key is configured)."""
    return key_problem() is None


def encrypt(plaintext: str) -> str:
    """Return ``plaintext`` encrypted under the first key, as text for a database column.

    Raises EncryptionUnavailable without a usable key.
    """
    return _fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    """Return the plaintext of a value ``encrypt`` stored, under any configured key.

    Raises EncryptionUnavailable without a usable key, Undecryptable when no key opens it.
    """
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        raise Undecryptable("No configured key decrypts this secret.") from None


def rotate(token: str) -> str:
    """Return ``token`` re-encrypted under the first key (same plaintext).

    Raises as ``decrypt`` does.
    """
    try:
        return _fernet().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError):
        raise Undecryptable("No configured key decrypts this secret.") from None
