"""Creating, changing and archiving campaigns, and the deadline event: one implementation
for the console, the API and beat.

Every change is saved through ``Campaign.save``, so the audit log (django-auditlog) records
who changed what. Progress is not computed here: after the commit, ``campaign_changed``
asks the reports app to compute it (campaigns.signals).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from campaigns import selectors
from campaigns.models import Campaign
from campaigns.signals import campaign_changed
from common import events
from common.errors import ApplicationError
from common.text import text_problem
from maturity.models import Choice, Framework, Level
from surveys.models import Team
from surveys.selectors import runs_programme

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class CampaignError(ApplicationError):
    """A broken rule about campaigns; ``field`` names the input at fault."""

    STATUS: ClassVar[dict[str, int]] = {"forbidden": 403}


# How far ahead a due date may be: a year-9999 typo is refused, not kept for ever.
MAX_DUE_YEARS = 10
TITLE_MAX = 200
DESCRIPTION_MAX = 5000


@dataclass(frozen=True)
class CampaignInput:
    """A campaign as the edge read it. ``framework`` None: the newest published version
    that has the goal's key (framework_for_goal); ``goal_kind`` is ``dimension`` or
    ``question``; ``goal_minimum`` a level number or a choice score."""

    title: str
    parent: Team
    goal_kind: str
    goal_key: str
    goal_minimum: int
    due: date
    description: str = ""
    framework: Framework | None = None

    @classmethod
    def of(cls, campaign: Campaign) -> CampaignInput:
        """The input that would make ``campaign`` as it is (to apply a change to)."""
        return cls(
            title=campaign.title,
            parent=campaign.parent,
            goal_kind=campaign.goal_kind,
            goal_key=campaign.goal_key,
            goal_minimum=campaign.goal_minimum,
            due=campaign.due,
            description=campaign.description,
            framework=campaign.framework,
        )

    def changed(self, changes: Mapping[str, Any]) -> CampaignInput:
        """This input with ``changes`` (field names of CampaignInput) applied."""
        return replace(self, **changes)

    def as_changes(self) -> dict[str, Any]:
        """Every field, as campaign_update takes changes."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def framework_for_goal(
    kind: str, key: str, *, slug: str = "", version: int | None = None
) -> tuple[Framework | None, dict[str, list[str]]]:
    """Find the framework version a goal is set against: ``slug`` (and ``version``) when
    given, else the newest published version whose dimensions (questions) have ``key``.

    Returns (framework, {}) or (None, {field: [message]}): an unknown framework or version,
    a key that no (or more than one) framework has.
    """
    if kind not in Campaign.GoalKind.values:
        return None, {"goal_kind": ["Choose dimension or question."]}
    versions = Framework.objects.filter(published=True)
    if slug:
        versions = versions.filter(slug=slug)
        if version is not None:
            versions = versions.filter(version=version)
        if not versions.exists():
            return None, {"framework": ["No such published framework (or version)."]}
    having = (
        versions.filter(dimensions__key=key)
        if kind == Campaign.GoalKind.DIMENSION
        else versions.filter(questions__key=key)
    )
    found = list(having.order_by("-version", "slug").distinct()[:50])
    what = "dimension" if kind == Campaign.GoalKind.DIMENSION else "question"
    if not found:
        where = f"{slug} v{version}" if slug and version else slug or "any framework"
        return None, {"goal_key": [f"There is no {what} {key!r} in {where}."]}
    slugs = sorted({framework.slug for framework in found})
    if len(slugs) > 1:
        return None, {
            "framework": [f"The {what} {key!r} is in {', '.join(slugs)}: choose the framework."]
        }
    return found[0], {}


def _minimum_problem(framework: Framework, kind: str, key: str, minimum: int) -> str | None:
    if kind == Campaign.GoalKind.DIMENSION:
        numbers = sorted(Level.objects.filter(framework=framework).values_list("number", flat=True))
        if minimum not in numbers:
            return f"Choose a level of {framework}: {', '.join(map(str, numbers))}."
        return None
    scores = sorted(
        Choice.objects.filter(question__framework=framework, question__key=key).values_list(
            "score", flat=True
        )
    )
    if minimum not in scores:
        return f"Choose one of the question's choices: {', '.join(map(str, scores))}."
    return None


def _text_problems(data: CampaignInput) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    title = data.title.strip()
    problem = "This field may not be blank." if not title else text_problem(title, max_length=200)
    if problem:
        errors["title"] = [problem]
    problem = text_problem(data.description, max_length=DESCRIPTION_MAX)
    if problem:
        errors["description"] = [problem]
    return errors


def campaign_problems(
    data: CampaignInput, *, campaign: Campaign | None = None, today: date | None = None
) -> tuple[CampaignInput, dict[str, list[str]]]:
    """Check a new campaign (``campaign`` None) or a change of ``campaign`` to ``data``.

    Returns ``data`` with its framework resolved, and ``{field: [messages]}`` (empty when
    all is well). The rules: a title; the parent team active (a campaign's current
    archived parent may stay); the goal's key a dimension (question) of the framework
    version, the minimum one of its levels (the question's choice scores); a due date
    not in the past (on creation, or when it changes) and at most MAX_DUE_YEARS ahead.
    The API and the console both check here.
    """
    today = today or timezone.localdate()
    errors = _text_problems(data)
    parent_kept = campaign is not None and campaign.parent_id == data.parent.pk
    if data.parent.archived_at is not None and not parent_kept:
        errors["parent"] = [f'The team "{data.parent.name}" is archived: choose an active team.']
    due_changed = campaign is None or campaign.due != data.due
    if due_changed and data.due < today:
        errors["due"] = ["The due date cannot be in the past."]
    elif data.due.year > today.year + MAX_DUE_YEARS:
        errors["due"] = [f"A due date more than {MAX_DUE_YEARS} years ahead is not accepted."]
    framework = data.framework
    if framework is None:
        framework, problems = framework_for_goal(data.goal_kind, data.goal_key)
    else:
        framework, problems = framework_for_goal(
            data.goal_kind, data.goal_key, slug=framework.slug, version=framework.version
        )
    errors.update(problems)
    if framework is not None:
        problem = _minimum_problem(framework, data.goal_kind, data.goal_key, data.goal_minimum)
        if problem:
            errors["goal_minimum"] = [problem]
    return replace(data, framework=framework), errors


