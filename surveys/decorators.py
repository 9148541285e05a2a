"""View decorators shared by the apps that serve the lead's console pages (console,
notifications' webhooks, trackers' connections): one rule for who may use them."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse

from common.http import AuthenticatedHttpRequest
from surveys.selectors import runs_programme

View = Callable[..., HttpResponse]


def lead_required(view: View) -> View:
    """Sign-in first (a redirect to the login page), then 403 for those who do not run
    the programme (surveys.selectors.runs_programme: admins and programme leads)."""

    @login_required
    @wraps(view)
    def wrapper(request: AuthenticatedHttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if not runs_programme(request.user):
            raise PermissionDenied("The console is for those who run the programme.")
        return view(request, *args, **kwargs)

    return wrapper
