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


CHECKBOX_ON = ("on", "true", "1")  # what a ticked box may post; an unticked one posts nothing


class CheckboxValueInput(forms.CheckboxInput):
    """A checkbox that hands its field what was posted (None when nothing was), so that the
    field can refuse a value no checkbox posts instead of reading any text as ticked."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        return data.get(name)


class CheckboxField(forms.BooleanField):
    """A yes/no checkbox: ticked ("on", "true" or "1") or absent; anything else is an error."""

    widget = CheckboxValueInput

    def to_python(self, value: Any) -> bool:
        if value is None or value is False:
            return False
        if value is True or (isinstance(value, str) and value.lower() in CHECKBOX_ON):
            return True
        raise forms.ValidationError(
            "Tick the box or leave it empty; this value is not a checkbox's.", code="invalid"
        )


# The profile page's messages, in the words of its form (the API's name the keys).
PROFILE_EMPTY = {
    "serving": "Choose at least one way the team's models are used.",
    "model_kinds": "Choose at least one kind of model the team builds or uses.",
}
NOT_SERVED_ALONE = (
    f"“{SERVING_LABELS['none']}” cannot be combined with a way of serving models: "
    "untick one or the other."
)


class TeamProfileForm(forms.Form):
    """A team's profile in a round; the lists are checked by validation.profile_problems, as
    the API checks them, and its problems said with the form's labels."""

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
    gpu = CheckboxField(
        required=False, label="It trains or serves models on GPUs or other accelerators"
    )
    regulated = CheckboxField(
        required=False, label="Its models fall under a regulated or high-risk domain"
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "serving" in cleaned and "model_kinds" in cleaned:
            for field, messages in profile_problems(
                cleaned["serving"], cleaned["model_kinds"]
            ).items():
                self.add_error(field, self._in_words(field, cleaned[field], messages))
        return cleaned

    @staticmethod
    def _in_words(field: str, values: list[str], messages: list[str]) -> list[str]:
        """Return a problem of ``field`` as the page says it (labels, not keys)."""
        if not values:
            return [PROFILE_EMPTY[field]]
        if field == "serving" and "none" in values:
            return [NOT_SERVED_ALONE]
        return messages

    def profile_input(self) -> ProfileInput:
        """Return the valid form's values, lists in their canonical order."""
        data = self.cleaned_data
        return ProfileInput(
            serving=canonical(data["serving"], SERVING),
            model_kinds=canonical(data["model_kinds"], MODEL_KINDS),
            gpu=data["gpu"],
            regulated=data["regulated"],
        )
