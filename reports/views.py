"""Manager reports: a team's report (page and PDF) and the organisation overview.

Pages read persisted snapshots only (reports.selectors); nothing is scored on a page view.
Teams a user may not read are 404, like everywhere else.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict

import orjson
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db.models import Exists, OuterRef, Q
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from actions import selectors as action_selectors
from actions import services as action_services
from actions.forms import ActionChangeForm, ActionForm
from actions.models import Action
from campaigns.selectors import reader_for, team_campaigns
from common.cache import FRAGMENT_KEY_PREFIX, cached_build, cached_page, version_digest
from common.http import AuthenticatedHttpRequest
from maturity.selectors import framework_scale
from reports import action_views, exports, selectors, services
from reports.charts import radar_svg
from reports.forms import OrgTableForm, TargetsForm
from reports.models import TeamScore
from surveys import selectors as survey_selectors
from surveys import services as survey_services
from surveys.models import Membership, Survey, Team

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def _surveys_of(team: Team, user: User, managed: set[int] | None) -> list[Survey]:
    """The rounds of ``team`` (not drafts) whose results ``user`` may read, newest first:
    those it takes, and those with a roll-up of it (a parent team that does not take the
    round; ``takes_part`` False).

    The same rule as surveys.selectors.readable_team_ids, for one team: admins and the
    team's managers (or managers above it) read every round; a member reads the rounds
    that let members see results. ``managed``: surveys.selectors.managed_team_ids(user).
    """
    takes_part = Survey.teams.through.objects.filter(survey=OuterRef("pk"), team=team)
    rolled_up = TeamScore.objects.filter(survey=OuterRef("pk"), team=team, is_rollup=True)
    surveys = (
        Survey.objects.annotate(takes_part=Exists(takes_part))
        .filter(Q(takes_part=True) | Exists(rolled_up))
        .exclude(status=Survey.Status.DRAFT)
        .select_related("framework")
        .order_by("-opens_at")
    )
    if managed is None or team.pk in managed:
        return list(surveys)
    if not Membership.objects.filter(user=user, team=team).exists():
        return []
    return list(surveys.filter(members_see_results=True))


def _id_of(text: str) -> int | None:
    """The id ``text`` (a query parameter) names; None when it names none: not plain ASCII
    digits, or more of them than an id has (Python refuses to read 4,301 digits or more
    as an int: a ValueError, a 500)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None  # noqa: PLR2004


def _resolve(
    request: AuthenticatedHttpRequest, slug: str, managed: set[int] | None
) -> tuple[Team, Survey, list[Survey]]:
    team = get_object_or_404(Team, slug=slug)
    surveys = _surveys_of(team, request.user, managed)
    if not surveys:
        raise Http404("No report for you here.")
    wanted = request.GET.get("survey", "")
    if wanted:
        chosen = _id_of(wanted)
        survey = next((s for s in surveys if s.pk == chosen), None)
        if survey is None:
            raise Http404("No such survey.")
    else:
        survey = surveys[0]
    return team, survey, surveys


def _can_set_targets(managed: set[int] | None, team: Team) -> bool:
    """Admins and the team's managers (or managers above it) set its targets."""
    return managed is None or team.pk in managed


class TeamReportBody(TypedDict):
    """A rendered team report body, as cached: its HTML, whether the team's results are
    withheld, and the targets form's fields (shown to those who may set targets)."""

    html: str
    withheld: bool
    targets_html: str


def team_report_body(
    survey: Survey, team: Team, *, rollup: bool = False
) -> tuple[TeamReportBody, str]:
    """Return the team report's body for ``team`` in ``survey``, rendered once per version,
    and the digest of that version (fragments built from the same data key on it).

    The body (everything but the page around it and the targets form, which carry the
    reader's CSRF token) depends on no reader: anyone who may read the team reads the same
    report. It is cached under selectors.team_report_version and the time zone it is
    shown in, so a page view costs that version's one statement and a cache read.
    """
    version = selectors.team_report_version(survey, team, rollup=rollup)

    def build() -> TeamReportBody:
        report = selectors.team_report(survey, team, services.current_figures(survey))
        chart = report.chart_data()
        html = render_to_string(
            "reports/_team_body.html",
            {
                "report": report,
                "chart": chart,
                "radar_svg": mark_safe(radar_svg(chart)),  # noqa: S308 - escaped inside
            },
        )
        targets_html = ""
        if not report.withheld:
            current = dict(team.targets.values_list("dimension_key", "target_level"))
            form = TargetsForm(
                dimensions=[row.dimension for row in report.dimensions],
                levels=report.levels,
                initial={
                    f"target-{r.dimension.key}": current.get(r.dimension.key)
                    for r in report.dimensions
                },
            )
            targets_html = render_to_string("reports/_targets_fields.html", {"form": form})
        return {"html": html, "withheld": report.withheld, "targets_html": targets_html}

    digest = version_digest("team-report", timezone.get_current_timezone_name(), *version)
    return cached_build(f"{FRAGMENT_KEY_PREFIX}{digest}", build), digest


