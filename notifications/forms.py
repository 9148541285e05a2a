from __future__ import annotations

from typing import Any

from django import forms

from common.events import EVENTS
from notifications import rules
from notifications.models import Webhook


class WebhookForm(forms.Form):
    """A webhook as the console registers or changes it. The secret is required when
    registering; when changing, an empty secret keeps the current one. The URL's host is
    resolved by the service (services.webhook_create), whose refusal comes back on ``url``."""

    url = forms.CharField(
        max_length=2000,
        label="URL",
        widget=forms.TextInput(attrs={"inputmode": "url", "spellcheck": "false"}),
        help_text="https://… of the receiver: a public internet address, no user or password.",
    )
    secret = forms.CharField(
        required=True,
        strip=False,
        label="Secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=f"{rules.SECRET_MIN_LENGTH} to {rules.SECRET_MAX_LENGTH} characters. Each "
        "request is signed with it (X-Maturity-Signature); it is never shown again.",
    )
    events = forms.MultipleChoiceField(
        choices=[(name, name) for name in EVENTS],
        widget=forms.CheckboxSelectMultiple,
        label="Events",
    )
    format = forms.ChoiceField(choices=Webhook.Format.choices, label="Format")
    active = forms.BooleanField(required=False, initial=True, label="Active")

    def __init__(self, *args: Any, webhook: Webhook | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.webhook = webhook
        if webhook is not None:
            secret = self.fields["secret"]
            secret.required = False
            secret.label = "New secret"
            secret.help_text = (
                f"Leave empty to keep the current one ({webhook.secret_hint}). "
                f"{rules.SECRET_MIN_LENGTH} to {rules.SECRET_MAX_LENGTH} characters."
            )

    @classmethod
    def initial_of(cls, webhook: Webhook) -> dict[str, Any]:
        return {
            "url": webhook.url,
            "events": webhook.events,
            "format": webhook.format,
            "active": webhook.active,
        }

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"]
        problem = rules.url_problem(url)
        if problem is not None:
            raise forms.ValidationError(problem)
        return url

    def clean_secret(self) -> str:
        secret: str = self.cleaned_data.get("secret") or ""
        if not secret and self.webhook is not None:
            return ""
        problem = rules.secret_problem(secret)
        if problem is not None:
            raise forms.ValidationError(problem)
        return secret

    def changes(self) -> dict[str, Any]:
        """The cleaned values as services.webhook_update takes them (the secret only when
        a new one was typed)."""
        data = self.cleaned_data
        changes = {key: data[key] for key in ("url", "events", "format", "active")}
        if data.get("secret"):
            changes["secret"] = data["secret"]
        return changes
