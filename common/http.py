"""What Django views share: the request of a view that only signed-in people reach."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class AuthenticatedHttpRequest(HttpRequest):
    """The request of a view that only signed-in people reach: ``@login_required`` views,
    and admin actions (the admin site lets only active staff in).

    For the type checker only (django-stubs' recipe): Django passes the same HttpRequest
    either way, and ``request.user`` is ``User | AnonymousUser`` to mypy until a check
    narrows it; login_required, or the admin site's, is that check, made before the view
    runs.
    """

    user: User
