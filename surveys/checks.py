"""System checks of the surveys app's settings (``manage.py check``, and at start-up)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register


@register()
def group_teams_readable(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """OIDC_GROUP_TEAMS must be "group=team-slug:role" pairs (surveys.services.group_teams)."""
    from surveys.services import group_teams

    try:
        group_teams(settings.OIDC_GROUP_TEAMS)
    except ValueError as error:
        return [
            Error(str(error), hint='e.g. "mlops-recsys-managers=recsys:manager"', id="surveys.E001")
        ]
    return []
