"""Account pages: the profile (name and time zone), the login page, open sign-up."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from accounts import oidc, zones
from accounts.forms import ProfileForm, SignUpForm
from accounts.models import Profile
from accounts.services import AccountError, account_create, account_verify, verification_email
from common.http import AuthenticatedHttpRequest

if TYPE_CHECKING:
    from django.contrib.auth.models import User


@login_required
def profile(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Show and change the name (Django's first and last name: e-mails and pages show it),
    the time zone every time is shown in, and the weekly digest (managers)."""
    user = request.user
    stored = Profile.objects.filter(user=user).first()
    if request.method != "POST":
        initial = {
            "first_name": user.first_name,
            "last_name": user.last_name,
            "time_zone": stored.time_zone if stored else "",
            "weekly_digest": stored.weekly_digest if stored else True,
        }
        form = ProfileForm(initial=initial, default_zone=settings.TIME_ZONE)
        context = {"form": form, "password_login": settings.PASSWORD_LOGIN}
        return render(request, "accounts/profile.html", context)
    form = ProfileForm(request.POST, default_zone=settings.TIME_ZONE)
    if not form.is_valid():
        context = {"form": form, "password_login": settings.PASSWORD_LOGIN}
        return render(request, "accounts/profile.html", context, status=400)
    user.first_name = form.cleaned_data["first_name"]
    user.last_name = form.cleaned_data["last_name"]
    user.save(update_fields=["first_name", "last_name"])
    zone = form.cleaned_data["time_zone"]
    Profile.objects.update_or_create(
        user=user,
        defaults={"time_zone": zone, "weekly_digest": form.cleaned_data["weekly_digest"]},
    )
    zones.remember(request, zone)
    messages.success(request, "Profile saved.")
    return redirect("profile")


class LoginView(auth_views.LoginView):
    """Django's login, telling the page whether open sign-up (ALLOW_SIGNUP), single sign-on
    (OIDC_*) and the password form (PASSWORD_LOGIN) are on. With PASSWORD_LOGIN off a
    posted password is refused (403) whatever it is."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.PASSWORD_LOGIN:
            context = {**self._flags(), "next": request.POST.get("next", "")}
            return render(request, "registration/login.html", context, status=403)
        response: HttpResponse = super().post(request, *args, **kwargs)
        return response

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(self._flags())
        return context

    def _flags(self) -> dict[str, Any]:
        return {
            "allow_signup": settings.ALLOW_SIGNUP and settings.PASSWORD_LOGIN,
            "sso": oidc.enabled(),
            "sso_name": settings.OIDC_PROVIDER_NAME,
            "password_login": settings.PASSWORD_LOGIN,
        }


def signed_up(request: HttpRequest, form: SignUpForm, next_url: str = "") -> User | None:
    """Create the (inactive) account of a valid sign-up form and e-mail the link that
    confirms its address and then leads to ``next_url``; None, with the form's error, when
    the address has a confirmed account. The one way both sign-ups (open, invitation) go."""
    try:
        user = account_create(
            email=form.cleaned_data["email"], password=form.cleaned_data["password1"]
        )
    except AccountError as error:
        form.add_error("email", error.message)
        return None
    verification_email(request, user, next_url=next_url)
    return user


def sign_up(request: HttpRequest) -> HttpResponse:
    """Open sign-up, only when ALLOW_SIGNUP is set (404 otherwise): an account that belongs
    to no team until someone adds it (invitations sign people up without this)."""
    if not settings.ALLOW_SIGNUP or not settings.PASSWORD_LOGIN:
        raise Http404("Accounts are made by invitation here.")
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = signed_up(request, form)
        if user is not None:
            return render(request, "accounts/verify_sent.html", {"email": user.email})
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/signup.html", {"form": form}, status=status)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset, off (404) when only single sign-on signs people in."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not settings.PASSWORD_LOGIN:
            raise Http404("Passwords are not used here: sign in with single sign-on.")
        return super().dispatch(request, *args, **kwargs)


def verify(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """The link of a sign-up's e-mail: confirm the address, activate and sign in the
    account, then go to ``next`` (the invitation it came from) when it is ours."""
    user = account_verify(uidb64=uidb64, token=token)
    if user is None:
        return render(request, "accounts/verify_invalid.html", status=404)
    login(request, user, backend="accounts.backends.AddressBackend")
    messages.success(request, "Your address is confirmed and your account is ready.")
    next_url = request.GET.get("next", "")
    if next_url and url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(next_url)
    return redirect("home")
