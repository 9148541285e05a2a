"""Who may see and change a team's improvement actions, and the actions they see.

- Read: admins; the team's managers (and managers above it); its members.
- Create and change: admins and the team's managers; members too when the team allows it
  (``Team.members_track_actions``); an action's owner may always change it, but not
  give it to someone else.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from actions.models import Action
from surveys.models import Membership, Team
from surveys.selectors import LOOK_UP, managed_team_ids

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


def readable_team_ids(user: User) -> set[int] | None:
    """The teams whose actions ``user`` may read; None means every team (admins)."""
    managed = managed_team_ids(user)
    if managed is None:
        return None
    return managed | set(Membership.objects.filter(user=user).values_list("team_id", flat=True))


def visible_actions(user: User) -> QuerySet[Action]:
    """The actions ``user`` may read (with team, question and owner loaded)."""
    actions = Action.objects.select_related("team", "question", "owner", "survey")
    teams = readable_team_ids(user)
    if teams is None:
        return actions
    return actions.filter(Q(team_id__in=teams) | Q(owner=user))


def can_track_actions(
    user: User | AnonymousUser, team: Team, managed: set[int] | None = LOOK_UP
) -> bool:
    """Whether ``user`` may create actions for ``team`` and change any of them.
    ``managed``: managed_team_ids(user), when the caller has it (one statement fewer)."""
    if not user.is_authenticated or not user.is_active:
        return False
    if managed is LOOK_UP:
        managed = managed_team_ids(user)
    if managed is None or team.pk in managed:
        return True
    return team.members_track_actions and Membership.objects.filter(user=user, team=team).exists()


def can_change_action(user: User | AnonymousUser, action: Action) -> bool:
    """Whether ``user`` may change ``action``: who tracks the team's actions, or its owner."""
    if user.is_authenticated and user.is_active and action.owner_id == user.pk:
        return True
    return can_track_actions(user, action.team)


def overdue_q(today: date | None = None) -> Q:
    """The filter of overdue actions: open or in progress, due before ``today``."""
    return Q(
        status__in=[Action.Status.OPEN, Action.Status.IN_PROGRESS],
        due__lt=today or timezone.localdate(),
    )


def team_actions(team: Team) -> list[Action]:
    """The team's actions for its report: open and in progress first (by due date), then
    done, then won't do; each carried over from whichever round it came from."""
    order = {
        Action.Status.IN_PROGRESS: 0,
        Action.Status.OPEN: 1,
        Action.Status.DONE: 2,
        Action.Status.WONT_DO: 3,
    }
    actions = list(Action.objects.filter(team=team).select_related("question", "owner", "survey"))
    actions.sort(key=lambda a: (order[Action.Status(a.status)], a.due or date.max, a.pk))
    return actions


def action_url(action: Action) -> str:
    """The action on its team's report, as an absolute address (settings.SITE_URL)."""
    return f"{settings.SITE_URL.rstrip('/')}/reports/teams/{action.team.slug}/#action-{action.pk}"


def event_ref(action: Action) -> dict[str, Any]:
    """The action as events carry it (common.events): no respondent is ever named; the
    owner is the team member a manager chose."""
    return {
        "id": action.pk,
        "title": action.title,
        "team": {"slug": action.team.slug, "name": action.team.name},
        "question": action.question.key,
        "status": action.status,
        "due": action.due.isoformat() if action.due else None,
        "owner": action.owner.get_username() if action.owner else None,
        "url": action_url(action),
    }
