"""The evidence step of a scoring run (issue 16): verdicts beside the answers, and the
optional cap policy.

For each team of the run and each question with checks that the team answered, the
team's answer (its current choice, ``floor(Q * S + 1e-9)`` as for the roadmap) is set
beside the outcomes of the question's checks on the team's current snapshots
(evidence.selectors.round_outcomes) and an exemption in force; the verdict follows the rule
of ``maturity.evidence.rules.question_verdict``. With the framework's ``evidence_policy:
cap``, a question's answers above the highest choice its passing checks support count as
that choice (``rules.evidence_cap``): the per-choice counts are moved down before scoring,
so question, dimension and overall scores and roll-ups all see the capped answers, while
the verdict keeps judging what the team said.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from evidence.selectors import FrameworkChecks, exempt_pairs, reference_time
from evidence.services import round_outcomes
from maturity.evidence.rules import CheckOutcome, evidence_cap, question_verdict
from maturity.models import Framework
from surveys.models import Survey

VERDICT_COLUMNS = ["team", "question", "verdict", "evidence", "capped_at"]


@dataclass(frozen=True)
class RoundEvidence:
    """Per (team, question key) with checks and an answer: verdict, evidence (list of
    check outcome dicts) and capped_at (the choice the cap policy limits it to, or None)."""

    rows: pd.DataFrame
    policy: str

    @classmethod
    def empty(cls, policy: str = "report") -> RoundEvidence:
        return cls(pd.DataFrame(columns=VERDICT_COLUMNS), policy)

    def contradicted(self) -> pd.DataFrame:
        """(team, question) pairs whose verdict is contradicted."""
        rows = self.rows[self.rows["verdict"] == "contradicted"]
        return rows[["team", "question"]].reset_index(drop=True)

    def caps(self) -> pd.DataFrame:
        """(team, question, cap) for the capped pairs."""
        rows = self.rows[self.rows["capped_at"].notna()]
        return rows[["team", "question", "capped_at"]].rename(columns={"capped_at": "cap"})

    def counts(self, team: object) -> tuple[int, int, int, int]:
        """(checked, confirmed, contradicted, capped) for one team."""
        rows = self.rows[self.rows["team"] == team]
        return (
            len(rows),
            int((rows["verdict"] == "confirmed").sum()),
            int((rows["verdict"] == "contradicted").sum()),
            int(rows["capped_at"].notna().sum()),
        )


def outcome_json(outcome: CheckOutcome, at: datetime) -> dict[str, object]:
    """A check outcome as stored on QuestionScore.evidence and answered by the API."""
    age_days = (at - outcome.collected_at).total_seconds() / 86400
    return {
        "id": outcome.id,
        "title": outcome.title,
        "passed": outcome.passed,
        "source": outcome.source,
        "collected_at": outcome.collected_at.isoformat(),
        "age_days": round(age_days, 1),
        "fresh": age_days <= outcome.fresh_days,
        "supports": outcome.supports,
        "contradicts": outcome.contradicts,
        "details": outcome.details,
        "facts": outcome.facts,
    }


def answer_choices(per_question: pd.DataFrame) -> pd.DataFrame:
    """(team, question, choice): each answered pair's current choice from the per-choice
    counts n0..nS, ``floor(mean score + 1e-9)``; pairs without a choice answer are left out."""
    score_columns = [c for c in per_question.columns if re.fullmatch(r"n\d+", c)]
    counts = per_question[score_columns].to_numpy(dtype=np.int64)
    n = counts.sum(axis=1)
    answered = n > 0
    mean = (counts[answered] @ np.arange(len(score_columns))) / n[answered]
    return pd.DataFrame(
        {
            "team": per_question["team"].to_numpy()[answered],
            "question": per_question["question"].to_numpy()[answered],
            "choice": np.floor(mean + 1e-9).astype(np.int64),
        }
    )


def answered_choice(counts: Sequence[int]) -> int | None:
    """The choice a team's answers amount to, ``floor(mean + 1e-9)``, from its per-choice
    counts (QuestionScore.distribution: what was answered, before any cap); None when no
    answer has a choice. The scalar form of answer_choices."""
    n = sum(counts)
    if not n:
        return None
    return math.floor(sum(score * count for score, count in enumerate(counts)) / n + 1e-9)


def round_evidence(
    survey: Survey, per_question: pd.DataFrame, team_ids: list[int], max_scores: pd.Series
) -> RoundEvidence:
    """Return the verdicts (and caps) of ``team_ids`` in ``survey`` from the run's
    per-question counts (asked questions only, before any cap). ``max_scores``: question
    key -> S_q."""
    framework = survey.framework
    policy = framework.evidence_policy
    at = reference_time(survey)
    outcomes = round_outcomes(framework, team_ids, at)
    checked = framework_checked_keys(framework)
    if not checked:
        return RoundEvidence.empty(policy)
    exempt = exempt_pairs(team_ids, at)
    answers = answer_choices(per_question)
    answers = answers[answers["question"].isin(checked) & answers["team"].isin(team_ids)]
    rows = []
    for team, question, choice in answers.itertuples(index=False, name=None):
        found = outcomes.get((team, question), [])
        is_exempt = (team, question) in exempt
        verdict = question_verdict(int(choice), True, found, at, is_exempt)
        capped_at = None
        if policy == "cap" and not is_exempt:
            cap = evidence_cap(found, at, int(max_scores[question]))
            if cap is not None and cap < choice:
                capped_at = cap
        evidence = [outcome_json(outcome, at) for outcome in found]
        rows.append((team, question, verdict, evidence, capped_at))
    frame = pd.DataFrame(rows, columns=VERDICT_COLUMNS)
    frame["capped_at"] = frame["capped_at"].astype("Int64")
    return RoundEvidence(frame, policy)


def framework_checked_keys(framework: Framework) -> set[str]:
    """The keys of the framework version's questions that have checks."""
    return set(FrameworkChecks.of(framework).by_question)


def cap_counts(per_question: pd.DataFrame, caps: pd.DataFrame) -> pd.DataFrame:
    """Return ``per_question`` with, for each capped (team, question), the answers above
    the cap counted at the cap (n_cap += n_k for k > cap; n_k = 0)."""
    if caps.empty:
        return per_question
    score_columns = [c for c in per_question.columns if re.fullmatch(r"n\d+", c)]
    frame = per_question.reset_index(drop=True)
    keyed = frame[["team", "question"]].merge(
        caps.astype({"cap": "int64"}), on=["team", "question"], how="left"
    )
    counts = frame[score_columns].to_numpy(dtype=np.int64).copy()
    for row in np.flatnonzero(keyed["cap"].notna().to_numpy()):
        cap = int(keyed.at[row, "cap"])
        counts[row, cap] += counts[row, cap + 1 :].sum()
        counts[row, cap + 1 :] = 0
    frame[score_columns] = counts
    return frame
