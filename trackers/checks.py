"""System checks of the trackers' settings (``manage.py check``, and at start-up)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from trackers import crypto

KEY_HINT = (
    'Generate one with python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())"'
)


@register()
def encryption_key_usable(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """TRACKER_ENCRYPTION_KEY: unset is a warning (no tracker can be connected), a value
    that is not a list of Fernet keys an error."""
    problem = crypto.key_problem()
    if problem is None:
        return []
    if not crypto.configured_keys():
        return [
            Warning(
                f"{problem} Issue trackers cannot be connected (their credentials are "
                "stored encrypted with it).",
                hint=KEY_HINT,
                id="trackers.W001",
            )
        ]
    return [Error(problem, hint=KEY_HINT, id="trackers.E001")]


@register(deploy=True)
def encryption_key_not_public(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``check --deploy``: the development key is public (it is in the settings' source),
    so credentials under it are as good as plain text."""
    if settings.DEV_TRACKER_ENCRYPTION_KEY not in crypto.configured_keys():
        return []
    return [
        Warning(
            "TRACKER_ENCRYPTION_KEY holds the public development key: tracker credentials "
            "encrypted with it can be read by anyone with the database.",
            hint=f"{KEY_HINT}; then rotate (README, Issue trackers).",
            id="trackers.W002",
        )
    ]
