"""Creating an account: through an invitation (always) or open sign-up (ALLOW_SIGNUP)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q

from common.errors import ApplicationError

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class AccountError(ApplicationError):
    STATUS: ClassVar[dict[str, int]] = {"account_exists": 409}


def account_create(*, email: str, password: str) -> User:
    """Create an account named by ``email`` (lower-cased) with ``password`` (validated by
    the caller's form against AUTH_PASSWORD_VALIDATORS).

    Raises AccountError ``account_exists`` (field "email") when an account already has this
    address or name: that person logs in (or resets the password) instead.
    """
    address = email.strip().lower()
    model = get_user_model()
    taken = Q(email__iexact=address) | Q(username__iexact=address)
    if model.objects.filter(taken).exists():
        raise AccountError(
            "An account already has this address: log in (or reset its password) instead.",
            code="account_exists",
            field="email",
        )
    try:
        with transaction.atomic():
            return model.objects.create_user(username=address, email=address, password=password)
    except IntegrityError as error:  # created meanwhile
        raise AccountError(
            "An account already has this address: log in instead.",
            code="account_exists",
            field="email",
        ) from error
