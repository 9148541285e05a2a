"""The lead's console (/manage/): run the programme without Django's admin (issue 18).

For those who run the programme (surveys.selectors.runs_programme: admins and programme
leads); anyone else signed in gets 403.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.db.models import Count, F, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from campaigns import selectors as campaign_selectors
from campaigns import services as campaign_services
from campaigns.models import Campaign
from campaigns.services import CampaignError
from common.db import fits_primary_key
from common.http import AuthenticatedHttpRequest
from common.times import when
from console.forms import (
    CampaignForm,
    ExtendForm,
    MemberAddForm,
    MembershipImportForm,
    SurveyForm,
    TeamForm,
)
from maturity.models import Dimension, Framework, Question
from surveys import services
from surveys.decorators import lead_required
from surveys.membership_import import (
    COLUMNS,
    MembershipImport,
    MembershipRow,
    memberships_import_rows,
)
from surveys.membership_import import memberships_import as run_import
from surveys.models import Membership, Reminder, Response, Survey, Team
from surveys.selectors import participation, readable_team_ids
from surveys.services import SurveyError

if TYPE_CHECKING:
    from django.contrib.auth.models import User

View = Callable[..., HttpResponse]
MEMBERS_PER_PAGE = 100  # a team page stays small whatever the team's size


@dataclass
class TeamNode:
    """A team in the console's tree, with its member and manager counts and children."""

    team: Team
    members: int
    managers: int
    children: list[TeamNode] = field(default_factory=list)


def team_tree() -> list[TeamNode]:
    """Every team as a tree (roots first, each level by name), in one statement.

    A team whose parent chain loops (impossible through the console, which refuses such a
    move) would be unreachable from a root; it is shown as a root instead of hidden.
    """
    teams = Team.objects.annotate(
        member_count=Count("memberships"),
        manager_count=Count("memberships", filter=Q(memberships__role=Membership.Role.MANAGER)),
    ).order_by("name", "pk")
    nodes = {t.pk: TeamNode(t, t.member_count, t.manager_count) for t in teams}
    roots, placed = [], set()
    for node in nodes.values():
        parent = nodes.get(node.team.parent_id) if node.team.parent_id else None
        if parent is not None:
            parent.children.append(node)
        else:
            roots.append(node)
    stack = list(roots)
    while stack:
        node = stack.pop()
        placed.add(node.team.pk)
        stack.extend(node.children)
    stranded = [node for pk, node in nodes.items() if pk not in placed]
    for node in stranded:  # flat: their children would lead round the loop for ever
        node.children = []
    return roots + stranded


@lead_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "console/home.html", {"tree": team_tree(), "form": TeamForm()})


@lead_required
@require_POST
def team_new(request: HttpRequest) -> HttpResponse:
    """Create a team (name, slug, parent); the errors come back on the console's home."""
    form = TeamForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            team = services.team_save(
                team=Team(slug=data["slug"]),
                name=data["name"],
                parent=data["parent"],
                members_track_actions=data["members_track_actions"],
            )
        except SurveyError as error:
            form.add_error(error.field, error.message)
        except IntegrityError:  # the slug was taken meanwhile
            form.add_error("slug", f'A team already has the slug "{data["slug"]}".')
        else:
            messages.success(request, f'Team "{team.name}" created.')
            return redirect("console-team", slug=team.slug)
    context = {"tree": team_tree(), "form": form}
    return render(request, "console/home.html", context, status=400)


def _team_page(
    request: HttpRequest,
    team: Team,
    *,
    form: TeamForm | None = None,
    add_form: MemberAddForm | None = None,
    status: int = 200,
) -> HttpResponse:
    members = team.memberships.select_related("user").order_by("role", "user__username", "pk")
    page = Paginator(members, MEMBERS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "team": team,
        "form": form
        or TeamForm(
            team=team,
            initial={
                "name": team.name,
                "parent": team.parent,
                "members_track_actions": team.members_track_actions,
            },
        ),
        "add_form": add_form or MemberAddForm(),
        "memberships": page,
        "roles": Membership.Role.choices,
        "children": team.children.order_by("name"),
    }
    return render(request, "console/team.html", context, status=status)


