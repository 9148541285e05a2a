"""Which questions each team of a round answers: scope and team profile (pure, no Django).

The rule (issue 15), in one place for the survey pages, the API's validator and scoring:

* ``scope: team`` questions are asked of every team;
* ``scope: platform`` questions are asked of the *platform* teams of the round: a team with
  no parent in the round, or with sub-teams in it. A product team (a team whose parent is in
  the round and that has no sub-team in it) is not asked them; it *inherits* the answers of
  its nearest ancestor in the round, shown in its report and never scored into its level
  (so they do not cap its weakest link);
* ``scope: org`` questions are asked only of root teams (no parent in the round); every
  other team inherits its root's answers the same way;
* a question whose ``applies_when`` does not match the team's profile is neither asked nor
  inherited: it is *out of scope* for that team. A team without a profile sees everything.

Parents are followed through teams outside the round: a team's "parent in the round" is its
nearest ancestor that takes part in the round.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from maturity.schema import AppliesWhen, TeamProfile


@dataclass(frozen=True)
class QuestionRule:
    """What the plan needs of a question: its id, scope and applies_when (as stored)."""

    id: int
    scope: str = "team"
    applies_when: Mapping[str, Any] = field(default_factory=dict)

    def applies_to(self, profile: TeamProfile | None) -> bool:
        if not self.applies_when or profile is None:
            return True
        return AppliesWhen.model_validate(dict(self.applies_when)).matches(profile)


@dataclass(frozen=True)
class TeamPlan:
    """A team's questions in a round.

    ``asked``: ids of the questions its respondents see, answer and are scored on;
    ``inherited``: question id -> id of the ancestor team whose answers stand for it
    (platform and org scope); ``out_of_scope``: ids excluded by the team's profile.
    """

    asked: frozenset[int]
    inherited: Mapping[int, int]
    out_of_scope: frozenset[int]


def round_parents(
    parent_of: Mapping[int, int | None], round_teams: Iterable[int]
) -> dict[int, int | None]:
    """Return, for each team of the round, its nearest ancestor in the round (or None).

    ``parent_of`` maps team ids to their parent ids and must hold every ancestor of the
    round's teams. Cycles (which the database does not prevent) end the walk; a cycle
    among the round's teams is broken at its lowest team id, which becomes a root, so every
    chain has one.
    """
    members = set(round_teams)
    result: dict[int, int | None] = {}
    for team in members:
        seen = {team}
        parent = parent_of.get(team)
        while parent is not None and parent not in members and parent not in seen:
            seen.add(parent)
            parent = parent_of.get(parent)
        result[team] = parent if parent in members and parent != team else None
    for team in sorted(members):
        chain = [team]
        parent = result[team]
        while parent is not None and parent not in chain:
            chain.append(parent)
            parent = result[parent]
        if parent is not None:  # back at a team of the chain: a cycle
            cycle = chain[chain.index(parent) :]
            result[min(cycle)] = None
    return result


def plan_round(
    questions: Iterable[QuestionRule],
    parents: Mapping[int, int | None],
    profiles: Mapping[int, TeamProfile],
    teams: Iterable[int] | None = None,
) -> dict[int, TeamPlan]:
    """Return the :class:`TeamPlan` of every team of a round (or of ``teams`` among them).

    ``parents``: team id -> its parent in the round (see :func:`round_parents`), for every
    team of the round even when ``teams`` limits the plans returned;
    ``profiles``: team id -> declared profile (teams without one see every question).
    """
    rules = list(questions)
    has_children = {parent for parent in parents.values() if parent is not None}
    wanted = parents.keys() if teams is None else [t for t in teams if t in parents]
    plans: dict[int, TeamPlan] = {}
    for team in wanted:
        parent = parents[team]
        root = _root(team, parents)
        profile = profiles.get(team)
        asked: set[int] = set()
        inherited: dict[int, int] = {}
        out_of_scope: set[int] = set()
        for rule in rules:
            answered_by = _answered_by(rule.scope, team, parent, root, team in has_children)
            if not rule.applies_to(profile):
                if answered_by == team:
                    out_of_scope.add(rule.id)
            elif answered_by == team:
                asked.add(rule.id)
            else:
                inherited[rule.id] = answered_by
        plans[team] = TeamPlan(frozenset(asked), inherited, frozenset(out_of_scope))
    return plans


def _root(team: int, parents: Mapping[int, int | None]) -> int:
    seen = {team}
    while (parent := parents.get(team)) is not None and parent not in seen:
        seen.add(parent)
        team = parent
    return team


def _answered_by(scope: str, team: int, parent: int | None, root: int, platform: bool) -> int:
    """Return the team whose respondents answer a question of ``scope`` for ``team``."""
    if scope == "org":
        return root
    if scope == "platform" and parent is not None and not platform:
        return parent
    return team
