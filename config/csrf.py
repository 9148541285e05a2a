"""The CSRF failure answer: JSON for scripts that asked for JSON, Django's page otherwise."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import csrf


def wants_json(request: HttpRequest) -> bool:
    """Tell whether the request asked for JSON and not for a page (its Accept header).

    Browsers navigating send ``text/html``; the survey page's autosave sends
    ``application/json`` only.
    """
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Answer a request refused by the CSRF check with 403.

    A script gets ``{"code": "csrf_failed", "detail": ...}`` so it can fetch a fresh
    token (the token rotates at every login) and retry, instead of an HTML page it would
    have to parse. Everything else gets Django's usual page. Set as CSRF_FAILURE_VIEW.
    """
    if wants_json(request):
        response = JsonResponse(
            {
                "code": "csrf_failed",
                "detail": "The page's security token is out of date. Fetch a new one, then retry.",
            },
            status=403,
        )
        response["Cache-Control"] = "no-store"
        return response
    return csrf.csrf_failure(request, reason)
