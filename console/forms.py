from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from django import forms
from django.db.models import Q, QuerySet
from django.utils.text import slugify

from campaigns.models import Campaign
from campaigns.services import CampaignInput, campaign_problems
from maturity.models import Framework
from surveys.membership_import import MAX_IMPORT_BYTES
from surveys.models import Membership, Survey, Team
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


def _parents(exclude: set[int], keep: int | None = None) -> QuerySet[Team]:
    """Active teams not in ``exclude``, and ``keep`` (a team's current parent, even when
    archived: saving a rename must not move the team)."""
    offered = Q(archived_at__isnull=True) | Q(pk=keep) if keep else Q(archived_at__isnull=True)
    return Team.objects.filter(offered).exclude(pk__in=exclude).order_by("name")


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
    members_track_actions = forms.BooleanField(
        required=False,
        label="Members track actions",
        help_text="Members, not only managers, create and change the team's actions.",
    )

    def __init__(self, *args: Any, team: Team | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.team = team
        below = team_with_descendants({team.pk}) if team is not None else set()
        parent_field = cast("forms.ModelChoiceField[Team]", self.fields["parent"])
        parent_field.queryset = _parents(below, keep=team.parent_id if team else None)
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
        help_text="An e-mail address (a new account is made if there is none) or a username. "
        "To change someone's role, use the table above.",
    )
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


_LOCAL_INPUT = "%Y-%m-%dT%H:%M"
# A round's dates: anything else is a typo (and 0001 or 9999 overflow date arithmetic).
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100  # what <input type="datetime-local"> sends and shows


def _when_input() -> forms.DateTimeInput:
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format=_LOCAL_INPUT)


