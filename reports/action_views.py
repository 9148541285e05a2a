"""Improvement actions on the reports: the team report's Actions section (create from the
roadmap, change status, owner, due date, notes, link) and the organisation's list of
actions with overdue ones first.

Forms post here and come back to the report; a form with errors is shown again on the
report, filled in as sent, with a 400. Rules live in actions.services (the API's too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Case, Count, Q, When
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from actions import selectors as action_selectors
from actions.forms import ActionChangeForm, ActionForm, Choices
from actions.models import Action
from common.cache import FRAGMENT_KEY_PREFIX, cached_build, version_digest
from common.http import AuthenticatedHttpRequest
from common.text import storable
from maturity.models import Question
from reports.models import TeamRecommendation
from surveys.models import Membership, Survey, Team
from trackers import selectors as tracker_selectors
from trackers.models import TrackerConnection, TrackerLink

if TYPE_CHECKING:
    pass


@dataclass
class ActionRow:
    """An action as the report lists it, with its change form when the reader may change
    it."""

    action: Action
    overdue: bool
    change_form: ActionChangeForm | None = None
    link: TrackerLink | None = None  # the issue it was pushed as (trackers)


@dataclass
class ActionsSection:
    """The team report's Actions section: the team's actions (every round's), and the new
    action form for those who may track actions."""

    rows: list[ActionRow] = field(default_factory=list)
    form_html: SafeString | None = None  # the new action form's fields, for those who track actions
    form_open: bool = False  # shown open: it has errors, or a roadmap step was picked
    tracker: TrackerConnection | None = None  # where those who may change them push them


def members_of(team: Team) -> Choices:
    people = (
        Membership.objects.filter(team=team, user__is_active=True)
        .select_related("user")
        .order_by("user__username")
    )
    return [(str(m.user_id), m.user.get_full_name() or m.user.get_username()) for m in people]


def owner_choices(action: Action, members: Choices) -> Choices:
    """``members`` (the team's active members), and the action's owner when they are no
    longer among them (deactivated, or gone from the team): the change form must show
    who owns the action, or saving any other change would silently drop the owner."""
    owner = action.owner
    if owner is None or any(value == str(owner.pk) for value, _ in members):
        return members
    name = owner.get_full_name() or owner.get_username()
    return [*members, (str(owner.pk), f"{name} (no longer an active member)")]


def questions_of(survey: Survey, team: Team) -> Choices:
    """The round's roadmap steps first (by rank), then every other question of the
    round's framework: choices grouped for a <select>."""
    steps = (
        TeamRecommendation.objects.filter(
            team_score__survey=survey, team_score__team=team, team_score__is_rollup=False
        )
        .select_related("question")
        .order_by("rank")
    )
    roadmap = [(s.question.key, f"#{s.rank} {s.text[:120]}") for s in steps]
    on_roadmap = {key for key, _ in roadmap}
    others = [
        (q.key, q.text[:120])
        for q in Question.objects.filter(framework=survey.framework_id).order_by("order")
        if q.key not in on_roadmap
    ]
    return [("Roadmap", roadmap), ("Other questions", others)] if roadmap else others


def _takes_part(survey: Survey, team: Team) -> bool:
    """Whether ``team`` takes ``survey`` (a roll-up's parent does not): the annotation the
    report's round lookup reads with the round (reports.views._surveys_of), else asked."""
    known: bool | None = getattr(survey, "takes_part", None)
    return known if known is not None else survey.teams.filter(pk=team.pk).exists()


def _new_action_form(
    request: AuthenticatedHttpRequest, team: Team, survey: Survey, members: Choices, version: str
) -> str:
    """The new action form's fields, rendered once per team report version (``version``:
    the digest of the body it sits under, which holds the round's roadmap and framework),
    the team's members (names included) and the step picked (``?question=``): the
    question list is every question of the framework, and rendering it on each view cost
    more than the rest of the page (BENCHMARKS.md, "Report pages")."""
    picked = request.GET.get("question", "")

    def build() -> str:
        form = ActionForm(
            questions=questions_of(survey, team), members=members, initial={"question": picked}
        )
        return str(form.as_div())

    digest = version_digest("new-action", version, members, picked)
    return cached_build(f"{FRAGMENT_KEY_PREFIX}{digest}", build)


def actions_section(  # noqa: PLR0913 - the report's parts, all keyword-only
    request: AuthenticatedHttpRequest,
    team: Team,
    survey: Survey,
    *,
    managed: set[int] | None,
    version: str,
    form: ActionForm | None = None,
    change: tuple[int, ActionChangeForm] | None = None,
) -> ActionsSection:
    """The Actions section of ``team``'s report in ``survey`` for the reader: every
    action of the team, overdue ones marked; forms for those who may use them (``form``
    and ``change``: bound forms to show again with their errors). ``managed``:
    managed_team_ids(reader); ``version``: the digest of the report body it sits under."""
    user = request.user
    can_track = action_selectors.can_track_actions(user, team, managed)
    today = timezone.localdate()
    members = members_of(team) if can_track else []
    rows = []
    for action in action_selectors.team_actions(team):
        row = ActionRow(action, action.is_overdue(today))
        if change is not None and change[0] == action.pk:
            row.change_form = change[1]
        elif can_track or action.owner_id == user.pk:
            row.change_form = ActionChangeForm(
                members=owner_choices(action, members) if can_track else [],
                with_owner=can_track,
                prefix=f"a{action.pk}",
                initial={
                    "status": action.status,
                    "wont_do_reason": action.wont_do_reason,
                    "owner": str(action.owner_id or ""),
                    "due": action.due,
                    "notes": action.notes,
                    "external_url": action.external_url,
                },
            )
        rows.append(row)
    links = tracker_selectors.links_for(row.action.pk for row in rows)
    for row in rows:
        row.link = links.get(row.action.pk)
    form_html = None
    if can_track and form is not None:
        form_html = form.as_div()
    elif can_track and _takes_part(survey, team):
        # A rendered form (fields escaped by Django's widgets), cached as text.
        form_html = mark_safe(_new_action_form(request, team, survey, members, version))  # noqa: S308
    changeable = any(row.change_form is not None for row in rows)
    return ActionsSection(
        rows=rows,
        form_html=form_html,
        form_open=bool(form is not None and form.errors) or bool(request.GET.get("question")),
        tracker=tracker_selectors.connection_for(team) if changeable else None,
    )


# The organisation's actions: what a reader may read, 50 to a page.
ORG_ACTIONS_PAGE = 50


@dataclass(frozen=True)
class ActionCounts:
    """How the actions a reader sees stand: by status, overdue, and how done ones fared
    in later rounds (``verified_share``: verified over those checked, in percent)."""

    total: int
    open: int
    in_progress: int
    done: int
    wont_do: int
    overdue: int
    verified: int
    not_reflected: int

    @property
    def verified_share(self) -> int | None:
        checked = self.verified + self.not_reflected
        return round(100 * self.verified / checked) if checked else None


def action_counts(actions: Any) -> ActionCounts:
    """Count ``actions`` (a queryset of Action) in one statement."""
    status, verification = Action.Status, Action.Verification
    figures = actions.aggregate(
        total=Count("pk"),
        open=Count("pk", filter=Q(status=status.OPEN)),
        in_progress=Count("pk", filter=Q(status=status.IN_PROGRESS)),
        done=Count("pk", filter=Q(status=status.DONE)),
        wont_do=Count("pk", filter=Q(status=status.WONT_DO)),
        overdue=Count("pk", filter=action_selectors.overdue_q()),
        verified=Count("pk", filter=Q(status=status.DONE, verification=verification.VERIFIED)),
        not_reflected=Count(
            "pk", filter=Q(status=status.DONE, verification=verification.NOT_REFLECTED)
        ),
    )
    return ActionCounts(**figures)


@login_required
def org_actions(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Every action the reader may read (admins: all; managers: their teams and those
    below; members: their teams'), overdue first, filterable by status, team and
    overdue, with the counts and the share of done actions verified by a later round."""
    visible = action_selectors.visible_actions(request.user)
    counts = action_counts(visible)
    shown = visible
    wanted_status = request.GET.get("status", "")
    if wanted_status in Action.Status.values:
        shown = shown.filter(status=wanted_status)
    team_slug = request.GET.get("team", "")
    if not storable(team_slug):
        team_slug = ""
    if team_slug:
        shown = shown.filter(team__slug=team_slug[:64])
    overdue = action_selectors.overdue_q()
    if request.GET.get("overdue") == "1":
        shown = shown.filter(overdue)
    today = timezone.localdate()
    ordered = shown.annotate(late=Case(When(overdue, then=0), default=1)).order_by(
        "late", "due", "pk"
    )
    page = Paginator(ordered, ORG_ACTIONS_PAGE).get_page(request.GET.get("page"))
    rows = [ActionRow(action, action.is_overdue(today)) for action in page.object_list]
    teams = Team.objects.filter(pk__in=visible.values("team_id")).order_by("name")
    return render(
        request,
        "reports/actions.html",
        {
            "counts": counts,
            "rows": rows,
            "page": page,
            "teams": teams,
            "statuses": Action.Status.choices,
            "wanted": {
                "status": wanted_status,
                "team": team_slug,
                "overdue": request.GET.get("overdue") == "1",
            },
        },
    )