def resolve_team_round(
    request: AuthenticatedHttpRequest, slug: str
) -> tuple[set[int] | None, Team, Survey, list[Survey]]:
    """The reader's managed teams, the team of ``slug``, the round asked for (``?survey=``,
    else the newest) and every round of the team the reader may read; 404 otherwise."""
    managed = survey_selectors.managed_team_ids(request.user)
    team, survey, surveys = _resolve(request, slug, managed)
    return managed, team, survey, surveys


def team_report_page(
    request: AuthenticatedHttpRequest,
    managed: set[int] | None,
    team: Team,
    survey: Survey,
    surveys: list[Survey],
    *,
    action_form: ActionForm | None = None,
    action_change: tuple[int, ActionChangeForm] | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render the team report page: the cached body (team_report_body), and around it the
    reader's parts: downloads, targets, the Actions section (with ``action_form`` or
    ``action_change`` shown again with their errors, answered with ``status``)."""
    takes_part = getattr(survey, "takes_part", True)
    body, version = team_report_body(survey, team, rollup=not takes_part)
    can_set_targets = _can_set_targets(managed, team) and not body["withheld"]
    return render(
        request,
        "reports/team.html",
        {
            "team": team,
            "survey": survey,
            "surveys": surveys,
            "downloads": can_set_targets and takes_part,
            "body": mark_safe(body["html"]),  # noqa: S308 - a rendered template
            "targets_fields": (
                mark_safe(body["targets_html"]) if can_set_targets else None  # noqa: S308
            ),
            "actions": action_views.actions_section(
                request,
                team,
                survey,
                managed=managed,
                version=version,
                form=action_form,
                change=action_change,
            ),
            # Outside the cached body: the campaigns covering the team, as the reader sees them.
            "campaigns": team_campaigns(team, reader_for(request.user, managed)),
        },
        status=status,
    )


# The query parameters each page cached whole reads (the round; the new action form's step;
# the organisation table's query, OrgTableForm): any other query is built, not cached.
TEAM_REPORT_READS = frozenset({"survey", "question"})
ORG_REPORT_READS = frozenset({"survey", "sort", "dir", "parent", "level", "dimension", "page"})


def _whole_page(
    request: AuthenticatedHttpRequest,
    build: Callable[[], HttpResponse],
    reads: frozenset[str],
) -> HttpResponse:
    """A report page cached whole per reader while nothing is written (common.cache.cached_page),
    renewed at least every selectors.OPEN_ROUND_RENEWAL seconds (open rounds judge evidence
    by the time). ``reads``: the query parameters the page reads."""
    return cached_page(
        request, build, int(time.time()) // selectors.OPEN_ROUND_RENEWAL, reads=reads
    )


@login_required
def team_report(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    def build() -> HttpResponse:
        managed, team, survey, surveys = resolve_team_round(request, slug)
        return team_report_page(request, managed, team, survey, surveys)

    return _whole_page(request, build, TEAM_REPORT_READS)


def _owner(team: Team, raw: str) -> User | None:
    if not raw:
        return None
    return get_user_model().objects.filter(pk=int(raw), memberships__team=team).first()


def _back(team: Team, survey: Survey, anchor: str) -> HttpResponse:
    return redirect(f"/reports/teams/{team.slug}/?survey={survey.pk}#{anchor}")


@login_required
@require_POST
def team_action_create(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """Create an action of the team from the report's form (then back to the report)."""
    managed, team, survey, surveys = resolve_team_round(request, slug)
    if not action_selectors.can_track_actions(request.user, team):
        raise Http404("No such page.")
    form = ActionForm(
        request.POST,
        questions=action_views.questions_of(survey, team),
        members=action_views.members_of(team),
    )
    if form.is_valid():
        data = form.cleaned_data
        try:
            action = action_services.action_create(
                action_services.ActionInput(
                    team=team,
                    survey=survey,
                    question_key=data["question"],
                    owner=_owner(team, data["owner"]),
                    due=data["due"],
                    title=data["title"],
                    notes=data["notes"],
                    external_url=data["external_url"],
                ),
                by=request.user,
            )
        except action_services.ActionError as error:
            form.add_error(_form_field(error.field, form), error.message)
        else:
            messages.success(request, f"Action “{action.title}” created.")
            return _back(team, survey, f"action-{action.pk}")
    return team_report_page(request, managed, team, survey, surveys, action_form=form, status=400)


