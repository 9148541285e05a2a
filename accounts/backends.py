"""Django's username-and-password login, also for an address typed in another case.

Accounts made from an e-mail address (imports, invitations, sign-up) are named by the
address in lower case; people type it as they like (Mia@Example.com). A username with "@"
that matches no account exactly is tried once more in lower case.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class AddressBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if not settings.PASSWORD_LOGIN:
            return None  # only single sign-on signs people in (the admin's login included)
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None and username and "@" in username:
            lowered = username.strip().lower()
            if lowered != username:
                user = super().authenticate(request, username=lowered, password=password, **kwargs)
        return user


def lockout_username(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str | None:
    """The username django-axes counts failed logins against (AXES_USERNAME_CALLABLE): an
    address in lower case, as this backend tries it, so that typing it in another case
    does not start a fresh count."""
    username = (credentials or {}).get("username")
    if username is None and request is not None:
        username = request.POST.get("username")
    if isinstance(username, str) and "@" in username:
        return username.strip().lower()
    return username if isinstance(username, str) else None


def not_a_password_login(request: HttpRequest | None, credentials: dict[str, Any] | None) -> bool:
    """AXES_WHITELIST_CALLABLE: a refused single sign-on (no username, the provider's
    callback) is not a guessed password; counting it would lock everyone behind the same
    address out (the provider limits its own sign-in attempts)."""
    return request is not None and request.path.startswith("/accounts/oidc/")
