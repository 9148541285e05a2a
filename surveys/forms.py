from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.utils import timezone

from surveys.services import ProfileInput
from surveys.validation import MODEL_KINDS, SERVING, canonical, profile_problems


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


SERVING_LABELS = {
    "none": "Not served (analyses, reports)",
    "batch": "Batch (scheduled scoring)",
    "online": "Online (request and response)",
    "streaming": "Streaming (events as they arrive)",
    "edge": "On devices (edge)",
}
MODEL_KIND_LABELS = {
    "classical": "Classical ML (linear models, trees, ...)",
    "deep-learning": "Deep learning",
    "llm-api": "Language models through an API",
    "llm-fine-tuned": "Fine-tuned or self-hosted language models",
    "agents": "Agents (language models that call tools)",
}


class TeamProfileForm(forms.Form):
    """A team's profile in a round; the lists are checked by validation.profile_problems, as
    the API checks them."""

    serving = forms.MultipleChoiceField(
        required=False,
        choices=[(value, SERVING_LABELS[value]) for value in SERVING],
        widget=forms.CheckboxSelectMultiple,
        label="How are the team's models used?",
    )
    model_kinds = forms.MultipleChoiceField(
        required=False,
        choices=[(value, MODEL_KIND_LABELS[value]) for value in MODEL_KINDS],
        widget=forms.CheckboxSelectMultiple,
        label="What kinds of model does the team build or use?",
    )
    gpu = forms.BooleanField(
        required=False, label="It trains or serves models on GPUs or other accelerators"
    )
    regulated = forms.BooleanField(
        required=False, label="Its models fall under a regulated or high-risk domain"
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "serving" in cleaned and "model_kinds" in cleaned:
            for field, messages in profile_problems(
                cleaned["serving"], cleaned["model_kinds"]
            ).items():
                self.add_error(field, messages)
        return cleaned

    def profile_input(self) -> ProfileInput:
        """Return the valid form's values, lists in their canonical order."""
        data = self.cleaned_data
        return ProfileInput(
            serving=canonical(data["serving"], SERVING),
            model_kinds=canonical(data["model_kinds"], MODEL_KINDS),
            gpu=data["gpu"],
            regulated=data["regulated"],
        )