def _form_field(name: str | None, form: ActionForm | ActionChangeForm) -> str | None:
    """The form field an ActionError names, when the form has it (else a form error)."""
    return name if name in form.fields else None


@login_required
@require_POST
def team_action_change(request: AuthenticatedHttpRequest, slug: str, pk: int) -> HttpResponse:
    """Change an action from the report's form (then back to the report)."""
    managed, team, survey, surveys = resolve_team_round(request, slug)
    action = get_object_or_404(Action, pk=pk, team=team)
    if not action_selectors.can_change_action(request.user, action):
        raise Http404("No such action.")
    can_track = action_selectors.can_track_actions(request.user, team)
    form = ActionChangeForm(
        request.POST,
        members=action_views.owner_choices(action, action_views.members_of(team)),
        with_owner=can_track,
        prefix=f"a{action.pk}",
    )
    if form.is_valid():
        data = form.cleaned_data
        changes: dict[str, Any] = {
            "status": data["status"],
            "wont_do_reason": data["wont_do_reason"],
            "due": data["due"],
            "notes": data["notes"],
            "external_url": data["external_url"],
        }
        # The owner only when another was chosen: the current one may be offered though
        # no longer an active member (action_views.owner_choices), and is kept as is.
        if can_track and data["owner"] != str(action.owner_id or ""):
            changes["owner"] = _owner(team, data["owner"])
        try:
            action_services.action_update(action, changes, by=request.user)
        except action_services.ActionError as error:
            form.add_error(_form_field(error.field, form), error.message)
        else:
            messages.success(request, f"Action “{action.title}” saved.")
            return _back(team, survey, f"action-{action.pk}")
    return team_report_page(
        request, managed, team, survey, surveys, action_change=(action.pk, form), status=400
    )


