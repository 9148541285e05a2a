"""Evidence reads: what a round's verdicts are computed from, and what pages list.

A round's evidence for a team is, per source (repository), the team's newest collected
snapshot received by the round's reference time: its close for a closed round (evidence
uploaded later does not rewrite history), now while it is open.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from evidence.models import CheckResult, Exemption, FactSet, Snapshot
from maturity.evidence.rules import CheckOutcome
from maturity.models import Framework, Question
from maturity.schema import CheckSpec
from surveys.models import Survey


@dataclass(frozen=True)
class FrameworkChecks:
    """A framework version's checks, parsed: question key -> checks."""

    framework: Framework
    by_question: dict[str, list[CheckSpec]]

    @classmethod
    def of(cls, framework: Framework) -> FrameworkChecks:
        """The framework's checks, parsed once per (version, checks hash) in a process."""
        key = (framework.pk, framework.checks_hash)
        found = _CHECKS.get(key)
        if found is None:
            rows = Question.objects.filter(framework=framework).exclude(checks=[])
            by_question = {
                question_key: [CheckSpec.model_validate(check) for check in checks]
                for question_key, checks in rows.values_list("key", "checks")
            }
            if len(_CHECKS) > 32:
                _CHECKS.clear()
            found = _CHECKS[key] = cls(framework, by_question)
        return found


_CHECKS: dict[tuple[int, str], FrameworkChecks] = {}


def reference_time(survey: Survey) -> datetime:
    """The time a round's evidence is judged at: its close, or now while it is open."""
    if survey.status == Survey.Status.CLOSED and survey.closed_at is not None:
        return survey.closed_at
    return timezone.now()


def current_snapshots(team_ids: Iterable[int], at: datetime) -> QuerySet[Snapshot]:
    """Each team's newest collected snapshot per source received by ``at``."""
    newest = (
        Snapshot.objects.filter(
            team=OuterRef("team"),
            source=OuterRef("source"),
            status=Snapshot.Status.COLLECTED,
            received_at__lte=at,
        )
        .order_by("-received_at", "-id")
        .values("pk")[:1]
    )
    return Snapshot.objects.filter(
        team_id__in=list(team_ids), status=Snapshot.Status.COLLECTED, received_at__lte=at
    ).filter(pk=Subquery(newest))


def round_outcomes(
    framework: Framework, team_ids: Iterable[int], at: datetime
) -> dict[tuple[int, str], list[CheckOutcome]]:
    """Return, per (team id, question key), the outcome of each of the question's checks on
    the team's current snapshots.

    With several sources (repositories), a check's outcome for the team is the best of
    them: among the fresh ones (else the outdated ones), a pass if any snapshot passes it,
    else a failure if any fails, else unknown; among equals the newest snapshot's. One
    repository without tests does not contradict a team whose other repository has them,
    and a repository that cannot tell does not hide one that shows a practice missing.

    Only results stored under the framework's current checks count; evidence.services.
    round_outcomes evaluates what lacks them first.
    """
    checks = FrameworkChecks.of(framework)
    if not checks.by_question:
        return {}
    snapshots = list(
        current_snapshots(team_ids, at).values_list(
            "team_id", "content_id", "received_at", "source"
        )
    )
    if not snapshots:
        return {}
    contents = {content_id for _, content_id, _, _ in snapshots}
    # Plain values, not model instances: 43 results per team, 43,000 in a 1,000-team round.
    results: dict[tuple[int, str, str], tuple[bool | None, list[str], dict[str, object]]] = {
        (content_id, question_key, check_id): (passed, details, facts)
        for content_id, question_key, check_id, passed, details, facts in (
            CheckResult.objects.filter(framework=framework, content_id__in=list(contents))
        ).values_list("content_id", "question_key", "check_id", "passed", "details", "facts")
    }
    best: dict[tuple[int, str, str], CheckOutcome] = {}
    for team_id, content_id, received_at, source in snapshots:
        for key, question_checks in checks.by_question.items():
            for check in question_checks:
                result = results.get((content_id, key, check.id))
                if result is None:
                    continue
                passed, details, facts = result
                seen = best.get((team_id, key, check.id))
                rank = (at - received_at <= timedelta(days=check.fresh_days), _PASS_RANK[passed])
                if seen is not None and _rank(seen, at) >= (*rank, received_at):
                    continue
                best[(team_id, key, check.id)] = CheckOutcome(
                    id=check.id,
                    title=check.title,
                    passed=passed,
                    supports=check.supports,
                    contradicts=check.contradicts,
                    fresh_days=check.fresh_days,
                    collected_at=received_at,
                    details=list(details),
                    facts=dict(facts),
                    source=source,
                )
    outcomes: dict[tuple[int, str], list[CheckOutcome]] = defaultdict(list)
    for (team_id, key, _), outcome in best.items():
        outcomes[(team_id, key)].append(outcome)
    return dict(outcomes)


# Across a team's repositories: a pass wins, then a failure; unknown (the snapshot cannot
# tell) never hides a known outcome. Fresh outcomes rank before outdated ones.
_PASS_RANK = {True: 2, False: 1, None: 0}


def _rank(outcome: CheckOutcome, at: datetime) -> tuple[bool, int, datetime]:
    return outcome.is_fresh(at), _PASS_RANK[outcome.passed], outcome.collected_at


def exempt_pairs(team_ids: Iterable[int], at: datetime) -> dict[tuple[int, str], Exemption]:
    """The (team id, question key) pairs with an exemption in force at ``at``."""
    rows = Exemption.objects.filter(
        team_id__in=list(team_ids), expires_at__gt=at, created_at__lte=at
    ).filter(revoked_at__isnull=True) | Exemption.objects.filter(
        team_id__in=list(team_ids), expires_at__gt=at, created_at__lte=at, revoked_at__gt=at
    )
    return {(e.team_id, e.question_key): e for e in rows.select_related("approved_by")}


def content_problems(content_ids: Iterable[int]) -> dict[int, list[str]]:
    """Per content id, the files its collectors could not read ("path: why"), sorted: a
    CI file or manifest not kept or not parseable, whose facts are then unknown."""
    problems: dict[int, set[str]] = defaultdict(set)
    for content_id, found in FactSet.objects.filter(content_id__in=list(content_ids)).values_list(
        "content_id", "problems"
    ):
        problems[content_id].update(found)
    return {content_id: sorted(found) for content_id, found in problems.items()}