@lead_required
def team_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """A team: rename or move it (POST), its members, archive."""
    team = get_object_or_404(Team.objects.select_related("parent"), slug=slug)
    if request.method != "POST":
        return _team_page(request, team)
    form = TeamForm(request.POST, team=team)
    if form.is_valid():
        try:
            services.team_save(
                team=team,
                name=form.cleaned_data["name"],
                parent=form.cleaned_data["parent"],
                members_track_actions=form.cleaned_data["members_track_actions"],
            )
        except SurveyError as error:
            form.add_error(error.field, error.message)
        else:
            messages.success(request, f'Team "{team.name}" saved.')
            return redirect("console-team", slug=team.slug)
    return _team_page(request, team, form=form, status=400)


@lead_required
@require_POST
def team_archive(request: HttpRequest, slug: str) -> HttpResponse:
    """Archive a team (``action=archive``) or bring it back (``action=unarchive``)."""
    team = get_object_or_404(Team, slug=slug)
    if request.POST.get("action") == "unarchive":
        services.team_unarchive(team=team)
        messages.success(request, f'Team "{team.name}" is active again.')
    else:
        services.team_archive(team=team)
        messages.success(
            request, f'Team "{team.name}" archived: it keeps its history and joins no new round.'
        )
    return redirect("console-team", slug=team.slug)


@lead_required
@require_POST
def team_member_add(request: HttpRequest, slug: str) -> HttpResponse:
    """Add a person to the team, with the membership import's checks (someone already in
    it is told to change the role in the table: adding never changes a role)."""
    team = get_object_or_404(Team.objects.select_related("parent"), slug=slug)
    if team.archived_at is not None:  # the form is not shown on an archived team
        messages.error(
            request, f'The team "{team.name}" is archived: make it active to add people.'
        )
        return redirect("console-team", slug=team.slug)
    form = MemberAddForm(request.POST)
    if form.is_valid():
        row = MembershipRow(1, form.cleaned_data["person"], team.slug, form.cleaned_data["role"])
        check = memberships_import_rows([row], dry_run=True)
        planned = check.rows[0] if check.rows else None
        if planned is not None and planned.action != "add":
            # Adding someone already in the team never changes their role by surprise.
            form.add_error(
                "person",
                f"{planned.email} is already {planned.previous_role} of {team.name}: "
                "change the role in the table above.",
            )
            return _team_page(request, team, add_form=form, status=400)
        outcome = memberships_import_rows([row])
        for error in outcome.errors:
            form.add_error("person" if error.column in ("", "email") else None, error.message)
        if outcome.applied:
            done = outcome.rows[0]
            messages.success(request, f"{done.email} added to {team.name} as {done.role}.")
            return redirect("console-team", slug=team.slug)
    return _team_page(request, team, add_form=form, status=400)