@login_required
@require_POST
def team_targets(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    managed = survey_selectors.managed_team_ids(request.user)
    team, survey, _ = _resolve(request, slug, managed)
    if not _can_set_targets(managed, team):
        raise Http404("No report for you here.")
    dimensions = list(survey.framework.dimensions.order_by("order"))
    form = TargetsForm(
        request.POST, dimensions=dimensions, levels=list(survey.framework.levels.all())
    )
    if not form.is_valid():
        messages.error(request, "Choose one of the offered levels for each target.")
        return redirect(f"/reports/teams/{team.slug}/?survey={survey.pk}#targets")
    current = dict(team.targets.values_list("dimension_key", "target_level"))
    for dimension in dimensions:
        level = form.cleaned_data[f"target-{dimension.key}"]
        if level != current.get(dimension.key):
            survey_services.target_set(
                team=team, dimension_key=dimension.key, target_level=level, set_by=request.user
            )
    messages.success(request, "Targets saved. The roadmap is re-ranked in the background.")
    return redirect(f"/reports/teams/{team.slug}/?survey={survey.pk}#targets")


@login_required
def team_report_pdf(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """Render the team report as an A4 PDF (WeasyPrint), charts as server-side SVG."""
    from weasyprint import HTML

    team, survey, _ = _resolve(request, slug, survey_selectors.managed_team_ids(request.user))
    report = selectors.team_report(survey, team, services.current_figures(survey))
    html = render_to_string(
        "reports/team_pdf.html",
        {"report": report, "radar_svg": mark_safe(radar_svg(report.chart_data()))},  # noqa: S308
        request=request,
    )
    pdf = HTML(string=html, base_url=request.build_absolute_uri("/")).write_pdf()
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="maturity-{team.slug}-survey-{survey.pk}.pdf"'
    )
    return response


# What a team's managers download from its report: scores in every round, answers only in
# named rounds (an anonymous round's answers stay with the admins' audited exports).
MANAGER_EXPORT_FORMATS = ("csv", "xlsx")


@login_required
def team_export(
    request: AuthenticatedHttpRequest, slug: str, kind: str, fmt: str
) -> HttpResponseBase:
    """A team's scores (or, in named rounds, answers) of one round as CSV or XLSX, for its
    managers (and managers above it, and admins): the admins' export (reports.exports) for
    one team, under the same rules (withheld teams have no rows), recorded in the export
    audit log (via "web"). Others get 404, like the report itself."""
    managed = survey_selectors.managed_team_ids(request.user)
    team, survey, _ = _resolve(request, slug, managed)
    if not getattr(survey, "takes_part", True):  # a roll-up: its teams' own downloads
        raise Http404("No such download.")
    if not _can_set_targets(managed, team) or fmt not in MANAGER_EXPORT_FORMATS:
        raise Http404("No such download.")
    if kind not in ("scores", "answers") or (kind == "answers" and survey.anonymous):
        raise Http404("No such download.")
    export_request = exports.ExportRequest(kind=kind, survey=survey, team=team, format=fmt)
    if exports.export_rows_upper_bound(export_request) > settings.EXPORT_SYNC_MAX_ROWS:
        messages.error(request, "This download is too large for the page: ask an admin.")
        return redirect(f"/reports/teams/{team.slug}/?survey={survey.pk}")
    export = exports.export_start(export_request, user=request.user, via="web")
    response = StreamingHttpResponse(export.stream(), content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export_request.filename()}"'
    return response


@login_required
def team_ml_test_score(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """The team's round read as Google's ML Test Score: who may read the team report may
    read this, and a withheld team shows nothing here either."""
    managed = survey_selectors.managed_team_ids(request.user)
    team, survey, surveys = _resolve(request, slug, managed)
    return render(
        request,
        "reports/ml_test_score.html",
        {"mlts": selectors.team_ml_test_score(survey, team), "surveys": surveys},
    )


def _org_surveys(user: User, managed: set[int] | None) -> dict[Survey, set[int] | None]:
    """The rounds whose organisation report ``user`` may read, newest first, each with
    the teams of it ``user`` may read (None: all, for admins)."""
    surveys = (
        survey_selectors.readable_surveys(user, managed)
        .exclude(status="draft")
        .select_related("framework")
        .order_by("-opens_at")
    )
    if user.is_staff:  # every round with a team (EXISTS: a join and DISTINCT over every
        # team of every round cost 8 ms at 1,000 teams)
        with_teams = Survey.teams.through.objects.filter(survey=OuterRef("pk"))
        return dict.fromkeys(surveys.filter(Exists(with_teams)))
    readable = {s: survey_selectors.readable_team_ids(user, s, managed) for s in surveys}
    return {survey: teams for survey, teams in readable.items() if teams}


class OrgSurvey(NamedTuple):
    """The round an organisation page shows, the reader's teams in it (None: all), and
    every round the reader may choose from, newest first."""

    survey: Survey | None
    readable: set[int] | None
    surveys: list[Survey]


def _org_survey(request: AuthenticatedHttpRequest, managed: set[int] | None) -> OrgSurvey:
    readable = _org_surveys(request.user, managed)
    surveys = list(readable)
    if not surveys:
        return OrgSurvey(None, None, [])
    wanted = request.GET.get("survey", "")
    chosen = _id_of(wanted)
    survey = next((s for s in surveys if s.pk == chosen), None)
    if wanted and survey is None:
        raise Http404("No such survey.")
    survey = survey or surveys[0]
    return OrgSurvey(survey, readable[survey], surveys)


def _org_query(
    request: AuthenticatedHttpRequest, survey: Survey
) -> tuple[selectors.OrgQuery, OrgTableForm]:
    """Read the organisation table's query string; an invalid one shows the default table
    (the form carries the errors)."""
    scale = framework_scale(survey.framework)
    dimensions = list(scale.dimensions)
    sorts = [(key, key) for key in selectors.ORG_SORTS] + [(d.key, d.name) for d in dimensions]
    form = OrgTableForm(request.GET, sorts=sorts, dimensions=dimensions, levels=list(scale.levels))
    if not form.is_valid():
        return selectors.OrgQuery(), form
    data = form.cleaned_data
    sort = data["sort"] or "name"
    return (
        selectors.OrgQuery(
            sort=sort,
            descending=(data["dir"] or ("asc" if sort == "name" else "desc")) == "desc",
            parent=data["parent"],
            level=data["level"],
            dimension=next((d for d in dimensions if d.key == data["dimension"]), None),
            page=data["page"] or 1,
        ),
        form,
    )


def _org_version(
    survey: Survey,
    readable: set[int] | None,
    query: selectors.OrgQuery,
    managed: set[int] | None,
) -> tuple[object, ...]:
    """The version of what the organisation page of ``survey`` shows a reader of the teams
    ``readable`` (None: all) for ``query``: the survey's (selectors.org_report_version), the
    reader's teams, the query and the time zone."""
    return (
        *selectors.org_report_version(survey),
        tuple(sorted(readable)) if readable is not None else None,
        tuple(sorted(managed)) if managed is not None else None,
        query.sort,
        query.descending,
        query.parent.pk if query.parent else None,
        query.level,
        query.dimension.pk if query.dimension else None,
        query.page,
        timezone.get_current_timezone_name(),
    )


@login_required
def org_report(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The organisation overview: roll-ups, one page of teams (sorted and filtered in the
    query string), the heatmap (drawn from org_heatmap), evidence calibration and levels.

    The body is rendered once per version (_org_version) and cached; an invalid query
    string answers 400 with the errors above the unfiltered table.
    """
    return _whole_page(request, lambda: _org_report_page(request), ORG_REPORT_READS)


def _org_report_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    managed = survey_selectors.managed_team_ids(request.user)
    survey, readable, surveys = _org_survey(request, managed)
    if survey is None:
        return render(request, "reports/org.html", {"report": None, "surveys": []})
    query, form = _org_query(request, survey)

    def build() -> str:
        report = selectors.org_report(survey, request.user, query, services.current_figures(survey))
        params = request.GET.copy()
        for name in ("page", "sort", "dir", "parent", "level", "dimension"):
            if name in form.errors:
                params.pop(name, None)
        return render_to_string(
            "reports/_org_body.html",
            {"report": report, "params": params, "form": form, "user": request.user},
        )

    digest = version_digest("org-report", *_org_version(survey, readable, query, managed))
    body = cached_build(f"{FRAGMENT_KEY_PREFIX}{digest}", build)
    return render(
        request,
        "reports/org.html",
        {
            "survey": survey,
            "report": True,
            "surveys": surveys,
            "form": form,
            "body": mark_safe(body),  # noqa: S308 - a rendered template
            "action_counts": action_views.action_counts(
                action_selectors.visible_actions(request.user)
            ),
        },
        status=400 if form.errors else 200,
    )


@login_required
def org_heatmap(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The organisation heatmap's data (selectors.org_heatmap) for the page's query string:
    every team it matches, not one page; cached under the page's version."""
    return _whole_page(request, lambda: _org_heatmap_data(request), ORG_REPORT_READS)


def _org_heatmap_data(request: AuthenticatedHttpRequest) -> HttpResponse:
    managed = survey_selectors.managed_team_ids(request.user)
    survey, readable, _ = _org_survey(request, managed)
    if survey is None:
        raise Http404("No results you can see yet.")
    query, form = _org_query(request, survey)
    if form.errors:
        return JsonResponse({"errors": form.errors.get_json_data()}, status=400)
    digest = version_digest("org-heatmap", *_org_version(survey, readable, query, managed))
    body = cached_build(
        f"{FRAGMENT_KEY_PREFIX}{digest}",
        lambda: orjson.dumps(selectors.org_heatmap(survey, request.user, query)),
    )
    return HttpResponse(
        body, content_type="application/json", headers={"Cache-Control": "private, no-cache"}
    )


@staff_member_required
def question_health(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Admins: a round's question health as the worker stored it, flagged questions first."""
    surveys = list(
        Survey.objects.exclude(status=Survey.Status.DRAFT)
        .select_related("framework")
        .order_by("-opens_at", "-id")
    )
    if not surveys:
        return render(request, "reports/question_health.html", {"report": None, "surveys": []})
    wanted = request.GET.get("survey", "")
    chosen = _id_of(wanted)
    survey = next((s for s in surveys if s.pk == chosen), None)
    if wanted and survey is None:
        raise Http404("No such survey.")
    report = selectors.question_health(survey or surveys[0])
    return render(
        request,
        "reports/question_health.html",
        {"report": report, "surveys": surveys, "flags": selectors.health_flags()},
    )
