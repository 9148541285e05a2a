"""Verification of done improvement actions by a later round's scores (issue 19).

A ``done`` action of a team is checked when a later round of the team (opening after the
action's round) is scored: ``verified`` when the team's choice on the action's question
moved up at least one choice from the round the action came from, else ``not_reflected``.

- A team's choice on a question is the choice its mean sits on, as in the roadmap:
  ``floor(mean * max_score + 1e-9)`` (maturity.scoring, ``current_score``).
- The question is matched across framework versions by key and ``replaces``
  (maturity.selectors.question_matches). A question split into several takes the lowest
  of their choices: the team moved up only if every part did.
- The round that verifies is the earliest later round that shows the team's result on
  the question: rounds whose results are withheld (anonymous, open or too few
  respondents) and rounds where nobody answered the question are skipped, so a verdict
  never reveals a withheld result. While that round is open its verdict follows its
  scores; a later round never overrides an earlier round's verdict.
- Without a baseline (nobody answered the question in the action's round, or the
  action's round withholds the team's result) the action stays unchecked: the baseline
  is only taken from what that round shows, as the verdict only from what the later
  round shows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Q

from actions.models import Action
from maturity.models import Framework
from maturity.scoring import FULL_SCORE_TOLERANCE
from maturity.selectors import question_matches
from reports.models import QuestionScore
from reports.selectors import rollups_over_withheld, shown_scores
from surveys.models import Survey


def choice_of(mean: float, max_score: int) -> int:
    """The choice score a team's question mean ``mean`` (in [0, 1]) sits on."""
    return math.floor(mean * max_score + FULL_SCORE_TOLERANCE)


@dataclass(frozen=True)
class _Scored:
    """A team's choice per question key in one round: {(team id, key): choice}."""

    choices: dict[tuple[int, str], int]


def _choices(survey: Survey, team_ids: Iterable[int], *, shown_only: bool) -> _Scored:
    """The teams' choices on every answered question of ``survey`` (one statement)."""
    rows = QuestionScore.objects.filter(
        team_score__survey=survey,
        team_score__team_id__in=list(team_ids),
        team_score__is_rollup=False,
        mean__isnull=False,
    )
    if shown_only:
        rows = rows.filter(shown_scores(survey, prefix="team_score__"))
    return _Scored(
        {
            (team_id, key): choice_of(mean, max_score)
            for team_id, key, mean, max_score in rows.values_list(
                "team_score__team_id", "question__key", "mean", "question__max_score"
            )
            if mean is not None  # filtered above; for the type checker
        }
    )


def _later_choice(
    scored: _Scored, team_id: int, key: str, matches: dict[str, tuple[str, ...]]
) -> int | None:
    """The team's choice in the later round on what became question ``key``: the lowest
    over the later questions matched to it; None when none of them was answered."""
    found = [
        scored.choices[(team_id, later)]
        for later, earlier in matches.items()
        if key in earlier and (team_id, later) in scored.choices
    ]
    return min(found) if found else None


def actions_verify(survey: Survey, team_ids: Iterable[int]) -> int:
    """Check the done actions of ``team_ids`` against ``survey``'s stored scores (run after
    every scoring run that wrote snapshots: reports.services.after_scoring). Returns how
    many actions got a verdict from this round (new or confirmed)."""
    teams = set(team_ids) - rollups_over_withheld(survey)
    candidates = list(
        Action.objects.filter(
            team_id__in=teams,
            status=Action.Status.DONE,
            survey__opens_at__lt=survey.opens_at,
        )
        .filter(
            Q(verified_survey__isnull=True)
            | Q(verified_survey=survey)
            | Q(verified_survey__opens_at__gt=survey.opens_at)
        )
        .select_related("survey", "question")
    )
    if not candidates:
        return 0
    later = _choices(survey, {a.team_id for a in candidates}, shown_only=True)
    matches_by_framework: dict[int, dict[str, tuple[str, ...]]] = {}
    baselines: dict[int, _Scored] = {}
    changed: list[Action] = []
    confirmed = 0
    for action in candidates:
        earlier = action.survey
        if earlier.framework_id not in matches_by_framework:
            matches_by_framework[earlier.framework_id] = question_matches(
                survey.framework, Framework.objects.get(pk=earlier.framework_id)
            )
        if earlier.pk not in baselines:
            # Only what the action's round shows: a baseline from a withheld result (an
            # anonymous round while open, a team under min_group_size) would reveal it,
            # as baseline_score and through the verdict.
            ids = {a.team_id for a in candidates if a.survey_id == earlier.pk}
            baselines[earlier.pk] = _choices(
                earlier, ids - rollups_over_withheld(earlier), shown_only=True
            )
        baseline = baselines[earlier.pk].choices.get((action.team_id, action.question.key))
        now = _later_choice(
            later, action.team_id, action.question.key, matches_by_framework[earlier.framework_id]
        )
        if baseline is None or now is None:
            continue
        verdict = (
            Action.Verification.VERIFIED
            if now >= baseline + 1
            else Action.Verification.NOT_REFLECTED
        )
        found = (baseline, now, verdict, survey.pk)
        if (
            action.baseline_score,
            action.verified_score,
            action.verification,
            action.verified_survey_id,
        ) == found:
            confirmed += 1  # the same verdict again: nothing to write (or to audit)
            continue
        action.baseline_score, action.verified_score = baseline, now
        action.verification, action.verified_survey = verdict, survey
        changed.append(action)
    for action in changed:
        # Saved one by one, so the audit log records each verdict.
        action.save(
            update_fields=[
                "baseline_score",
                "verified_score",
                "verification",
                "verified_survey",
                "updated_at",
            ]
        )
    return len(changed) + confirmed


def action_verify(action_id: int) -> bool:
    """Check one done action against the rounds of its team that opened after its round
    (run when an action is marked done: a round scored before that would otherwise never
    look at it). Returns whether it got a verdict."""
    action = Action.objects.filter(pk=action_id, status=Action.Status.DONE).first()
    if action is None:
        return False
    later = Survey.objects.filter(
        teams=action.team_id, opens_at__gt=action.survey.opens_at
    ).exclude(status=Survey.Status.DRAFT)
    for survey in later.select_related("framework").order_by("opens_at"):
        if actions_verify(survey, [action.team_id]):
            return True
    return False
