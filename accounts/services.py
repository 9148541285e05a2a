"""Creating an account: through an invitation (always) or open sign-up (ALLOW_SIGNUP),
confirmed by a link e-mailed to the address."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from accounts.models import Profile
from common.errors import ApplicationError

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class _VerificationTokens(PasswordResetTokenGenerator):
    """Tokens of the address-confirmation links: their own salt, so that a password-reset
    link never confirms (and reactivates) an account."""

    key_salt = "accounts.services.verification"


verification_tokens = _VerificationTokens()


class AccountError(ApplicationError):
    STATUS: ClassVar[dict[str, int]] = {"account_exists": 409}


def account_create(*, email: str, password: str) -> User:
    """Create an account named by ``email`` (lower-cased) with ``password`` (validated by
    the caller's form against AUTH_PASSWORD_VALIDATORS), **inactive until its address is
    confirmed** (account_verify, from the link of verification_email): until then nobody
    can sign in with it and single sign-on never matches it, so typing someone else's
    address gains nothing. An earlier unconfirmed sign-up of the address is replaced.

    Raises AccountError ``account_exists`` (field "email") when a confirmed account already
    has this address or name: that person logs in (or resets the password) instead.
    """
    address = email.strip().lower()
    model = get_user_model()
    taken = model.objects.filter(Q(email__iexact=address) | Q(username__iexact=address))
    try:
        with transaction.atomic():
            unconfirmed_replace(taken)
            if taken.exists():
                raise AccountError(
                    "An account already has this address: log in (or reset its password) instead.",
                    code="account_exists",
                    field="email",
                )
            user = model.objects.create_user(
                username=address, email=address, password=password, is_active=False
            )
            Profile.objects.create(user=user, unverified=True)
            return user
    except IntegrityError as error:  # created meanwhile
        raise AccountError(
            "An account already has this address: log in instead.",
            code="account_exists",
            field="email",
        ) from error


def unconfirmed_replace(accounts: QuerySet[User]) -> None:
    """Delete the unconfirmed sign-ups among ``accounts`` (their address was never proved;
    a new sign-up or a single sign-on of it takes its place)."""
    accounts.filter(is_active=False, profile__unverified=True).delete()


def verification_email(request: HttpRequest, user: User, next_url: str = "") -> None:
    """E-mail ``user`` the link that confirms their address (Django's token, as for a
    password reset: single use, PASSWORD_RESET_TIMEOUT)."""
    path = reverse(
        "account-verify",
        args=[
            urlsafe_base64_encode(force_bytes(user.pk)),
            verification_tokens.make_token(user),
        ],
    )
    query = f"?{urlencode({'next': next_url})}" if next_url else ""
    body = render_to_string(
        "accounts/email/verify.txt",
        {"user": user, "link": request.build_absolute_uri(path + query)},
    )
    EmailMessage("Confirm your address for MLOps maturity", body, to=[user.email]).send()


def account_verify(*, uidb64: str, token: str) -> User | None:
    """Confirm a signed-up address: activate the account of the link (None when the link
    is wrong, used or too old)."""
    model = get_user_model()
    try:
        user = model.objects.get(pk=int(force_str(urlsafe_base64_decode(uidb64))))
    except (ValueError, TypeError, OverflowError, model.DoesNotExist):
        return None
    if not verification_tokens.check_token(user, token):
        return None
    if user.is_active or not Profile.objects.filter(user=user, unverified=True).exists():
        return None  # only an unconfirmed sign-up is confirmed (never a deactivated account)
    with transaction.atomic():
        user.is_active = True
        user.save(update_fields=["is_active"])
        Profile.objects.update_or_create(user=user, defaults={"unverified": False})
    return user