def _checked(data: CampaignInput, campaign: Campaign | None) -> CampaignInput:
    resolved, errors = campaign_problems(data, campaign=campaign)
    if errors:
        field, messages = next(iter(errors.items()))
        raise CampaignError(messages[0], code="invalid", field=field)
    return resolved


def _apply(campaign: Campaign, data: CampaignInput) -> None:
    assert data.framework is not None  # noqa: S101 - resolved by _checked
    campaign.title = data.title.strip()
    campaign.description = data.description
    campaign.parent = data.parent
    campaign.framework = data.framework
    campaign.due = data.due
    dimension = data.goal_kind == Campaign.GoalKind.DIMENSION
    campaign.dimension_key = data.goal_key if dimension else ""
    campaign.min_level = data.goal_minimum if dimension else None
    campaign.question_key = "" if dimension else data.goal_key
    campaign.min_choice = None if dimension else data.goal_minimum


def _changed_after_commit(campaign: Campaign) -> None:
    pk = campaign.pk
    transaction.on_commit(
        lambda: campaign_changed.send(sender=Campaign, campaign_id=pk), robust=True
    )


def _check_lead(by: User) -> None:
    if not runs_programme(by):
        raise CampaignError("Only admins and programme leads manage campaigns.", code="forbidden")


@transaction.atomic
def campaign_create(data: CampaignInput, *, by: User) -> Campaign:
    """Create a campaign from ``data`` for ``by`` (an admin or programme lead) and have its
    progress computed after the commit (from the scores already stored).

    Raises CampaignError (403 ``forbidden``; 400 with the field for what
    campaign_problems refuses).
    """
    _check_lead(by)
    data = _checked(data, None)
    campaign = Campaign(created_by=by)
    _apply(campaign, data)
    campaign.full_clean(exclude=["parent", "framework", "created_by"])
    campaign.save()
    _changed_after_commit(campaign)
    return campaign


@transaction.atomic
def campaign_update(campaign: Campaign, changes: Mapping[str, Any], *, by: User) -> Campaign:
    """Apply ``changes`` (field names of CampaignInput) to ``campaign`` and save it
    (audited). A new due date makes the deadline event due again; a new parent or goal has
    the progress computed again. Raises CampaignError as campaign_create does, and for an
    unknown field.
    """
    _check_lead(by)
    unknown = sorted(set(changes) - set(CampaignInput.__dataclass_fields__))
    if unknown:
        raise CampaignError(
            f"These fields cannot be changed: {', '.join(unknown)}.", code="not_changeable"
        )
    campaign = (
        Campaign.objects.select_for_update()
        .select_related("parent", "framework")
        .get(pk=campaign.pk)
    )
    before = CampaignInput.of(campaign)
    data = _checked(before.changed(changes), campaign)
    _apply(campaign, data)
    if campaign.due != before.due:
        campaign.deadline_notified_at = None
    campaign.full_clean(exclude=["parent", "framework", "created_by"])
    campaign.save()
    goal = ("parent", "goal_kind", "goal_key", "goal_minimum", "framework")
    if any(getattr(before, name) != getattr(data, name) for name in goal):
        _changed_after_commit(campaign)
    return campaign


@transaction.atomic
def campaign_archive(campaign: Campaign, *, by: User, archived: bool = True) -> Campaign:
    """Archive a campaign (its progress is no longer kept up to date, it leaves the team
    reports and the menu; its page stays) or, ``archived`` False, make it active again
    (its progress is computed again). Raises CampaignError 403 for a non-lead."""
    _check_lead(by)
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if archived and campaign.archived_at is None:
        campaign.archived_at = timezone.now()
        campaign.save()
    elif not archived and campaign.archived_at is not None:
        campaign.archived_at = None
        campaign.save()
        _changed_after_commit(campaign)
    return campaign


def campaign_deadlines_notify(*, today: date | None = None) -> int:
    """Publish ``campaign.deadline_near`` once for each active campaign due within
    CAMPAIGN_DEADLINE_NEAR_DAYS (today included) that is not complete (some team does not
    meet the goal or is not yet assessed). Campaigns whose progress was never computed
    wait for it. Beat runs this daily; returns how many were published.
    """
    today = today or timezone.localdate()
    horizon = today + timedelta(days=settings.CAMPAIGN_DEADLINE_NEAR_DAYS)
    due = list(
        selectors.active_campaigns().filter(
            due__gte=today,
            due__lte=horizon,
            deadline_notified_at__isnull=True,
            progress_computed_at__isnull=False,
        )
    )
    counts = selectors.campaign_counts([c.pk for c in due], selectors.EVERYONE)
    published = 0
    for campaign in due:
        if counts[campaign.pk].complete:
            continue
        with transaction.atomic():
            claimed = Campaign.objects.filter(
                pk=campaign.pk, deadline_notified_at__isnull=True
            ).update(deadline_notified_at=timezone.now())
            if claimed:
                events.publish(
                    "campaign.deadline_near",
                    {"campaign": selectors.event_ref(campaign, counts[campaign.pk])},
                )
                published += 1
    return published
