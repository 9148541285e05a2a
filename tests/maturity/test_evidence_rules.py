"""Check rules: validation against the fact catalogue, three-valued evaluation, verdicts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from maturity.evidence.facts import BUILTIN_FACTS, FactSpec
from maturity.evidence.paths import compile_glob, glob_filter
from maturity.evidence.rules import (
    MAX_DEPTH,
    AllOf,
    AnyOf,
    CheckOutcome,
    Leaf,
    Not,
    Rule,
    RuleError,
    evaluate,
    evidence_cap,
    parse_rule,
    question_verdict,
    rule_problems,
    rule_to_data,
)

AT = datetime(2026, 12, 1, 12, tzinfo=UTC)


def problems(data: object, catalogue=BUILTIN_FACTS) -> list[str]:
    return [str(problem) for problem in rule_problems(data, catalogue)]


# --- Validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param(
            {"any": [{"fact": "repo.paths", "op": "globb", "value": "**/Dockerfile"}]},
            "any[0].op: unknown operator 'globb'",
            id="unknown-operator",
        ),
        pytest.param(
            {"fact": "repo.dockerfile", "op": "len_gte", "value": 1},
            "fact: unknown fact 'repo.dockerfile'",
            id="unknown-fact",
        ),
        pytest.param(
            {"fact": "repo.dvc", "op": "gte", "value": 1},
            "op: gte does not apply to repo.dvc (a bool fact)",
            id="numeric-op-on-bool",
        ),
        pytest.param(
            {"fact": "repo.dvc", "op": "eq", "value": "yes"},
            "value: eq on a bool fact needs true or false, got 'yes'",
            id="eq-wrong-type",
        ),
        pytest.param(
            {"fact": "ci.runs", "op": "eq", "value": 2.5},
            "value: eq on a int fact needs an integer, got 2.5",
            id="eq-float-on-int",
        ),
        pytest.param(
            {"fact": "ci.runs", "op": "eq", "value": True},
            "value: eq on a int fact needs an integer, got True",
            id="eq-bool-on-int",
        ),
        pytest.param(
            {"fact": "dora.change_failure_rate", "op": "lte", "value": "low"},
            "value: lte needs a number, got 'low'",
            id="compare-with-string",
        ),
        pytest.param(
            {"fact": "ci.deploy_jobs", "op": "len_gte", "value": -1},
            "value: len_gte needs an integer >= 0, got -1",
            id="negative-length",
        ),
        pytest.param(
            {"fact": "ci.deploy_jobs", "op": "len_gte"},
            "value: len_gte needs a value",
            id="missing-value",
        ),
        pytest.param(
            {"fact": "scorecard.score", "op": "exists", "value": True},
            "value: exists takes no value",
            id="exists-with-value",
        ),
        pytest.param(
            {"fact": "deps.monitoring", "op": "contains_any", "value": []},
            "value: contains_any needs a non-empty list of strings",
            id="empty-contains-any",
        ),
        pytest.param(
            {"fact": "deps.monitoring", "op": "contains_any", "value": "mlflow"},
            "value: contains_any needs a non-empty list of strings",
            id="contains-any-string",
        ),
        pytest.param(
            {"fact": "repo.paths", "op": "glob", "value": ""},
            "value: glob needs a non-empty string",
            id="empty-glob",
        ),
        pytest.param(
            {"fact": "ci.success_rate", "op": "glob", "value": "*"},
            "op: glob does not apply to ci.success_rate (a float fact)",
            id="glob-on-number",
        ),
        pytest.param(
            {"all": []},
            "all: all needs a non-empty list of rules",
            id="empty-all",
        ),
        pytest.param(
            {"any": {"fact": "repo.dvc", "op": "exists"}},
            "any: any needs a non-empty list of rules",
            id="any-of-a-mapping",
        ),
        pytest.param(
            {"all": [{"fact": "repo.dvc", "op": "exists"}], "not": {"fact": "repo.dvc"}},
            "a node is exactly one of all, any, not or a leaf; got all, not",
            id="two-combinators",
        ),
        pytest.param(
            {"fact": "repo.dvc", "op": "eq", "value": True, "weight": 2},
            "unknown key(s) in a leaf: weight",
            id="extra-leaf-key",
        ),
        pytest.param(["repo.dvc"], "a rule node must be a mapping", id="not-a-mapping"),
        pytest.param(
            {"not": {"op": "exists"}}, "not.fact: a leaf needs a fact name", id="leaf-no-fact"
        ),
    ],
)
def test_a_bad_rule_is_refused_with_its_path_and_problem(rule, expected):
    found = problems(rule)
    assert any(problem.startswith(expected) for problem in found), found
    with pytest.raises(RuleError):
        parse_rule(rule)


def nested(depth: int) -> dict:
    rule: dict = {"fact": "repo.dvc", "op": "eq", "value": True}
    for _ in range(depth - 1):
        rule = {"not": rule}
    return rule


def test_rules_may_nest_eight_levels_and_no_deeper():
    assert MAX_DEPTH == 8
    assert problems(nested(8)) == []
    assert problems(nested(9)) == [
        "not.not.not.not.not.not.not.not: the rule nests deeper than 8 levels"
    ]


def test_every_problem_of_a_rule_is_reported():
    rule = {
        "all": [
            {"fact": "repo.nope", "op": "exists"},
            {"any": [{"fact": "ci.runs", "op": "gte", "value": "x"}]},
        ]
    }
    assert problems(rule) == [
        "all[0].fact: unknown fact 'repo.nope'",
        "all[1].any[0].value: gte needs a number, got 'x'",
    ]


def test_the_catalogue_is_a_parameter_so_plug_in_facts_validate():
    rule = {"fact": "acme.model_registry", "op": "eq", "value": "mlflow"}
    assert problems(rule) == ["fact: unknown fact 'acme.model_registry'"]
    plug_in = {"acme.model_registry": FactSpec("acme.model_registry", "str", "registry used")}
    assert problems(rule, {**BUILTIN_FACTS, **plug_in}) == []
    # Without a catalogue only the shape, operator and value are checked.
    assert problems(rule, None) == []
    assert problems({"fact": "x", "op": "gte", "value": "y"}, None) == [
        "value: gte needs a number, got 'y'"
    ]


def test_a_parsed_rule_round_trips_to_its_data():
    data = {
        "all": [
            {"fact": "repo.paths", "op": "glob", "value": "**/Dockerfile"},
            {"not": {"fact": "scorecard.score", "op": "exists"}},
            {"any": [{"fact": "deps.monitoring", "op": "contains_any", "value": ["a", "b"]}]},
        ]
    }
    assert rule_to_data(parse_rule(data)) == data


# --- Evaluation ---------------------------------------------------------------------------------


def test_glob_details_name_the_pattern_and_the_matches():
    rule = {"fact": "repo.paths", "op": "glob", "value": "**/Dockerfile"}
    missing = evaluate(rule, {"repo.paths": ["README.md", "src/app.py"]})
    assert missing.passed is False
    assert missing.details == ["no path in repo.paths matches **/Dockerfile"]
    found = evaluate(rule, {"repo.paths": ["Dockerfile", "svc/api/Dockerfile", "Dockerfile.md"]})
    assert found.passed is True
    assert found.details == [
        "2 paths in repo.paths match **/Dockerfile: Dockerfile, svc/api/Dockerfile"
    ]


def test_list_details_say_empty_count_and_members():
    rule = {"fact": "ci.deploy_jobs", "op": "len_gte", "value": 1}
    assert evaluate(rule, {"ci.deploy_jobs": []}).details == ["ci.deploy_jobs is empty"]
    outcome = evaluate(rule, {"ci.deploy_jobs": ["deploy.yml:prod", "deploy.yml:staging"]})
    assert outcome.passed is True
    assert outcome.details == ["ci.deploy_jobs has 2 entries: deploy.yml:prod, deploy.yml:staging"]
    short = evaluate({**rule, "value": 3}, {"ci.deploy_jobs": ["a:b"]})
    assert (short.passed, short.details) == (False, ["ci.deploy_jobs has 1 entry (needs 3): a:b"])
    tracking = {"fact": "deps.experiment_tracking", "op": "contains_any", "value": ["mlflow"]}
    assert evaluate(tracking, {"deps.experiment_tracking": ["mlflow"]}).details == [
        "deps.experiment_tracking has mlflow"
    ]
    assert evaluate(tracking, {"deps.experiment_tracking": ["wandb"]}).details == [
        "deps.experiment_tracking has none of mlflow"
    ]


def test_comparisons_and_equality_say_the_value_seen():
    fast = {"fact": "dora.deployment_frequency_per_week", "op": "gte", "value": 1}
    outcome = evaluate(fast, {"dora.deployment_frequency_per_week": 0.25})
    assert (outcome.passed, outcome.details) == (
        False,
        ["dora.deployment_frequency_per_week is 0.25 (not >= 1)"],
    )
    owner = {"fact": "repo.has_codeowners", "op": "eq", "value": True}
    assert evaluate(owner, {"repo.has_codeowners": False}).details == [
        "repo.has_codeowners is false, not true"
    ]
    lifecycle = {"fact": "catalog.lifecycle", "op": "ne", "value": "experimental"}
    assert evaluate(lifecycle, {"catalog.lifecycle": "production"}).passed is True
    substring = {"fact": "catalog.owner", "op": "contains", "value": "team-"}
    assert evaluate(substring, {"catalog.owner": "group:ml"}).details == [
        "catalog.owner 'group:ml' does not contain 'team-'"
    ]


def test_an_absent_fact_is_unknown_and_never_false():
    rule = {"fact": "dora.change_failure_rate", "op": "lte", "value": 0.15}
    for facts in ({}, {"dora.change_failure_rate": None}):
        outcome = evaluate(rule, facts)
        assert outcome.passed is None
        assert outcome.details == ["dora.change_failure_rate is unknown (absent from the snapshot)"]
        assert outcome.facts == {"dora.change_failure_rate": None}
    assert evaluate({"not": rule}, {}).passed is None


def test_exists_reads_absence_as_false():
    rule = {"fact": "scorecard.score", "op": "exists"}
    assert evaluate(rule, {}).passed is False
    assert evaluate(rule, {"scorecard.score": 7.5}).passed is True
    assert evaluate({"not": rule}, {}).details == ["scorecard.score is absent"]


def test_a_fact_of_an_unexpected_type_is_unknown_with_a_reason():
    outcome = evaluate({"fact": "ci.runs", "op": "gte", "value": 1}, {"ci.runs": "many"})
    assert outcome.passed is None
    assert "unexpected value 'many'" in outcome.details[0]


def test_details_come_from_the_leaves_that_decided():
    rule = {
        "all": [
            {"fact": "repo.dvc", "op": "eq", "value": True},
            {"fact": "ci.deploy_jobs", "op": "len_gte", "value": 1},
            {"fact": "ci.runs", "op": "gte", "value": 1},
        ]
    }
    facts = {"repo.dvc": True, "ci.deploy_jobs": []}
    outcome = evaluate(rule, facts)
    assert outcome.passed is False
    assert outcome.details == ["ci.deploy_jobs is empty"]
    assert outcome.facts == {"repo.dvc": True, "ci.deploy_jobs": [], "ci.runs": None}
    unknown = evaluate(rule, {**facts, "ci.deploy_jobs": ["d:p"]})
    assert (unknown.passed, unknown.details) == (
        None,
        ["ci.runs is unknown (absent from the snapshot)"],
    )
    either = {"any": rule["all"]}
    assert evaluate(either, facts).details == ["repo.dvc is true"]


def test_outcome_facts_cut_lists_to_twenty_items():
    paths = [f"f{i}.py" for i in range(50)]
    outcome = evaluate({"fact": "repo.paths", "op": "len_gte", "value": 1}, {"repo.paths": paths})
    assert outcome.facts == {"repo.paths": paths[:20]}
    assert outcome.details == [
        "repo.paths has 50 entries: f0.py, f1.py, f2.py, f3.py, f4.py, ... (45 more)"
    ]


def test_evaluating_malformed_data_raises_rule_error():
    with pytest.raises(RuleError, match="unknown operator 'globb'"):
        evaluate({"fact": "repo.paths", "op": "globb", "value": "x"}, {})


# A reference evaluator written from the truth tables (Kleene's strong three-valued logic),
# over leaves whose value is given directly, to check the combinators.
TRUTH = {True: 2, None: 1, False: 0}
FROM_TRUTH = {2: True, 1: None, 0: False}


def reference(node: Rule, leaf_values: dict[str, bool | None]) -> bool | None:
    if isinstance(node, Leaf):
        return leaf_values[node.fact]
    if isinstance(node, Not):
        return FROM_TRUTH[2 - TRUTH[reference(node.child, leaf_values)]]
    values = [TRUTH[reference(child, leaf_values)] for child in node.children]
    return FROM_TRUTH[min(values) if isinstance(node, AllOf) else max(values)]


FACT_NAMES = ["repo.dvc", "repo.mlproject", "repo.pre_commit", "repo.catalog_info"]
leaves = st.sampled_from(FACT_NAMES).map(lambda name: Leaf(name, "eq", True))
rules = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=4).map(lambda c: AllOf(tuple(c))),
        st.lists(children, min_size=1, max_size=4).map(lambda c: AnyOf(tuple(c))),
        children.map(Not),
    ),
    max_leaves=12,
)
assignments = st.fixed_dictionaries(
    {name: st.sampled_from([True, False, None]) for name in FACT_NAMES}
)


@settings(max_examples=300, deadline=None)
@given(rule=rules, values=assignments)
def test_all_any_not_agree_with_the_reference_kleene_evaluator(rule, values):
    facts = {name: value for name, value in values.items() if value is not None}
    outcome = evaluate(rule, facts)
    assert outcome.passed is reference(rule, values)
    assert outcome.details  # every result names at least one leaf behind it
    assert set(outcome.facts) <= set(FACT_NAMES)


# --- Verdicts -----------------------------------------------------------------------------------


def check(
    passed: bool | None,
    supports: int | None = None,
    contradicts: int | None = None,
    age_days: float = 1,
    fresh_days: int = 90,
    check_id: str = "c",
) -> CheckOutcome:
    return CheckOutcome(
        id=check_id,
        title="A check",
        passed=passed,
        supports=supports,
        contradicts=contradicts,
        fresh_days=fresh_days,
        collected_at=AT - timedelta(days=age_days),
    )


def test_verdicts_of_the_spec():
    passing, failing = check(True, supports=2), check(False, contradicts=2)
    assert question_verdict(3, True, [passing], AT, exempt=True) == "exempt"
    assert question_verdict(3, False, [passing], AT, exempt=False) == "unverified"
    assert question_verdict(None, True, [passing], AT, exempt=False) == "unverified"
    assert question_verdict(3, True, [], AT, exempt=False) == "unverified"
    # Evidence of level 2 confirms an answer of 2 (or 1), not a claim of 3.
    assert question_verdict(2, True, [passing], AT, exempt=False) == "confirmed"
    assert question_verdict(1, True, [passing], AT, exempt=False) == "confirmed"
    assert question_verdict(3, True, [passing], AT, exempt=False) == "unverified"
    assert question_verdict(0, True, [passing], AT, exempt=False) == "unverified"
    assert question_verdict(2, True, [failing], AT, exempt=False) == "contradicted"
    assert question_verdict(1, True, [failing], AT, exempt=False) == "unverified"
    assert question_verdict(2, True, [passing, failing], AT, exempt=False) == "contradicted"
    old = check(True, supports=2, age_days=91)
    assert question_verdict(2, True, [old], AT, exempt=False) == "stale"
    assert question_verdict(3, True, [old], AT, exempt=False) == "unverified"
    # Exactly fresh_days old is still fresh.
    assert question_verdict(2, True, [check(True, 2, age_days=90)], AT, exempt=False) == (
        "confirmed"
    )


def test_a_naive_collection_time_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        CheckOutcome("c", "t", True, 1, None, 90, datetime(2026, 1, 1))


outcomes = st.lists(
    st.builds(
        check,
        passed=st.sampled_from([True, False, None]),
        supports=st.none() | st.integers(1, 4),
        contradicts=st.none() | st.integers(1, 4),
        age_days=st.floats(0, 400),
        fresh_days=st.integers(1, 365),
    ),
    max_size=6,
)


def decides(outcome: CheckOutcome, answer: int) -> str | None:
    if (
        outcome.passed is False
        and outcome.contradicts is not None
        and answer >= outcome.contradicts
    ):
        return "contradicted"
    # A passing check confirms an answer only up to the level it supports.
    # Nor an answer of 0, which says the practice is absent.
    if outcome.passed is True and outcome.supports is not None and 0 < answer <= outcome.supports:
        return "confirmed"
    return None


@settings(max_examples=500, deadline=None)
@given(
    answer=st.none() | st.integers(0, 4),
    has_checks=st.booleans(),
    checks=outcomes,
    exempt=st.booleans(),
)
def test_question_verdict_invariants(answer, has_checks, checks, exempt):
    verdict = question_verdict(answer, has_checks, checks, AT, exempt)
    if exempt:
        assert verdict == "exempt"
        return
    assert verdict != "exempt"
    if not has_checks or answer is None or not checks:
        assert verdict == "unverified"
        return
    fresh_decisions = {decides(o, answer) for o in checks if o.is_fresh(AT)} - {None}
    stale_decisions = {decides(o, answer) for o in checks if not o.is_fresh(AT)} - {None}
    # Never both: a fresh contradiction wins over a fresh confirmation.
    if "contradicted" in fresh_decisions:
        assert verdict == "contradicted"
    elif fresh_decisions:
        assert verdict == "confirmed"
    # Fresh evidence decides before stale evidence is looked at.
    elif stale_decisions:
        assert verdict == "stale"
    else:
        assert verdict == "unverified"
    if verdict == "stale":
        assert stale_decisions and not fresh_decisions


@settings(max_examples=500, deadline=None)
@given(checks=outcomes, max_score=st.integers(1, 4))
def test_evidence_cap_invariants(checks, max_score):
    cap = evidence_cap(checks, AT, max_score)
    fresh_decided = [o for o in checks if o.is_fresh(AT) and o.passed is not None]
    if not fresh_decided:
        assert cap is None
        return
    assert cap is not None and 0 <= cap <= max_score
    supported = [o.supports for o in fresh_decided if o.passed and o.supports is not None]
    if supported:
        assert cap >= min(max(supported), max_score)
    if not any(o.supports is not None for o in checks):
        assert cap == max_score


def test_evidence_cap_is_the_evidenced_level_or_just_below_the_first_check():
    low, high = check(True, supports=2, check_id="low"), check(False, supports=3, check_id="high")
    assert evidence_cap([low, high], AT, 4) == 2
    assert evidence_cap([check(False, supports=2), high], AT, 4) == 1
    assert evidence_cap([check(True, supports=3), check(True, supports=4)], AT, 4) == 4
    assert evidence_cap([check(None, supports=2)], AT, 4) is None
    assert evidence_cap([check(True, supports=2, age_days=100)], AT, 4) is None
    assert evidence_cap([check(False, contradicts=2)], AT, 4) == 4
    assert evidence_cap([check(False, supports=1)], AT, 4) == 0


# --- glob_filter's shortcut (a literal run in no path: nothing matches) ----------------------


@pytest.mark.filterwarnings("ignore:Possible (nested set|set difference):FutureWarning")
@settings(max_examples=500, deadline=None)
@given(
    pattern=st.text(alphabet="ab/*?[]!.\n", max_size=10),
    candidates=st.lists(st.text(alphabet="ab/.[]\n", max_size=10), max_size=8),
)
def test_glob_filter_keeps_exactly_the_paths_the_pattern_matches(pattern, candidates):
    try:
        regex = compile_glob(pattern)
    except re.error:
        assume(False)
    expected = [path for path in candidates if regex.match(path)]
    assert glob_filter(pattern, candidates) == expected


def test_glob_filter_skips_what_no_path_contains_and_keeps_order():
    candidates = ["svc/b/Dockerfile", "README.md", "Dockerfile", "svc/Dockerfile.prod"]
    assert glob_filter("**/Dockerfile", candidates) == ["svc/b/Dockerfile", "Dockerfile"]
    assert glob_filter("**/Containerfile", candidates) == []
    assert glob_filter("**", candidates) == candidates
