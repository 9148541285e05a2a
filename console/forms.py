from __future__ import annotations

from typing import Any, cast

from django import forms
from django.db.models import QuerySet
from django.utils.text import slugify

from surveys.membership_import import MAX_IMPORT_BYTES
from surveys.models import Membership, Team
from surveys.selectors import team_with_descendants


class MembershipImportForm(forms.Form):
    """A CSV of memberships: an uploaded file or pasted text (the file wins)."""

    file = forms.FileField(
        required=False,
        label="CSV file",
        help_text="email,team,role with that header first; saved from a spreadsheet as CSV.",
    )
    text = forms.CharField(
        required=False,
        label="Or paste the CSV",
        strip=False,
        max_length=MAX_IMPORT_BYTES,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("file") and not (data.get("text") or "").strip():
            raise forms.ValidationError("Choose a CSV file or paste its text.")
        return data

    def csv_data(self) -> bytes | str:
        """The CSV to import: the uploaded file's bytes (at most one byte over the limit,
        which the import refuses), else the pasted text."""
        upload = self.cleaned_data.get("file")
        if upload:
            data: bytes = upload.read(MAX_IMPORT_BYTES + 1)
            return data
        text: str = self.cleaned_data["text"]
        return text


def _parents(exclude: set[int]) -> QuerySet[Team]:
    return Team.objects.filter(archived_at__isnull=True).exclude(pk__in=exclude).order_by("name")


class TeamForm(forms.Form):
    """A team's name and parent; its slug too when it is new (a slug is in URLs, CSV
    files and the API, so it does not change afterwards)."""

    name = forms.CharField(max_length=200, label="Name")
    slug = forms.SlugField(
        max_length=64,
        required=False,
        label="Slug",
        help_text="Letters, digits, - and _; from the name when empty. It cannot change later.",
    )
    parent = forms.ModelChoiceField(
        queryset=Team.objects.none(),
        required=False,
        to_field_name="slug",
        label="Parent team",
        empty_label="none (a top-level team)",
    )

    def __init__(self, *args: Any, team: Team | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.team = team
        below = team_with_descendants({team.pk}) if team is not None else set()
        parent_field = cast("forms.ModelChoiceField[Team]", self.fields["parent"])
        parent_field.queryset = _parents(below)
        if team is not None:
            del self.fields["slug"]

    def clean_slug(self) -> str:
        slug: str = self.cleaned_data.get("slug") or slugify(self.data.get("name", ""))[:64]
        if not slug:
            raise forms.ValidationError("Give the team a slug (letters, digits, - and _).")
        if Team.objects.filter(slug=slug).exists():
            raise forms.ValidationError(f'A team already has the slug "{slug}".')
        return slug


class MemberAddForm(forms.Form):
    person = forms.CharField(
        max_length=254,
        label="Person",
        help_text="An e-mail address (a new account is made if there is none) or a username.",
    )
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)
