"""Django's username-and-password login, also for an address typed in another case.

Accounts made from an e-mail address (imports, invitations, sign-up) are named by the
address in lower case; people type it as they like (Mia@Example.com). A username with "@"
that matches no account exactly is tried once more in lower case.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None and username and "@" in username:
            lowered = username.strip().lower()
            if lowered != username:
                user = super().authenticate(request, username=lowered, password=password, **kwargs)
        return user
