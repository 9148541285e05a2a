from __future__ import annotations

from typing import Any

from django import forms

from maturity.models import Dimension, Level


class TargetsForm(forms.Form):
    """One optional target level per dimension of a framework."""

    def __init__(
        self, *args: Any, dimensions: list[Dimension], levels: list[Level], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "No target")] + [
            (str(lvl.number), f"{lvl.number} · {lvl.name}") for lvl in levels
        ]
        for dimension in dimensions:
            self.fields[f"target-{dimension.key}"] = forms.TypedChoiceField(
                choices=choices, coerce=int, empty_value=None, required=False, label=dimension.name
            )
