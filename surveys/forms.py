from __future__ import annotations

from datetime import datetime

from django import forms
from django.utils import timezone


class InvitationForm(forms.Form):
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires at",
        help_text="Optional. Format: 2026-12-31 18:00",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    max_uses = forms.IntegerField(
        required=False, min_value=1, max_value=100000, label="Maximum uses", help_text="Optional."
    )

    def clean_expires_at(self) -> datetime | None:
        expires_at: datetime | None = self.cleaned_data["expires_at"]
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError("The expiry must be in the future.")
        return expires_at


class EmailInvitationForm(forms.Form):
    emails = forms.CharField(
        label="E-mail addresses",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One or more addresses, separated by commas, spaces or new lines. "
        "Each gets its own single-use link.",
    )

    def clean_emails(self) -> list[str]:
        from django.core.validators import validate_email

        raw = self.cleaned_data["emails"].replace(",", " ").split()
        if len(raw) > 200:
            raise forms.ValidationError("At most 200 addresses at a time.")
        invalid = []
        for address in raw:
            try:
                validate_email(address)
            except forms.ValidationError:
                invalid.append(address)
        if invalid:
            raise forms.ValidationError(f"Not valid e-mail addresses: {', '.join(invalid)}")
        return list(dict.fromkeys(raw))
