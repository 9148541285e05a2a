"""Template context shared by every page."""

from __future__ import annotations

from django.http import HttpRequest

from common.cache import csrf_placeholder as placeholder


def csrf_placeholder(request: HttpRequest) -> dict[str, str]:
    """``csrf_token``: a placeholder while a page is rendered to be cached whole
    (common.cache.cached_page replaces it with each reader's token); otherwise nothing,
    and Django's own token is used."""
    if getattr(request, "csrf_placeholder", False):
        return {"csrf_token": placeholder()}
    return {}
