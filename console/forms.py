from __future__ import annotations

from typing import Any

from django import forms

from surveys.membership_import import MAX_IMPORT_BYTES


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
