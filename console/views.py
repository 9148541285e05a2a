"""The lead's console (/manage/): run the programme without Django's admin (issue 18).

For those who run the programme (surveys.selectors.runs_programme: admins and programme
leads); anyone else signed in gets 403.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from common.http import AuthenticatedHttpRequest
from console.forms import MembershipImportForm
from surveys.membership_import import COLUMNS, MembershipImport
from surveys.membership_import import memberships_import as run_import
from surveys.models import Membership, Team
from surveys.selectors import runs_programme

View = Callable[..., HttpResponse]


def lead_required(view: View) -> View:
    """Sign-in first (a redirect to the login page), then 403 for those who do not run
    the programme."""

    @login_required
    @wraps(view)
    def wrapper(request: AuthenticatedHttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if not runs_programme(request.user):
            raise PermissionDenied("The console is for those who run the programme.")
        return view(request, *args, **kwargs)

    return wrapper


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
    roots += [node for pk, node in nodes.items() if pk not in placed]
    return roots


@lead_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "console/home.html", {"tree": team_tree()})


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
    text = data if isinstance(data, str) else _text_of(data)
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
