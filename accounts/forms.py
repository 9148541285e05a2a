from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import get_user_model, password_validation

from accounts.zones import zone_names

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class PasswordResetForm(auth_forms.PasswordResetForm):
    def get_users(self, email: str) -> Iterator[User]:
        """Every active account with this e-mail (any case), with a password or not."""
        model = get_user_model()
        for user in model.objects.filter(email__iexact=email, is_active=True):
            if _same_address(email, user.email):
                yield user


def _same_address(one: str, other: str) -> bool:
    """Compare addresses as Django's reset form does: NFKC-normalised, case-folded."""
    return (
        unicodedata.normalize("NFKC", one).casefold()
        == unicodedata.normalize("NFKC", other).casefold()
    )


class ProfileForm(forms.Form):
    first_name = forms.CharField(max_length=150, required=False, label="First name")
    last_name = forms.CharField(max_length=150, required=False, label="Last name")
    time_zone = forms.ChoiceField(
        required=False,
        label="Time zone",
        help_text="Every time is shown in this zone, with its name.",
    )
    weekly_digest = forms.BooleanField(
        required=False,
        label="Weekly digest",
        help_text="Managers: a Monday e-mail with your teams' new scores, level changes and "
        "overdue actions.",
    )

    def __init__(self, *args: Any, default_zone: str = "UTC", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", f"The organisation's ({default_zone})")]
        choices += [(name, name.replace("_", " ")) for name in zone_names()]
        cast("forms.ChoiceField", self.fields["time_zone"]).choices = choices


class SignUpForm(forms.Form):
    """An account named by an e-mail address, with a password the validators accept."""

    email = forms.EmailField(label="E-mail address", max_length=150)
    password1 = forms.CharField(label="Password", strip=False, widget=forms.PasswordInput)
    password2 = forms.CharField(label="Password again", strip=False, widget=forms.PasswordInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        elif first:
            try:
                password_validation.validate_password(first)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return data
