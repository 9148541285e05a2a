"""The shipped framework (maturity/frameworks/mlops.yaml) is complete and traceable to the seed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The seed text the content derives from, copied into the repo so the check is self-contained.
SEED = ROOT / "maturity" / "frameworks" / "seed" / "ml-devops-practices.txt"
SHARED_SEED = ROOT.parent / "shared" / "seed" / "ml-devops-practices.txt"
SECTIONS = ("Best Practices", "Common Challenges", "Core Responsibilities")
VAGUE = re.compile(r"\b(somewhat|partially|sometimes)\b", re.IGNORECASE)


def seed_headings() -> dict[str, list[str]]:
    """Return the headings of each seed section (the lines between section titles)."""
    lines = SEED.read_text(encoding="utf-8").splitlines()
    titles = {"Best Practices", "Common Challenges", "Core Responsibilities", "Requirements"}
    headings: dict[str, list[str]] = {}
    current = None
    for line in lines:
        if line in titles:
            current = line if line in SECTIONS else None
            headings.setdefault(line, [])
            continue
        if current is None:
            continue
        if current == "Core Responsibilities":
            # Groups are bullets without a verb-first sentence; the seed lists them as "- Name".
            if line.startswith("- ") and not line.endswith(".") and len(line.split()) <= 8:
                if line[2:] in CORE_GROUPS:
                    headings[current].append(line[2:])
        elif not line.startswith("-") and not line.startswith(("A Senior", "Senior ML")):
            headings[current].append(line)
    return headings


CORE_GROUPS = {
    "Leadership and Team Management",
    "Infrastructure Automation and Management",
    "CI/CD Pipeline Management",
    "Cross-Functional Collaboration",
    "Monitoring, Alerting, and Operational Excellence",
    "Technical Guidance and Project Management",
    "Cost Management and Security",
    "Process Improvement and Automation",
}


def test_repo_copy_of_the_seed_matches_the_shared_one():
    if not SHARED_SEED.exists():
        pytest.skip("no ../shared/seed beside this checkout")
    assert SEED.read_bytes() == SHARED_SEED.read_bytes()


def all_refs(spec) -> list[str]:
    return [ref for _, q in spec.questions() for ref in q.seed_refs] + [
        ref for d in spec.dimensions for ref in d.seed_refs
    ]


def test_seed_sections_parse_as_expected():
    headings = seed_headings()
    assert len(headings["Best Practices"]) == 10
    assert len(headings["Common Challenges"]) == 10
    assert "Governance and Access Control" in headings["Common Challenges"]


def test_framework_has_the_expected_shape(mlops_spec):
    questions = [q for _, q in mlops_spec.questions()]
    assert 10 <= len(mlops_spec.dimensions) <= 14
    assert 45 <= len(questions) <= 70
    assert [(lvl.number, lvl.threshold) for lvl in mlops_spec.levels] == [
        (0, 0),
        (1, 20),
        (2, 40),
        (3, 60),
        (4, 80),
    ]
    assert all(level.name and level.description for level in mlops_spec.levels)


def test_every_question_has_five_concrete_choices_with_next_steps(mlops_spec):
    for _, question in mlops_spec.questions():
        assert [c.score for c in question.choices] == [0, 1, 2, 3, 4], question.key
        for choice in question.choices:
            assert choice.label and choice.description, question.key
            assert not VAGUE.search(choice.label + " " + choice.description), question.key
            if choice.score < 4:
                assert choice.next_step and len(choice.next_step) > 20, question.key
            else:
                assert not choice.next_step, question.key
        assert question.guidance and len(question.guidance) > 60, question.key
        assert question.text.endswith("?"), question.key


def test_na_weights_and_prerequisites_are_used_sparingly(mlops_spec):
    questions = [q for _, q in mlops_spec.questions()]
    na = [q.key for q in questions if q.allow_na]
    assert 1 <= len(na) <= len(questions) // 5
    assert any(q.weight > 1 for q in questions)
    assert 5 <= sum(len(q.requires) for q in questions) <= 30
    automated = next(q for q in questions if q.key == "automated-deployment")
    assert "model-versioning" in automated.requires


def test_every_question_and_dimension_cites_an_existing_seed_heading(mlops_spec):
    headings = seed_headings()
    for ref in all_refs(mlops_spec):
        section, _, rest = ref.partition(" / ")
        heading, _, bullet = rest.partition(": ")
        assert section in SECTIONS, ref
        assert heading in headings[section], ref
        assert bullet, ref
    for dimension, question in mlops_spec.questions():
        assert question.seed_refs, question.key
        assert dimension.seed_refs, dimension.key


def test_every_best_practice_and_common_challenge_is_covered(mlops_spec):
    headings = seed_headings()
    cited = {
        tuple(ref.split(": ", 1)[0].split(" / ", 1))
        for _, q in mlops_spec.questions()
        for ref in q.seed_refs
    }
    for section in ("Best Practices", "Common Challenges"):
        missing = [h for h in headings[section] if (section, h) not in cited]
        assert missing == [], f"{section} headings without a question: {missing}"


def test_operational_responsibilities_are_covered(mlops_spec):
    keys = {q.key for _, q in mlops_spec.questions()}
    text = " ".join((q.text + " " + q.guidance).lower() for _, q in mlops_spec.questions())
    for topic in ("alert", "incident", "restore", "cost", "access"):
        assert topic in text, topic
    assert {"incident-management", "disaster-recovery", "cost-visibility"} <= keys


def test_shipped_framework_loads_into_the_database(mlops_framework, mlops_spec):
    assert mlops_framework.dimensions.count() == len(mlops_spec.dimensions)
    assert mlops_framework.questions.count() == sum(len(d.questions) for d in mlops_spec.dimensions)
    question = mlops_framework.questions.get(key="automated-deployment")
    assert question.choices.count() == 5
    assert question.seed_refs
