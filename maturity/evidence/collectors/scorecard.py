"""The ``scorecard`` collector: OpenSSF Scorecard results the team exported.

Reads ``.maturity/scorecard.json`` (else ``scorecard.json`` at the root), the output of
``scorecard --repo=... --format json`` (github.com/ossf/scorecard, "docs/checks.md"):
``{"date", "repo": {"name", "commit"}, "scorecard": {"version", "commit"}, "score": 7.3,
"checks": [{"name": "Branch-Protection", "score": 8, "reason": "...", ...}]}``.

The aggregate becomes ``scorecard.score``; each check ``scorecard.<name>`` with the name in
snake case (``Branch-Protection`` -> ``branch_protection``, ``CII-Best-Practices`` ->
``cii_best_practices``). Scores are 0-10; Scorecard reports -1 when a check is inconclusive
(e.g. no releases to sign), and such a check is absent, not zero. Checks this catalogue does
not declare (newer Scorecard versions add some) are ignored.
"""

from __future__ import annotations

import math
import re

from maturity.evidence.collectors.base import FileCollector, as_dict, as_list, problem, read_parsed
from maturity.evidence.facts import SCORECARD_FACTS
from maturity.evidence.reader import SnapshotReader

SCORECARD_PATHS = (".maturity/scorecard.json", "scorecard.json")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def fact_name(check: str) -> str:
    """``scorecard.<snake_case>`` for a Scorecard check name."""
    return "scorecard." + _NON_WORD.sub("_", check.lower()).strip("_")


def score_value(value: object) -> float | None:
    """A 0-10 score as a float; None for -1 (inconclusive), booleans, NaN or out of range."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    score = float(value)
    return score if math.isfinite(score) and 0 <= score <= 10 else None


class ScorecardCollector(FileCollector):
    """OpenSSF Scorecard aggregate and check scores (``SCORECARD_FACTS``)."""

    name = "scorecard"
    version = "1"
    facts = SCORECARD_FACTS

    def gather(self, reader: SnapshotReader, problems: list[str]) -> dict[str, object]:
        path = next((p for p in SCORECARD_PATHS if reader.exists(p)), None)
        if path is None:
            return {}
        noted = len(problems)
        data = read_parsed(reader, path, "json", problems)
        if len(problems) > noted:
            return {}
        if not isinstance(data, dict) or not isinstance(data.get("checks", []), list):
            problems.append(problem(path, "not OpenSSF Scorecard JSON output"))
            return {}
        facts: dict[str, object] = {}
        score = score_value(data.get("score"))
        if score is not None:
            facts["scorecard.score"] = score
        for check in as_list(data.get("checks")):
            name, value = as_dict(check).get("name"), score_value(as_dict(check).get("score"))
            if isinstance(name, str) and value is not None and fact_name(name) in self.facts:
                facts[fact_name(name)] = value
        return facts
