"""The reference standards a framework question may cite in ``refs`` (pure, no Django).

A reference is ``<prefix>:<id>``, e.g. ``mlts:monitor-3`` or ``owasp-llm:LLM01``. The
prefixes are a fixed list (``STANDARDS``), each with a one-line description, its source and
the format of its ids. Four standards have a closed list of items (the ML Test Score's 28
tests, the three Google Cloud MLOps levels, the Azure MLOps and LLMOps maturity levels and
the OWASP Top 10 for LLM applications); for the others only the format of an id is checked.

``standard_coverage`` says, per standard, which items the questions of a framework map:
``framework_coverage`` prints it and a content test requires all 28 ML Test Score tests.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Breck, Cai, Nielsen, Salib and Sculley, "The ML Test Score: A Rubric for ML Production
# Readiness and Technical Debt Reduction", IEEE Big Data 2017, tables I-IV.
ML_TEST_SCORE: dict[str, str] = {
    "data-1": "Feature expectations are captured in a schema",
    "data-2": "All features are beneficial",
    "data-3": "No feature's cost is too much",
    "data-4": "Features adhere to meta-level requirements",
    "data-5": "The data pipeline has appropriate privacy controls",
    "data-6": "New features can be added quickly",
    "data-7": "All input feature code is tested",
    "model-1": "Model specs are reviewed and submitted",
    "model-2": "Offline and online metrics correlate",
    "model-3": "All hyperparameters have been tuned",
    "model-4": "The impact of model staleness is known",
    "model-5": "A simpler model is not better",
    "model-6": "Model quality is sufficient on important data slices",
    "model-7": "The model is tested for considerations of inclusion",
    "infra-1": "Training is reproducible",
    "infra-2": "Model specs are unit tested",
    "infra-3": "The ML pipeline is integration tested",
    "infra-4": "Model quality is validated before serving",
    "infra-5": "The model is debuggable",
    "infra-6": "Models are canaried before serving",
    "infra-7": "Serving models can be rolled back",
    "monitor-1": "Dependency changes result in notification",
    "monitor-2": "Data invariants hold for inputs",
    "monitor-3": "Training and serving are not skewed",
    "monitor-4": "Models are not too stale",
    "monitor-5": "Models are numerically stable",
    "monitor-6": "Computing performance has not regressed",
    "monitor-7": "Prediction quality has not regressed",
}

GOOGLE_MLOPS_LEVELS: dict[str, str] = {
    "level-0": "Manual process",
    "level-1": "ML pipeline automation (continuous training)",
    "level-2": "CI/CD pipeline automation",
}

AZURE_MLOPS_LEVELS: dict[str, str] = {
    "level-0": "No MLOps",
    "level-1": "DevOps but no MLOps",
    "level-2": "Automated training",
    "level-3": "Automated model deployment",
    "level-4": "Full MLOps automated operations",
}

AZURE_LLMOPS_LEVELS: dict[str, str] = {
    "level-1": "Initial",
    "level-2": "Defined",
    "level-3": "Managed",
    "level-4": "Optimized",
}

# OWASP Top 10 for LLM Applications, 2025 edition.
OWASP_LLM_TOP_10: dict[str, str] = {
    "LLM01": "Prompt Injection",
    "LLM02": "Sensitive Information Disclosure",
    "LLM03": "Supply Chain",
    "LLM04": "Data and Model Poisoning",
    "LLM05": "Improper Output Handling",
    "LLM06": "Excessive Agency",
    "LLM07": "System Prompt Leakage",
    "LLM08": "Vector and Embedding Weaknesses",
    "LLM09": "Misinformation",
    "LLM10": "Unbounded Consumption",
}


@dataclass(frozen=True)
class Standard:
    """One citable standard: its prefix, what it is, where it is, and its id format.

    ``items`` maps every id of a closed list to its title; it is empty for standards whose
    ids are only checked against ``id_pattern`` (described for people by ``id_format``).
    ``name`` is the short name a question's ``why`` uses when it cites the standard.
    """

    prefix: str
    name: str
    description: str
    url: str
    id_format: str
    id_pattern: re.Pattern[str]
    items: Mapping[str, str] = field(default_factory=dict)

    @property
    def closed(self) -> bool:
        return bool(self.items)


def _closed(items: Mapping[str, str]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(item) for item in items))


STANDARDS: dict[str, Standard] = {
    standard.prefix: standard
    for standard in (
        Standard(
            "mlts",
            "ML Test Score",
            "Google's ML Test Score: 28 tests for production readiness (Breck et al., 2017).",
            "https://research.google.com/pubs/archive/46555.pdf",
            "data-1..7, model-1..7, infra-1..7, monitor-1..7",
            _closed(ML_TEST_SCORE),
            ML_TEST_SCORE,
        ),
        Standard(
            "google-mlops",
            "Google Cloud",
            "Google Cloud's MLOps levels 0-2 (continuous delivery and automation pipelines).",
            "https://cloud.google.com/architecture/mlops-continuous-delivery-and-automation-pipelines-in-machine-learning",
            "level-0, level-1, level-2",
            _closed(GOOGLE_MLOPS_LEVELS),
            GOOGLE_MLOPS_LEVELS,
        ),
        Standard(
            "azure-mlops",
            "Azure",
            "Microsoft's MLOps maturity model, levels 0-4.",
            "https://learn.microsoft.com/azure/architecture/ai-ml/guide/mlops-maturity-model",
            "level-0 .. level-4",
            _closed(AZURE_MLOPS_LEVELS),
            AZURE_MLOPS_LEVELS,
        ),
        Standard(
            "azure-llmops",
            "Azure",
            "Microsoft's LLMOps maturity model for generative AI applications, levels 1-4.",
            "https://learn.microsoft.com/azure/machine-learning/prompt-flow/concept-llmops-maturity",
            "level-1 .. level-4",
            _closed(AZURE_LLMOPS_LEVELS),
            AZURE_LLMOPS_LEVELS,
        ),
        Standard(
            "aws-ml-lens",
            "AWS",
            "AWS Well-Architected Machine Learning Lens best practices.",
            "https://docs.aws.amazon.com/wellarchitected/latest/machine-learning-lens/",
            "ML<pillar><question>-BP<number>, pillar OPS|SEC|REL|PERF|COST|SUS, e.g. MLOPS05-BP01",
            re.compile(r"ML(?:OPS|SEC|REL|PERF|COST|SUS)\d{2}-BP\d{2}"),
        ),
        Standard(
            "aws-genai-lens",
            "AWS",
            "AWS Well-Architected Generative AI Lens best practices.",
            "https://docs.aws.amazon.com/wellarchitected/latest/generative-ai-lens/",
            "GEN<pillar><question>-BP<number> (pillars as in the ML Lens), e.g. GENSEC04-BP02",
            re.compile(r"GEN(?:OPS|SEC|REL|PERF|COST|SUS)\d{2}-BP\d{2}"),
        ),
        Standard(
            "dora",
            "DORA",
            "DORA capabilities (a page of dora.dev/capabilities/<id>/), or `metrics` for the "
            "software delivery performance metrics.",
            "https://dora.dev/capabilities/",
            "a lowercase capability slug, e.g. continuous-delivery, or metrics",
            re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*"),
        ),
        Standard(
            "google-sre",
            "SRE",
            "Google's Site Reliability Engineering book and workbook chapters.",
            "https://sre.google/books/",
            "sre-book/<chapter> or workbook/<chapter>, the path of the chapter on sre.google",
            re.compile(r"(?:sre-book|workbook)/[a-z0-9]+(?:-[a-z0-9]+)*"),
        ),
        Standard(
            "owasp-llm",
            "OWASP",
            "OWASP Top 10 for Large Language Model Applications (2025).",
            "https://genai.owasp.org/llm-top-10/",
            "LLM01 .. LLM10",
            _closed(OWASP_LLM_TOP_10),
            OWASP_LLM_TOP_10,
        ),
        Standard(
            "nist-ai-600-1",
            "NIST",
            "NIST AI 600-1, the Generative AI Profile of the AI Risk Management Framework "
            "(subcategory, optionally with its action number).",
            "https://doi.org/10.6028/NIST.AI.600-1",
            "GV|MP|MS|MG-<n>.<m>[-<action>], e.g. MS-2.5 or MG-4.1-002",
            re.compile(r"(?:GV|MP|MS|MG)-\d{1,2}\.\d{1,2}(?:-\d{3})?"),
        ),
    )
}


def ref_problem(ref: str) -> str | None:
    """Return why ``ref`` is not a valid reference, or None when it is.

    A valid reference is ``<prefix>:<id>`` with a prefix from STANDARDS and an id of that
    standard's format (for closed lists: one of its items, spelt exactly).
    """
    prefix, colon, item = ref.partition(":")
    if not colon or not item:
        return f"'{ref}' is not a reference; write <prefix>:<id>, e.g. mlts:monitor-3"
    standard = STANDARDS.get(prefix)
    if standard is None:
        known = ", ".join(STANDARDS)
        return f"unknown reference prefix '{prefix}' (known: {known})"
    if standard.id_pattern.fullmatch(item) is None:
        return f"unknown {prefix} id '{item}' (expected {standard.id_format})"
    return None


def standard_coverage(question_refs: Mapping[str, Iterable[str]]) -> dict[str, dict[str, Any]]:
    """Return, per standard prefix, which of its items the questions map.

    ``question_refs`` maps a question key to its refs (assumed valid; see ref_problem).
    The result has one entry per prefix of STANDARDS, in their order::

        {"mlts": {"items": 28, "mapped": 27, "unmapped": ["model-3"],
                  "questions": {"data-1": ["data-quality-validation"], ..., "model-3": []}},
         "dora": {"items": None, "mapped": 2, "unmapped": None,
                  "questions": {"continuous-delivery": ["automated-deployment"], ...}}, ...}

    For a closed list, ``questions`` lists every item in the standard's order (an empty list
    when no question maps it) and ``unmapped`` the items without a question. For an open
    standard ``items`` and ``unmapped`` are None and ``questions`` holds the ids used,
    sorted. Question keys are sorted; ``mapped`` counts distinct ids.
    """
    used: dict[str, dict[str, set[str]]] = {prefix: {} for prefix in STANDARDS}
    for key, refs in question_refs.items():
        for ref in refs:
            prefix, _, item = ref.partition(":")
            if prefix in used:
                used[prefix].setdefault(item, set()).add(key)
    coverage: dict[str, dict[str, Any]] = {}
    for prefix, standard in STANDARDS.items():
        mapped = used[prefix]
        if standard.closed:
            questions = {item: sorted(mapped.get(item, ())) for item in standard.items}
            coverage[prefix] = {
                "items": len(standard.items),
                "mapped": sum(1 for keys in questions.values() if keys),
                "unmapped": [item for item, keys in questions.items() if not keys],
                "questions": questions,
            }
        else:
            coverage[prefix] = {
                "items": None,
                "mapped": len(mapped),
                "unmapped": None,
                "questions": {item: sorted(mapped[item]) for item in sorted(mapped)},
            }
    return coverage


# --- a team "as the ML Test Score" ----------------------------------------------------------

ML_TEST_SCORE_SECTIONS = ("data", "model", "infra", "monitor")

# The paper's reading of the final score (section VI): the minimum of the four sections.
ML_TEST_SCORE_BANDS: tuple[tuple[float, str], ...] = (
    (0.0, "More of a research project than a productionized system."),
    (1.0, "Not totally untested, but it is worth considering the possibility of serious holes."),
    (
        2.0,
        "There has been first pass at basic productionization, "
        "but additional investment may be needed.",
    ),
    (
        3.0,
        "Reasonably tested, but it is possible that more of those tests and procedures "
        "may be automated.",
    ),
    (
        5.0,
        "Strong levels of automated testing and monitoring, "
        "appropriate for mission-critical systems.",
    ),
    (float("inf"), "Exceptional levels of automated testing and monitoring."),
)


@dataclass(frozen=True)
class MlTestItem:
    """One ML Test Score test for a team: its points and the questions they come from."""

    test: str  # e.g. "monitor-3"
    title: str
    points: float | None  # 0, 0.5 or 1; None when no mapped question was answered
    questions: tuple[str, ...]
    applicable: bool = True  # False: every mapped question is out of the team's scope


@dataclass(frozen=True)
class MlTestScore:
    sections: dict[str, float | None]  # section -> its points on the paper's 0..7 scale
    tests: list[MlTestItem]
    overall: float  # the minimum of the four sections, as the paper defines it
    reading: str  # the paper's reading of the overall score
    # section -> how many of its seven tests apply to the team (7 without a profile)
    applicable: dict[str, int] = field(default_factory=dict)

    @property
    def all_apply(self) -> bool:
        return all(count == len(ML_TEST_SCORE) // 4 for count in self.applicable.values())

    @property
    def unanswered(self) -> list[str]:
        return [test.test for test in self.tests if test.points is None]


def ml_test_points(mean: float) -> float:
    """Return a test's points from the team's mean score (0..1) on the questions mapped to it.

    The paper gives half a point for a test done and documented manually and a full point
    for one automated and repeated. In the framework's 0-4 ladders the automated, routine
    level is 3 of 4 and the manual, documented practice 2 of 4, so: mean >= 0.75 -> 1,
    mean >= 0.5 -> 0.5, else 0 (with a 1e-9 tolerance, as the level rule).
    """
    if mean + 1e-9 >= 0.75:
        return 1.0
    if mean + 1e-9 >= 0.5:
        return 0.5
    return 0.0


def ml_test_score(
    question_refs: Mapping[str, Iterable[str]],
    question_means: Mapping[str, float],
    out_of_scope: Collection[str] = (),
) -> MlTestScore:
    """Score a team as the ML Test Score from its question scores.

    ``question_refs`` maps question keys to their refs; ``question_means`` the team's
    question score Q (0..1) of each answered question; ``out_of_scope`` the keys its profile
    excludes. A test's points come from the mean Q of its mapped, answered questions
    (ml_test_points); a test without an answered question counts 0 (as the paper counts a
    test not done). A test whose mapped questions are all out of scope (an online-serving
    test for a batch-only team) cannot apply: it is left out rather than counted 0, and its
    section's sum is scaled back to the paper's 7 (sum x 7 / applicable tests; None when no
    test of the section applies). The overall score is the minimum of the sections, as the
    paper defines it. Without out-of-scope questions this is exactly the paper's score.
    """
    mapped: dict[str, list[str]] = {test: [] for test in ML_TEST_SCORE}
    for key, refs in question_refs.items():
        for ref in refs:
            prefix, _, item = ref.partition(":")
            if prefix == "mlts" and item in mapped:
                mapped[item].append(key)
    excluded = set(out_of_scope)
    tests = []
    for test, title in ML_TEST_SCORE.items():
        answered = [question_means[key] for key in mapped[test] if key in question_means]
        points = ml_test_points(sum(answered) / len(answered)) if answered else None
        applies = not mapped[test] or not set(mapped[test]) <= excluded
        tests.append(MlTestItem(test, title, points, tuple(sorted(mapped[test])), applies))
    per_section = len(ML_TEST_SCORE) // len(ML_TEST_SCORE_SECTIONS)
    sections: dict[str, float | None] = {}
    applicable: dict[str, int] = {}
    for section in ML_TEST_SCORE_SECTIONS:
        own = [t for t in tests if t.test.startswith(f"{section}-") and t.applicable]
        applicable[section] = len(own)
        total = sum(test.points or 0.0 for test in own)
        sections[section] = total * per_section / len(own) if own else None
    overall = min((value for value in sections.values() if value is not None), default=0.0)
    reading = next(text for bound, text in ML_TEST_SCORE_BANDS if overall <= bound)
    return MlTestScore(sections, tests, overall, reading, applicable)
