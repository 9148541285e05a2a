"""Single sign-on with any OpenID Connect provider (Entra ID, Okta, Google, Keycloak,
GitLab...), through mozilla-django-oidc, configured only by the environment.

Why mozilla-django-oidc: it does one thing, the authorization-code flow (with PKCE, nonce
and the ID token's signature checked against the provider's keys) as a Django
authentication backend beside the password one, with no models and no views of ours to
replace; django-allauth would also replace sign-up, e-mail and password handling, which
this service keeps (accounts.urls).

Only ``OIDC_ISSUER``, ``OIDC_CLIENT_ID`` and ``OIDC_CLIENT_SECRET`` are needed: the
endpoints come from the issuer's discovery document
(``{issuer}/.well-known/openid-configuration``, read once and cached). People sign in by
their verified e-mail address: an account with that address (any case) is theirs, else one
is created, named by the address (as imports and invitations name accounts), so a person
imported before their first sign-in keeps their memberships. ``OIDC_ALLOWED_DOMAINS``
limits the addresses. At every sign-in ``signed_in_with_sso`` is sent with the claims
(surveys maps groups to teams with it).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import requests
from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import SuspiciousOperation
from django.db.models import Q
from django.dispatch import Signal
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from mozilla_django_oidc import auth as oidc_auth
from mozilla_django_oidc import views as oidc_views
from mozilla_django_oidc.utils import import_from_settings

from accounts.services import unconfirmed_replace

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

# Sent after each sign-in through the provider: sender, user, claims (the userinfo).
signed_in_with_sso = Signal()

_DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}
DISCOVERY_SECONDS = 3600


class ProviderUnavailable(Exception):
    """The issuer's discovery document could not be read."""


def enabled() -> bool:
    return bool(settings.OIDC_ISSUER and settings.OIDC_RP_CLIENT_ID)


def discovery() -> dict[str, Any]:
    """The issuer's discovery document, cached for DISCOVERY_SECONDS.

    Raises ProviderUnavailable when it cannot be read or lacks an endpoint.
    """
    issuer = settings.OIDC_ISSUER.rstrip("/")
    key = f"accounts:oidc-discovery:{issuer}"
    document = cache.get(key)
    if document is None:
        url = f"{issuer}/.well-known/openid-configuration"
        try:
            response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as error:
            raise ProviderUnavailable(f"{url}: {error}") from error
        missing = [name for name in _DISCOVERED.values() if name not in document]
        if missing:
            raise ProviderUnavailable(f"{url} names no {', '.join(missing)}")
        cache.set(key, document, DISCOVERY_SECONDS)
    return dict(document)


def oidc_setting(attr: str, *default: Any) -> Any:
    """mozilla-django-oidc's settings, the provider's endpoints from its discovery."""
    if attr in _DISCOVERED and not getattr(settings, attr, None):
        return discovery()[_DISCOVERED[attr]]
    return import_from_settings(attr, *default)


