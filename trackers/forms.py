"""The console's form of a tracker connection (the API's serializer checks the same way:
validation.connection_clean)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q

from surveys.models import Team
from trackers.models import TrackerConnection
from trackers.validation import MAX_SECRET, ConnectionSettings, connection_clean

SETTINGS_FIELDS = ("provider", "name", "base_url", "target", "issue_type", "email", "team")


class ConnectionForm(forms.Form):
    """A connection's settings; the token and webhook secret are never shown back (an
    edited connection keeps them when they are left empty)."""

    provider = forms.ChoiceField(choices=TrackerConnection.Provider.choices)
    name = forms.CharField(max_length=100, help_text="For people, e.g. “Platform backlog”.")
    base_url = forms.CharField(
        max_length=300,
        required=False,
        label="API address",
        help_text="Empty: https://api.github.com or https://gitlab.com/api/v4. Jira: "
        "https://&lt;your-site&gt;.atlassian.net. GitHub Enterprise: "
        "https://&lt;host&gt;/api/v3; self-managed GitLab: https://&lt;host&gt;/api/v4.",
    )
    target = forms.CharField(
        max_length=200,
        label="Repository or project",
        help_text="GitHub: owner/repository. GitLab: the project's id or path "
        "(group/project). Jira: the project key.",
    )
    issue_type = forms.CharField(
        max_length=60, required=False, label="Jira issue type", help_text="Empty: Task."
    )
    email = forms.EmailField(
        required=False, label="Jira account e-mail", help_text="The API token's account."
    )
    team = forms.ModelChoiceField(
        queryset=Team.objects.none(),
        required=False,
        to_field_name="slug",
        empty_label="every team",
        help_text="It applies to this team and the teams below it.",
    )
    token = forms.CharField(
        required=False,
        strip=False,
        max_length=MAX_SECRET,
        label="API token",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="GitHub: a fine-grained token with Issues read and write. GitLab: scope "
        "api. Jira: an API token of the account above.",
    )
    webhook_secret = forms.CharField(
        required=False,
        strip=False,
        max_length=MAX_SECRET,
        label="Webhook secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="At least 16 characters. Empty: a random one is made (shown after saving).",
    )

    def __init__(
        self, *args: Any, instance: TrackerConnection | None = None, **kwargs: Any
    ) -> None:
        if instance is not None:
            # Also with data: a disabled field (the provider) takes its initial value.
            kwargs["initial"] = {name: getattr(instance, name) for name in SETTINGS_FIELDS}
            kwargs["initial"]["team"] = instance.team.slug if instance.team else None
        super().__init__(*args, **kwargs)
        self.instance = instance
        self.settings: ConnectionSettings | None = None
        offered = Q(archived_at__isnull=True)
        if instance is not None and instance.team_id:
            offered |= Q(pk=instance.team_id)
        team_field = cast("forms.ModelChoiceField[Team]", self.fields["team"])
        team_field.queryset = Team.objects.filter(offered).order_by("name")
        if instance is not None:
            self.fields["provider"].disabled = True
            self.fields["provider"].help_text = "It cannot change: add another connection."
            self.fields["token"].help_text = "A token is set: leave empty to keep it."
            self.fields[
                "webhook_secret"
            ].help_text = "A secret is set (shown below): leave empty to keep it."

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "provider" not in data:
            return data
        values = {name: data.get(name) for name in self.fields if name not in self.errors}
        try:
            self.settings = connection_clean(values, instance=self.instance)
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                if field not in self.errors:
                    self.add_error(field if field in self.fields else None, messages)
        return data
