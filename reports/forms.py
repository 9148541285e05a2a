from __future__ import annotations

from typing import Any

from django import forms

from common.text import text_problem
from maturity.models import Dimension, Level
from surveys.models import Team


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


class OrgTableForm(forms.Form):
    """The organisation table's query string: sort, direction, filters and page.

    ``sort`` is one of reports.selectors.ORG_SORTS or a dimension key; ``level`` filters by
    the overall level, or by the level in ``dimension`` when one is chosen.
    """

    sort = forms.ChoiceField(required=False)
    dir = forms.ChoiceField(choices=[("asc", "ascending"), ("desc", "descending")], required=False)
    parent = forms.SlugField(required=False, label="Under")
    level = forms.TypedChoiceField(coerce=int, empty_value=None, required=False)
    dimension = forms.ChoiceField(required=False, label="in")
    page = forms.IntegerField(min_value=1, max_value=1_000_000, required=False)

    def __init__(
        self,
        *args: Any,
        sorts: list[tuple[str, str]],
        dimensions: list[Dimension],
        levels: list[Level],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sort"].choices = sorts  # type: ignore[attr-defined]
        self.fields["level"].choices = [("", "Any level")] + [  # type: ignore[attr-defined]
            (str(lvl.number), f"{lvl.number} · {lvl.name}") for lvl in levels
        ]
        self.fields["dimension"].choices = [("", "overall")] + [  # type: ignore[attr-defined]
            (d.key, d.name) for d in dimensions
        ]

    def clean_parent(self) -> Team | None:
        """The team whose subtree the table keeps (by slug), or None."""
        slug = self.cleaned_data.get("parent")
        if not slug:
            return None
        parent = Team.objects.filter(slug=slug).first()
        if parent is None:
            raise forms.ValidationError(f"There is no team “{slug}”.")
        return parent


# The campaign page's team table (reports.campaign_views): sorts and the status filter.
CAMPAIGN_SORTS = [
    ("team", "team"),
    ("status", "status"),
    ("value", "current value"),
    ("gap", "gap"),
]


class CampaignTableForm(forms.Form):
    """The campaign page's query string: filter by status and by a piece of the team's
    name, sort, and page. Invalid values are form errors (the page answers 400)."""

    status = forms.ChoiceField(required=False, label="Status")
    q = forms.CharField(required=False, max_length=100, label="Team name")
    sort = forms.ChoiceField(choices=CAMPAIGN_SORTS, required=False)
    dir = forms.ChoiceField(choices=[("asc", "ascending"), ("desc", "descending")], required=False)
    page = forms.IntegerField(min_value=1, max_value=1_000_000, required=False)

    def __init__(self, *args: Any, statuses: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", "Any status"), *statuses]  # type: ignore[attr-defined]

    def clean_q(self) -> str:
        value: str = self.cleaned_data.get("q") or ""
        problem = text_problem(value)
        if problem:
            raise forms.ValidationError(problem)
        return value.strip()
