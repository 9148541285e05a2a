"""The team report's action forms: create one from the roadmap, change one.

Choices come from the caller (the round's questions, the team's members), so a form can
only name what the page offered; the services check the rules again.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms

from actions.models import Action

Choices = list[tuple[str, Any]]


class _Fields(forms.Form):
    owner = forms.ChoiceField(required=False, label="Owner")
    # An <input type="date"> shows and sends YYYY-MM-DD only: a value in the locale's
    # format (06/01/2027 in en-gb) is shown empty, and saving the form cleared the date.
    due = forms.DateField(
        required=False,
        label="Due",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    notes = forms.CharField(
        required=False, max_length=10000, widget=forms.Textarea(attrs={"rows": 2})
    )
    external_url = forms.URLField(
        required=False, max_length=500, label="Link", assume_scheme="https"
    )

    def __init__(
        self, *args: Any, members: Choices, with_owner: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if with_owner:
            cast(forms.ChoiceField, self.fields["owner"]).choices = [("", "Nobody yet"), *members]
        else:
            # Only those who track the team's actions assign them (an owner who does not
            # changes the rest): no field whose choice would be ignored.
            del self.fields["owner"]


class ActionForm(_Fields):
    """A new action: a question of the round (the roadmap first), optional title (the
    question's text when empty), owner, due date, notes and link."""

    question = forms.ChoiceField(label="Roadmap step")
    title = forms.CharField(required=False, max_length=200, label="Title")
    field_order = ["question", "title", "owner", "due", "notes", "external_url"]

    def __init__(self, *args: Any, questions: Choices, members: Choices, **kwargs: Any) -> None:
        super().__init__(*args, members=members, **kwargs)
        cast(forms.ChoiceField, self.fields["question"]).choices = questions


class ActionChangeForm(_Fields):
    """A change to an action: status (a reason for won't do), owner, due date, notes, link."""

    status = forms.ChoiceField(choices=Action.Status.choices)
    wont_do_reason = forms.CharField(required=False, max_length=2000, label="Reason (won't do)")
    field_order = ["status", "wont_do_reason", "owner", "due", "notes", "external_url"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (
            data.get("status") == Action.Status.WONT_DO
            and not data.get("wont_do_reason", "").strip()
        ):
            self.add_error("wont_do_reason", "Say why the team won't do it.")
        return data
