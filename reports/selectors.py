"""Reads of persisted scores for report pages, the API and exports.

Nothing here recomputes scores: it reads the snapshots that aggregation wrote, and applies
who-may-see-what (a member sees their team when the survey allows it, a manager the teams
they manage and their sub-teams, an admin everything) and anonymity (a team of an anonymous
survey with fewer counted respondents than ``min_group_size`` is withheld).
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from reports.models import TeamScore
from surveys.models import Membership, Survey, Team


def _with_descendants(team_ids: set[int]) -> set[int]:
    """Return the teams and every team below them (parent links), breadth first."""
    found = set(team_ids)
    frontier = set(team_ids)
    while frontier:
        frontier = set(Team.objects.filter(parent_id__in=frontier).values_list("id", flat=True))
        frontier -= found
        found |= frontier
    return found


def managed_team_ids(user: AbstractBaseUser) -> set[int] | None:
    """Return the ids of teams a user manages (with sub-teams); None means all (admins)."""
    if user.is_staff:
        return None
    direct = set(
        Membership.objects.filter(user=user, role=Membership.Role.MANAGER).values_list(
            "team_id", flat=True
        )
    )
    return _with_descendants(direct)


def readable_team_ids(user: AbstractBaseUser, survey: Survey) -> set[int]:
    """Return the survey's teams whose results ``user`` may read."""
    survey_teams = set(survey.teams.values_list("id", flat=True))
    if not user.is_authenticated:
        return set()
    managed = managed_team_ids(user)
    if managed is None:
        return survey_teams
    readable = managed & survey_teams
    if survey.members_see_results:
        readable |= survey_teams & set(
            Membership.objects.filter(user=user).values_list("team_id", flat=True)
        )
    return readable


def readable_surveys(user: AbstractBaseUser) -> QuerySet[Survey]:
    """Surveys a user may see: all for admins, else those with one of their teams."""
    if user.is_staff:
        return Survey.objects.all()
    teams = Membership.objects.filter(user=user).values_list("team_id", flat=True)
    managed = managed_team_ids(user) or set()
    return Survey.objects.filter(teams__in={*teams, *managed}).distinct()


def is_withheld(survey: Survey, n_respondents: int) -> bool:
    """Tell whether a team's results must be hidden: anonymous survey, too few respondents."""
    return survey.anonymous and n_respondents < survey.min_group_size


def team_scores(survey: Survey, team_ids: set[int] | None = None) -> QuerySet[TeamScore]:
    """Return the survey's persisted team scores (optionally of some teams), with children."""
    scores = TeamScore.objects.filter(survey=survey).select_related("team", "weakest_dimension")
    if team_ids is not None:
        scores = scores.filter(team_id__in=team_ids)
    return scores.order_by("team__name")