class OIDCBackend(oidc_auth.OIDCAuthenticationBackend):
    """The provider's sign-in as an authentication backend; inert until configured."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Endpoints are read when a sign-in uses them, not whenever Django loads the
        # backends (every password login does): see the properties below.
        from django.contrib.auth import get_user_model

        self.UserModel = get_user_model()

    get_settings = staticmethod(oidc_setting)

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str:  # noqa: N802 - mozilla-django-oidc's names
        return str(oidc_setting("OIDC_OP_TOKEN_ENDPOINT"))

    @property
    def OIDC_OP_USER_ENDPOINT(self) -> str:  # noqa: N802
        return str(oidc_setting("OIDC_OP_USER_ENDPOINT"))

    @property
    def OIDC_OP_JWKS_ENDPOINT(self) -> str:  # noqa: N802
        return str(oidc_setting("OIDC_OP_JWKS_ENDPOINT"))

    @property
    def OIDC_RP_CLIENT_ID(self) -> str:  # noqa: N802
        return str(settings.OIDC_RP_CLIENT_ID)

    @property
    def OIDC_RP_CLIENT_SECRET(self) -> str:  # noqa: N802
        return str(settings.OIDC_RP_CLIENT_SECRET)

    @property
    def OIDC_RP_SIGN_ALGO(self) -> str:  # noqa: N802
        return str(settings.OIDC_RP_SIGN_ALGO)

    @property
    def OIDC_RP_IDP_SIGN_KEY(self) -> None:  # noqa: N802 - keys come from jwks_uri
        return None

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> User | None:
        if not enabled() or request is None or "code" not in request.GET:
            return None  # a password login, or single sign-on is off
        if request.path != reverse("oidc_authentication_callback"):
            return None  # only the provider's callback signs in this way (not ?code= elsewhere)
        user: User | None = super().authenticate(request, **kwargs)
        return user

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        """A verified address (when the provider says), of an allowed domain (if limited)."""
        email = str(claims.get("email") or "")
        if "@" not in email or claims.get("email_verified") is False:
            return False
        domains = [d.lower() for d in settings.OIDC_ALLOWED_DOMAINS]
        if domains and email.rsplit("@", 1)[1].lower() not in domains:
            return False
        # A deactivated account keeps its person out, whichever way they sign in.
        deactivated = self.UserModel.objects.filter(
            Q(email__iexact=email) | Q(username__iexact=email), is_active=False
        ).exclude(profile__unverified=True)
        if deactivated.exists():
            logger.warning("single sign-on refused: the account of %s is deactivated", email)
            return False
        return True

    def filter_users_by_claims(self, claims: dict[str, Any]) -> Any:
        """Active accounts with the address (unconfirmed sign-ups are inactive)."""
        email = str(claims.get("email") or "").strip()
        return self.UserModel.objects.filter(email__iexact=email, is_active=True)

    def create_user(self, claims: dict[str, Any]) -> User:
        email = str(claims["email"]).strip().lower()
        # The provider proved the address: an unconfirmed sign-up of it gives way.
        taken = self.UserModel.objects.filter(Q(email__iexact=email) | Q(username__iexact=email))
        unconfirmed_replace(taken)
        if taken.exists():  # an account named by the address, with another e-mail
            raise SuspiciousOperation(f"an account is named {email} but has another address")
        user = self.UserModel(username=email, email=email)
        user.set_unusable_password()
        user.first_name = str(claims.get("given_name") or "")[:150]
        user.last_name = str(claims.get("family_name") or "")[:150]
        user.save()
        signed_in_with_sso.send(sender=type(self), user=user, claims=claims)
        return user

    def update_user(self, user: User, claims: dict[str, Any]) -> User:
        signed_in_with_sso.send(sender=type(self), user=user, claims=claims)
        return user


class SignInView(oidc_views.OIDCAuthenticationRequestView):
    """GET /oidc/authenticate/: off the provider we go (404 when single sign-on is off, a
    clear page when the provider cannot be reached)."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super(oidc_views.OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not enabled():
            raise Http404("Single sign-on is not set up here.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = oidc_setting("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except ProviderUnavailable as error:
            logger.warning("single sign-on unavailable: %s", error)
            return render(request, "accounts/sso_unavailable.html", status=503)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        response: HttpResponse = super().get(request)
        return response


class CallbackView(oidc_views.OIDCAuthenticationCallbackView):
    """GET /oidc/callback/: the provider sends people back here."""

    get_settings = staticmethod(oidc_setting)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not enabled():
            raise Http404("Single sign-on is not set up here.")
        try:
            response: HttpResponse = super().get(request)
        except (ProviderUnavailable, requests.RequestException) as error:
            logger.warning("single sign-on failed, provider unreachable: %s", error)
            return render(self.request, "accounts/sso_unavailable.html", status=503)
        except SuspiciousOperation as error:
            logger.warning("single sign-on failed: %s", error)
            response = self.login_failure()
        return response

    def login_failure(self) -> HttpResponse:
        messages.error(
            self.request,
            "Single sign-on did not sign you in: your address may not be allowed here, or "
            "the provider refused. Try again, or ask the person who runs the programme.",
        )
        response: HttpResponse = super().login_failure()
        return response