class SurveyForm(forms.Form):
    """A survey round's content and settings, as the lead sets them. Times are read and
    shown in the lead's time zone (Django's current one)."""

    title = forms.CharField(max_length=200)
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=5000
    )
    framework = forms.ModelChoiceField(
        queryset=Framework.objects.filter(published=True).order_by("slug", "-version"),
        label="Framework version",
        empty_label=None,
    )
    teams = forms.ModelMultipleChoiceField(
        queryset=Team.objects.none(),
        required=False,
        to_field_name="slug",
        widget=forms.CheckboxSelectMultiple,
        help_text="The teams that answer.",
    )
    subtree = forms.ModelChoiceField(
        queryset=Team.objects.none(),
        required=False,
        to_field_name="slug",
        label="And a parent team with every team below it",
        empty_label="none",
    )
    opens_at = forms.DateTimeField(label="Opens", widget=_when_input())
    closes_at = forms.DateTimeField(
        required=False, label="Closes", widget=_when_input(), help_text="Optional."
    )
    anonymous = forms.BooleanField(
        required=False,
        label="Anonymous (confidential)",
        help_text="Respondents are not identified; teams with fewer respondents than the "
        "minimum group size are withheld.",
    )
    min_group_size = forms.IntegerField(
        min_value=1, max_value=1000, initial=3, label="Minimum group size (k)"
    )
    members_see_results = forms.BooleanField(
        required=False, initial=True, label="Members (not only managers) read their team's report"
    )
    carry_forward = forms.BooleanField(
        required=False,
        initial=True,
        label="Start from each respondent's previous answers",
        help_text="Named rounds: drafts are prefilled from their last submitted round; they "
        "confirm each page.",
    )

    def __init__(self, *args: Any, survey: Survey | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        joined = list(survey.teams.values_list("pk", flat=True)) if survey and survey.pk else []
        teams = cast("forms.ModelMultipleChoiceField[Team]", self.fields["teams"])
        teams.queryset = Team.objects.filter(
            Q(archived_at__isnull=True) | Q(pk__in=joined)
        ).order_by("name")
        subtree = cast("forms.ModelChoiceField[Team]", self.fields["subtree"])
        subtree.queryset = (
            Team.objects.filter(archived_at__isnull=True, children__isnull=False)
            .distinct()
            .order_by("name")
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in ("opens_at", "closes_at"):
            moment = data.get(name)
            if moment is not None and not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
                self.add_error(name, f"Choose a date from {EARLIEST_YEAR} to {LATEST_YEAR}.")
        return data

    def changes(self) -> dict[str, Any]:
        """The survey's fields as services.survey_save takes them; ``teams`` are the ones
        ticked and, with ``subtree``, that team and every active team below it."""
        data = dict(self.cleaned_data)
        teams = {team.pk: team for team in data.pop("teams")}
        parent = data.pop("subtree")
        if parent is not None:
            below = team_with_descendants({parent.pk})
            teams.update(
                (team.pk, team) for team in Team.objects.filter(pk__in=below, archived_at=None)
            )
        data["teams"] = sorted(teams.values(), key=lambda team: team.name)
        return data

    @classmethod
    def initial_of(cls, survey: Survey) -> dict[str, Any]:
        names = [
            "title",
            "description",
            "framework",
            "opens_at",
            "closes_at",
            "anonymous",
            "min_group_size",
            "members_see_results",
            "carry_forward",
        ]
        initial = {name: getattr(survey, name) for name in names}
        initial["teams"] = list(survey.teams.all()) if survey.pk else []
        return initial


class ExtendForm(forms.Form):
    closes_at = forms.DateTimeField(label="New closing time", widget=_when_input())

    def clean_closes_at(self) -> datetime:
        closes_at: datetime = self.cleaned_data["closes_at"]
        if closes_at.year > LATEST_YEAR:
            raise forms.ValidationError(f"Choose a date up to {LATEST_YEAR}.")
        return closes_at


class CampaignForm(forms.Form):
    """A campaign as the lead sets it; checked by campaigns.services.campaign_problems (the
    API's rules), whose messages land on the fields."""

    title = forms.CharField(max_length=200)
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=5000
    )
    parent = forms.ModelChoiceField(
        queryset=Team.objects.none(),
        to_field_name="slug",
        label="Every team under",
        help_text="Its teams that take part in rounds, at any depth (itself only if it takes "
        "part in rounds itself).",
    )
    goal_kind = forms.ChoiceField(
        choices=Campaign.GoalKind.choices, label="Goal", widget=forms.RadioSelect
    )
    goal_key = forms.SlugField(
        max_length=64,
        label="Dimension or question key",
        help_text="e.g. monitoring-feedback (a dimension) or drift-detection (a question).",
        widget=forms.TextInput(attrs={"list": "goal-keys", "autocomplete": "off"}),
    )
    goal_minimum = forms.IntegerField(
        min_value=0,
        max_value=1000,
        label="Minimum",
        help_text="A level number (dimension goals) or a choice score (question goals).",
    )
    framework = forms.ChoiceField(
        required=False,
        label="Framework version",
        help_text="The version the key and minimum are checked against.",
    )
    due = forms.DateField(label="Due", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, campaign: Campaign | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.campaign = campaign
        self.resolved: CampaignInput | None = None
        parent = cast("forms.ModelChoiceField[Team]", self.fields["parent"])
        parent.queryset = _parents(set(), keep=campaign.parent_id if campaign else None)
        framework = cast("forms.ChoiceField", self.fields["framework"])
        framework.choices = [("", "The newest version that has the key")] + [
            (f"{f.slug}:{f.version}", str(f))
            for f in Framework.objects.filter(published=True).order_by("slug", "-version")
        ]

    def clean_framework(self) -> Framework | None:
        value: str = self.cleaned_data.get("framework") or ""
        if not value:
            return None
        slug, _, version = value.partition(":")
        found = (
            Framework.objects.filter(slug=slug, version=int(version), published=True).first()
            if version.isdigit()
            else None
        )
        if found is None:
            raise forms.ValidationError("Choose one of the offered framework versions.")
        return found

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        names = ("title", "parent", "goal_kind", "goal_key", "goal_minimum", "due")
        if self.errors or any(data.get(name) is None for name in names):
            return data
        fields = {name: data[name] for name in (*names, "description", "framework")}
        resolved, problems = campaign_problems(CampaignInput(**fields), campaign=self.campaign)
        for name, messages in problems.items():
            for message in messages:
                self.add_error(name if name in self.fields else None, message)
        self.resolved = None if problems else resolved
        return data

    @classmethod
    def initial_of(cls, campaign: Campaign) -> dict[str, Any]:
        return {
            "title": campaign.title,
            "description": campaign.description,
            "parent": campaign.parent,
            "goal_kind": campaign.goal_kind,
            "goal_key": campaign.goal_key,
            "goal_minimum": campaign.goal_minimum,
            "framework": f"{campaign.framework.slug}:{campaign.framework.version}",
            "due": campaign.due,
        }
