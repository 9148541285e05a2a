"""Campaign pages: the list (/campaigns/) and a campaign (/campaigns/<id>/), for everyone
who may read a campaign (campaigns.selectors: admins and programme leads all, managers and
members the campaigns covering their teams, with those teams only).

Pages read the stored progress (campaigns.models); nothing is computed on a page view. A
campaign you may not read is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render

from campaigns import selectors
from campaigns.models import Campaign
from common.db import fits_primary_key
from common.http import AuthenticatedHttpRequest
from reports.forms import CampaignTableForm
from surveys.selectors import runs_programme

ROWS_PER_PAGE = 100
# Sort order of statuses: the teams to chase first.
STATUS_ORDER = {
    "not_meeting": 0,
    "not_assessed": 1,
    "withheld": 2,
    selectors.NOT_SHARED: 3,
    "meeting": 4,
}


@dataclass(frozen=True)
class ListEntry:
    """A campaign on the list: its goal in words and its counts over the reader's teams."""

    campaign: Campaign
    goal: selectors.Goal
    counts: selectors.Counts


@login_required
def campaign_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Active campaigns the reader may read, soonest due first, with their counts over the
    reader's teams; archived ones below. Four statements."""
    reader = selectors.reader_for(request.user)
    campaigns = list(selectors.visible_campaigns(reader).order_by("due", "pk"))
    counts = selectors.campaign_counts([c.pk for c in campaigns], reader)
    goals = selectors.goals(campaigns)
    entries = [ListEntry(c, goals[c.pk], counts[c.pk]) for c in campaigns]
    return render(
        request,
        "reports/campaigns.html",
        {
            "active": [e for e in entries if e.campaign.archived_at is None],
            "archived": [e for e in entries if e.campaign.archived_at is not None],
            "manages": runs_programme(request.user),
        },
    )


def _sorted(rows: list[selectors.TeamRow], sort: str, descending: bool) -> list[selectors.TeamRow]:
    def key(row: selectors.TeamRow) -> tuple[Any, ...]:
        name = row.team_name.casefold()
        if sort == "status":
            return (STATUS_ORDER.get(row.status, 9), name)
        if sort in ("value", "gap"):
            number = getattr(row, sort)
            # Teams without a number sort last whichever the direction.
            return (
                number is None,
                -number if descending and number is not None else number or 0,
                name,
            )
        return (name,)

    ordered = sorted(rows, key=key)
    if descending and sort in ("team", "status"):
        ordered.reverse()
    return ordered


def _next_directions(sort: str, descending: bool) -> dict[str, str]:
    """The direction each column's header sorts by when clicked: the other one for the
    current column; names A-Z, numbers highest first, statuses the teams to chase first."""
    defaults = {"team": "asc", "status": "asc", "value": "desc", "gap": "desc"}
    current = "desc" if descending else "asc"
    return {
        key: ("asc" if current == "desc" else "desc") if key == sort else default
        for key, default in defaults.items()
    }


def _chart(points: list[selectors.BurnupPoint]) -> dict[str, list[Any]]:
    """The burn-up's data for static/js/report.js (and the table beside it)."""
    return {
        "rounds": [point.survey.title for point in points],
        "dates": [selectors.round_end(point.survey).date().isoformat() for point in points],
        "meeting": [point.meeting for point in points],
        "total": [point.total for point in points],
    }


@login_required
def campaign_detail(request: AuthenticatedHttpRequest, campaign_id: int) -> HttpResponse:
    """A campaign: its goal, due date, counts, burn-up and team table (filtered, sorted and
    paged by the query string; an invalid one answers 400 with the errors above the
    default table)."""
    if not fits_primary_key(Campaign, campaign_id):
        raise Http404("No such campaign.")
    reader = selectors.reader_for(request.user)
    campaign = get_object_or_404(selectors.visible_campaigns(reader), pk=campaign_id)
    rows = selectors.team_rows(campaign, reader)
    counts = selectors.count_statuses(row.status for row in rows)
    statuses = sorted(selectors.STATUS_LABELS, key=lambda status: STATUS_ORDER.get(status, 9))
    form = CampaignTableForm(
        request.GET, statuses=[(s, selectors.STATUS_LABELS[s]) for s in statuses]
    )
    data = form.cleaned_data if form.is_valid() else {}
    shown = rows
    if data.get("status"):
        shown = [row for row in shown if row.status == data["status"]]
    if data.get("q"):
        shown = [row for row in shown if data["q"].casefold() in row.team_name.casefold()]
    sort = data.get("sort") or "team"
    descending = data.get("dir") == "desc"
    page = Paginator(_sorted(shown, sort, descending), ROWS_PER_PAGE).get_page(data.get("page"))
    points = selectors.burnup(campaign, reader)
    params = request.GET.copy()
    for name in form.errors:
        params.pop(name, None)
    context = {
        "campaign": campaign,
        "goal": selectors.goals([campaign])[campaign.pk],
        "counts": counts,
        "page": page,
        "form": form,
        "query": data,
        "params": params,
        "sort": sort,
        "descending": descending,
        "points": points,
        "burnup_rows": [(point, selectors.round_end(point.survey)) for point in points],
        "chart": _chart(points),
        "next_dir": _next_directions(sort, descending),
        "linkable": _linkable(request, reader),
        "manages": runs_programme(request.user),
    }
    return render(request, "reports/campaign.html", context, status=400 if form.errors else 200)


def _linkable(request: AuthenticatedHttpRequest, reader: selectors.Reader) -> frozenset[int] | None:
    """The teams whose report the reader may open from the table (None: every team)."""
    if request.user.is_staff:
        return None
    return reader.full | reader.member
