"""Template context for every page: whether the menu offers Campaigns."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from django.http import HttpRequest

from campaigns.selectors import sees_any_campaign

# The answer is kept in the person's session this long (seconds), so that pages do not
# pay for it (up to four statements for a manager) on every view; a campaign created
# meanwhile shows in the menu after at most this long (its page and list work at once).
MENU_SECONDS = 300
SESSION_KEY = "campaigns_menu"


def campaigns_menu(request: HttpRequest) -> dict[str, Any]:
    """``show_campaigns``: a callable the template calls (only if it asks), true when the
    signed-in person may read an active campaign (campaigns.selectors.sees_any_campaign)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"show_campaigns": False}
    session = getattr(request, "session", None)

    @cache
    def show() -> bool:
        now = time.time()
        kept = session.get(SESSION_KEY) if session is not None else None
        if isinstance(kept, list) and len(kept) == 3 and kept[0] == user.pk:
            if 0 <= now - kept[1] < MENU_SECONDS:
                return bool(kept[2])
        answer = sees_any_campaign(user)
        if session is not None:
            session[SESSION_KEY] = [user.pk, now, answer]
        return answer

    return {"show_campaigns": show}
