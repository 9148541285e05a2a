"""The profile page: a person's name and time zone."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render

from accounts import zones
from accounts.forms import ProfileForm
from accounts.models import Profile
from common.http import AuthenticatedHttpRequest


@login_required
def profile(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Show and change the name (Django's first and last name: e-mails and pages show it)
    and the time zone every time is shown in."""
    user = request.user
    stored = Profile.objects.filter(user=user).first()
    if request.method != "POST":
        initial = {
            "first_name": user.first_name,
            "last_name": user.last_name,
            "time_zone": stored.time_zone if stored else "",
        }
        form = ProfileForm(initial=initial, default_zone=settings.TIME_ZONE)
        return render(request, "accounts/profile.html", {"form": form})
    form = ProfileForm(request.POST, default_zone=settings.TIME_ZONE)
    if not form.is_valid():
        return render(request, "accounts/profile.html", {"form": form}, status=400)
    user.first_name = form.cleaned_data["first_name"]
    user.last_name = form.cleaned_data["last_name"]
    user.save(update_fields=["first_name", "last_name"])
    zone = form.cleaned_data["time_zone"]
    Profile.objects.update_or_create(user=user, defaults={"time_zone": zone})
    zones.remember(request, zone)
    messages.success(request, "Profile saved.")
    return redirect("profile")