@lead_required
@require_POST
def team_member(request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
    """Change a member's role (``role``) or remove them (``action=remove``)."""
    membership = get_object_or_404(
        Membership.objects.select_related("user", "team"), pk=membership_id, team__slug=slug
    )
    name = membership.user.get_username()
    if request.POST.get("action") == "remove":
        services.membership_remove(membership=membership)
        messages.success(request, f"{name} removed from {membership.team.name}.")
    else:
        # This membership, by its id: a name could lead to another account with the address.
        role = request.POST.get("role", "")
        if role not in Membership.Role.values:
            messages.error(request, f'"{role}" is not a role: choose member or manager.')
        elif services.membership_role_set(membership=membership, role=role):
            messages.success(request, f"{name} is now {role} of {membership.team.name}.")
        else:
            messages.info(request, f"{name} was already {role} of {membership.team.name}.")
    return redirect("console-team", slug=slug)


@lead_required
def memberships_import(request: HttpRequest) -> HttpResponse:
    """Check a CSV of memberships and show what it would do; import it when confirmed.

    ``action=check`` (the default) only checks; ``action=apply`` imports the text shown in
    the preview (checked again: nothing is written if anything is wrong by then). The CSV
    stays in the form whatever happens, so a problem is fixed in place.
    """
    if request.method != "POST":
        return render(request, "console/memberships_import.html", _page(MembershipImportForm()))
    form = MembershipImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "console/memberships_import.html", _page(form), status=400)
    data = form.csv_data()
    apply = request.POST.get("action") == "apply"
    outcome = run_import(data, dry_run=not apply)
    if outcome.applied:
        counts = outcome.counts
        messages.success(
            request,
            f"Imported {_count(counts['rows'], 'row')}: "
            f"{_count(counts['added'], 'membership')} added, "
            f"{_count(counts['roles_changed'], 'role')} changed, {counts['unchanged']} unchanged, "
            f"{_count(counts['accounts_created'], 'account')} created.",
        )
        return redirect("console")
    text = data if isinstance(data, str) else _text_of(data) or form.cleaned_data.get("text", "")
    shown = MembershipImportForm(initial={"text": text})
    context = _page(shown, outcome=outcome, text=text)
    return render(
        request,
        "console/memberships_import.html",
        context,
        status=400 if outcome.errors else 200,
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _text_of(data: bytes) -> str:
    """The uploaded file as text to fix in the form ("" when it is not UTF-8 text)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return ""


def _page(
    form: MembershipImportForm, *, outcome: MembershipImport | None = None, text: str = ""
) -> dict[str, object]:
    return {"form": form, "outcome": outcome, "text": text, "columns": COLUMNS}


# --- survey rounds ---------------------------------------------------------------------------


@lead_required
def survey_list(request: HttpRequest) -> HttpResponse:
    """Every round, newest first, with its teams and counted responses."""
    surveys = (
        Survey.objects.select_related("framework")
        .annotate(
            team_count=Count("teams", distinct=True),
            submitted=Count(
                "responses",
                filter=Q(responses__status=Response.Status.SUBMITTED),
                distinct=True,
            ),
        )
        .order_by("-opens_at", "-id")
    )
    return render(request, "console/surveys.html", {"surveys": surveys})


@lead_required
def survey_new(request: HttpRequest) -> HttpResponse:
    """Create a round (a draft: it opens with "Open" on its page)."""
    if request.method != "POST":
        initial = {"opens_at": timezone.localtime().replace(second=0, microsecond=0)}
        return render(request, "console/survey_form.html", {"form": SurveyForm(initial=initial)})
    form = SurveyForm(request.POST)
    if form.is_valid():
        survey = _save(form, Survey())
        if survey is not None:
            messages.success(request, f'"{survey.title}" created as a draft. Open it when ready.')
            return redirect("console-survey", survey_id=survey.pk)
    return render(request, "console/survey_form.html", {"form": form}, status=400)


def _save(form: SurveyForm, survey: Survey) -> Survey | None:
    """Save the form through services.survey_save; its refusals become the form's errors."""
    try:
        return services.survey_save(survey=survey, changes=form.changes())
    except SurveyError as error:
        problems = error.details if isinstance(error.details, dict) else {None: [error.message]}
        for name, messages_of in problems.items():
            for message in messages_of:
                form.add_error(name if name in form.fields else None, message)
        return None


def _survey_page(
    request: HttpRequest,
    survey: Survey,
    *,
    form: SurveyForm | None = None,
    extend: ExtendForm | None = None,
    status: int = 200,
) -> HttpResponse:
    last = (
        survey.reminders.filter(kind=Reminder.Kind.MANUAL)
        .values("sent_at", "sent_by__username")
        .annotate(people=Count("id"))
        .order_by("-sent_at")
        .first()
    )
    context = {
        "survey": survey,
        # Programme leads read the reports of the teams they manage (admins: all).
        "reports": survey.status != "draft"
        and bool(readable_team_ids(cast("User", request.user), survey)),
        "last_reminder": last,
        "form": form or SurveyForm(survey=survey, initial=SurveyForm.initial_of(survey)),
        "extend": extend or ExtendForm(),
        "participation": participation(survey),
    }
    return render(request, "console/survey.html", context, status=status)


@lead_required
def survey_detail(request: HttpRequest, survey_id: int) -> HttpResponse:
    """A round: participation per team, open/close/extend, clone, and its settings (POST)."""
    survey = get_object_or_404(Survey.objects.select_related("framework"), pk=survey_id)
    if request.method != "POST":
        return _survey_page(request, survey)
    form = SurveyForm(request.POST, survey=survey)
    if form.is_valid() and _save(form, survey) is not None:
        messages.success(request, f'"{survey.title}" saved.')
        return redirect("console-survey", survey_id=survey.pk)
    survey.refresh_from_db()
    return _survey_page(request, survey, form=form, status=400)


@lead_required
@require_POST
def survey_status(request: HttpRequest, survey_id: int) -> HttpResponse:
    """``action``: ``open`` (a draft, or reopen a closed round), ``close`` (scores every
    team one final time), or ``extend`` (a new ``closes_at``, in the future)."""
    survey = get_object_or_404(Survey.objects.select_related("framework"), pk=survey_id)
    action = request.POST.get("action")
    try:
        if action == "open":
            had_end = survey.closes_at is not None
            services.survey_open(survey=survey)
            note = (
                " Its closing time had passed, so it has none now: extend it to set one."
                if had_end and survey.closes_at is None
                else ""
            )
            messages.success(request, f'"{survey.title}" is open for answers.{note}')
        elif action == "close":
            services.survey_close(survey=survey)
            messages.success(request, f'"{survey.title}" is closed; final scores are on their way.')
        elif action == "extend":
            extend = ExtendForm(request.POST)
            if not extend.is_valid():
                return _survey_page(request, survey, extend=extend, status=400)
            try:
                services.survey_extend(survey=survey, closes_at=extend.cleaned_data["closes_at"])
            except SurveyError as error:
                extend.add_error("closes_at", error.message)
                return _survey_page(request, survey, extend=extend, status=400)
            messages.success(request, f'"{survey.title}" now closes {when(survey.closes_at)}.')
        else:
            messages.error(request, "Choose open, close or extend.")
    except SurveyError as error:
        messages.error(request, error.message)
    return redirect("console-survey", survey_id=survey.pk)


@lead_required
@require_POST
def survey_clone(request: HttpRequest, survey_id: int) -> HttpResponse:
    """Start the next round from this one: its teams and settings, as a draft."""
    survey = get_object_or_404(Survey.objects.select_related("framework"), pk=survey_id)
    clone = services.survey_clone(survey=survey)
    messages.success(
        request, f'"{clone.title}" created from "{survey.title}": check it, then open it.'
    )
    return redirect("console-survey", survey_id=clone.pk)


@lead_required
@require_POST
def survey_remind(request: AuthenticatedHttpRequest, survey_id: int) -> HttpResponse:
    """Send a reminder now to everyone of the round's teams who has not submitted
    (services.reminders_send_now: at most once per survey per interval, each one logged)."""
    survey = get_object_or_404(Survey, pk=survey_id)
    try:
        sent = services.reminders_send_now(survey=survey, sent_by=request.user)
    except SurveyError as error:
        messages.error(request, error.message)
    else:
        people = "1 person" if sent == 1 else f"{sent} people"
        messages.success(request, f"Reminder sent to {people} who had not submitted.")
    return redirect("console-survey", survey_id=survey.pk)


# --- campaigns (issue 19) ----------------------------------------------------------------------


@lead_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    """Every campaign (active first, soonest due first) with its counts."""
    campaigns = list(
        Campaign.objects.select_related("parent", "framework").order_by(
            F("archived_at").desc(nulls_first=True), "due", "pk"
        )
    )
    counts = campaign_selectors.campaign_counts(
        [c.pk for c in campaigns], campaign_selectors.EVERYONE
    )
    goals = campaign_selectors.goals(campaigns)
    rows = [{"campaign": c, "goal": goals[c.pk], "counts": counts[c.pk]} for c in campaigns]
    return render(request, "console/campaigns.html", {"rows": rows})


def _key_options() -> list[str]:
    """Dimension and question keys of the published frameworks, for the key field's list."""
    frameworks = Framework.objects.filter(published=True)
    dimensions = Dimension.objects.filter(framework__in=frameworks).values_list("key", flat=True)
    questions = Question.objects.filter(framework__in=frameworks).values_list("key", flat=True)
    return sorted(set(dimensions) | set(questions))


def _campaign_form_page(
    request: HttpRequest, form: CampaignForm, campaign: Campaign | None, status: int = 200
) -> HttpResponse:
    context = {"form": form, "campaign": campaign, "keys": _key_options()}
    return render(request, "console/campaign_form.html", context, status=status)


def _campaign_save(
    request: AuthenticatedHttpRequest, form: CampaignForm, campaign: Campaign | None
) -> Campaign | None:
    """Create or change the campaign through the services; refusals become form errors."""
    assert form.resolved is not None  # noqa: S101 - the form is valid
    try:
        if campaign is None:
            return campaign_services.campaign_create(form.resolved, by=request.user)
        return campaign_services.campaign_update(
            campaign, form.resolved.as_changes(), by=request.user
        )
    except CampaignError as error:
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return None


@lead_required
def campaign_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Create a campaign; its progress is computed from the stored scores right after."""
    if request.method != "POST":
        initial = {"goal_kind": Campaign.GoalKind.DIMENSION}
        return _campaign_form_page(request, CampaignForm(initial=initial), None)
    form = CampaignForm(request.POST)
    if form.is_valid():
        campaign = _campaign_save(request, form, None)
        if campaign is not None:
            messages.success(
                request, f'Campaign "{campaign.title}" created; its progress is being computed.'
            )
            return redirect("campaign", campaign_id=campaign.pk)
    return _campaign_form_page(request, form, None, status=400)


@lead_required
def campaign_edit(request: AuthenticatedHttpRequest, campaign_id: int) -> HttpResponse:
    """A campaign's settings (POST saves them), and archiving."""
    if not fits_primary_key(Campaign, campaign_id):
        raise Http404("No such campaign.")
    campaign = get_object_or_404(
        Campaign.objects.select_related("parent", "framework"), pk=campaign_id
    )
    if request.method != "POST":
        form = CampaignForm(campaign=campaign, initial=CampaignForm.initial_of(campaign))
        return _campaign_form_page(request, form, campaign)
    form = CampaignForm(request.POST, campaign=campaign)
    if form.is_valid() and _campaign_save(request, form, campaign) is not None:
        messages.success(request, f'Campaign "{campaign.title}" saved.')
        return redirect("console-campaign", campaign_id=campaign.pk)
    return _campaign_form_page(request, form, campaign, status=400)


@lead_required
@require_POST
def campaign_archive(request: AuthenticatedHttpRequest, campaign_id: int) -> HttpResponse:
    """Archive a campaign (``action=archive``) or make it active again (``unarchive``)."""
    if not fits_primary_key(Campaign, campaign_id):
        raise Http404("No such campaign.")
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    archived = request.POST.get("action") != "unarchive"
    campaign_services.campaign_archive(campaign, by=request.user, archived=archived)
    messages.success(
        request,
        f'Campaign "{campaign.title}" archived.'
        if archived
        else f'Campaign "{campaign.title}" is active again; its progress is being computed.',
    )
    return redirect("console-campaign", campaign_id=campaign.pk)
