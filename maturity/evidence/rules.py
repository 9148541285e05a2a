"""Check rules: conditions over collected facts, their evaluation, and a question's verdict.

A rule is data (a framework file writes it in YAML; docs/evidence-rules.md is the reference).
A node is exactly one of::

    {all: [node, ...]}      every child holds
    {any: [node, ...]}      some child holds
    {not: node}             the child does not hold
    {fact: <name>, op: <op>, value: <v>}   a leaf (no value for ``exists``)

Leaves compare one fact with a value (``OPERATORS`` says which fact types and values each
operator takes). ``parse_rule`` validates a rule against a fact catalogue (name ->
``FactSpec``; by default ``facts.BUILTIN_FACTS``) and returns typed nodes; ``rule_problems``
returns every problem with its path inside the rule (``any[0].op``). Nesting is limited to
``MAX_DEPTH`` levels (a leaf alone is one level).

Evaluation is three-valued (Kleene): a leaf over an absent fact is unknown (None), ``all``
is false if a child is false, else unknown if a child is unknown; ``any`` dually; ``not``
keeps unknown. So a snapshot without a CI run history or a Scorecard result never
contradicts an answer through a ``dora.*`` or ``scorecard.*`` leaf. ``exists`` is the one
operator that reads absence: it is false, not unknown, for an absent fact.

The verdict of a (team, question) combines the outcomes of the question's checks with the
team's answer (``question_verdict``); under a framework's ``evidence_policy: cap`` an answer
counts at most ``evidence_cap``. Both follow notes/evidence-spec.md, section Rules.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import repeat
from typing import Literal, TypeAlias, cast

from maturity.evidence.facts import BUILTIN_FACTS, FactSpec, FactType
from maturity.evidence.paths import glob_filter

MAX_DEPTH = 8
# Lists in Outcome.facts and in details are cut to this many items (the spec's 20), and
# details name at most DETAIL_ITEMS of them: a sentence, not a dump.
MAX_FACT_ITEMS = 20
DETAIL_ITEMS = 5

Op = Literal[
    "exists", "eq", "ne", "gt", "gte", "lt", "lte", "contains", "contains_any", "glob", "len_gte"
]
Verdict = Literal["confirmed", "contradicted", "unverified", "stale", "exempt"]

NUMERIC: frozenset[FactType] = frozenset({"int", "float"})
SCALAR: frozenset[FactType] = frozenset({"bool", "int", "float", "str"})
LIST: frozenset[FactType] = frozenset({"list[str]"})
ALL_TYPES: frozenset[FactType] = SCALAR | LIST


@dataclass(frozen=True)
class Operator:
    """What an operator accepts: the fact types it reads and a description of its value."""

    fact_types: frozenset[FactType]
    value: str


OPERATORS: dict[str, Operator] = {
    "exists": Operator(ALL_TYPES, "no value"),
    "eq": Operator(SCALAR, "a value of the fact's type"),
    "ne": Operator(SCALAR, "a value of the fact's type"),
    "gt": Operator(NUMERIC, "a number"),
    "gte": Operator(NUMERIC, "a number"),
    "lt": Operator(NUMERIC, "a number"),
    "lte": Operator(NUMERIC, "a number"),
    "contains": Operator(LIST | {"str"}, "a string (an element of a list, a substring of a str)"),
    "contains_any": Operator(LIST, "a non-empty list of strings"),
    "glob": Operator(LIST, "a glob pattern (paths.py syntax, e.g. **/Dockerfile)"),
    "len_gte": Operator(LIST, "an integer >= 0"),
}

# --- The rule tree ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Leaf:
    fact: str
    op: Op
    value: object = None


@dataclass(frozen=True)
class AllOf:
    children: tuple[Rule, ...]


@dataclass(frozen=True)
class AnyOf:
    children: tuple[Rule, ...]


@dataclass(frozen=True)
class Not:
    child: Rule


Rule: TypeAlias = "Leaf | AllOf | AnyOf | Not"


@dataclass(frozen=True)
class RuleProblem:
    """A problem in a rule: ``path`` inside the rule (``any[0].op``; "" for the root)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class RuleError(ValueError):
    """A rule that does not validate; ``problems`` lists every reason found."""

    def __init__(self, problems: list[RuleProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(problem) for problem in problems))


def _join(path: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else part


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _value_fits_type(value: object, fact_type: FactType) -> bool:
    """Tell whether ``eq``/``ne`` can compare a fact of ``fact_type`` with ``value``."""
    if fact_type == "bool":
        return isinstance(value, bool)
    if fact_type == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if fact_type == "float":
        return _is_number(value)
    return fact_type == "str" and isinstance(value, str)


_TYPE_VALUES = {
    "bool": "true or false",
    "int": "an integer",
    "float": "a number",
    "str": "a string",
}


def _value_problem(op: str, value: object, fact_type: FactType | None) -> str | None:
    """Return why ``value`` does not suit ``op`` (over a fact of ``fact_type`` when known)."""
    if op in ("gt", "gte", "lt", "lte"):
        return None if _is_number(value) else f"{op} needs a number, got {value!r}"
    if op in ("contains", "glob"):
        if not isinstance(value, str) or not value:
            return f"{op} needs a non-empty string, got {value!r}"
        return None
    if op == "contains_any":
        if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
            return f"contains_any needs a non-empty list of strings, got {value!r}"
        return None
    if op == "len_gte":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return f"len_gte needs an integer >= 0, got {value!r}"
        return None
    # eq, ne: a scalar; of the fact's own type when the fact is known.
    if fact_type is None:
        scalar = isinstance(value, bool | str) or _is_number(value)
        return None if scalar else f"{op} needs a bool, number or string, got {value!r}"
    if not _value_fits_type(value, fact_type):
        wanted = _TYPE_VALUES.get(fact_type, fact_type)
        return f"{op} on a {fact_type} fact needs {wanted}, got {value!r}"
    return None


def _leaf_problems(
    data: Mapping[str, object], path: str, catalogue: Mapping[str, FactSpec] | None
) -> list[RuleProblem]:
    problems: list[RuleProblem] = []
    extra = sorted(set(data) - {"fact", "op", "value"})
    if extra:
        problems.append(RuleProblem(path, f"unknown key(s) in a leaf: {', '.join(extra)}"))
    fact, op = data.get("fact"), data.get("op")
    fact_type: FactType | None = None
    if not isinstance(fact, str) or not fact:
        problems.append(RuleProblem(_join(path, "fact"), "a leaf needs a fact name"))
    elif catalogue is not None:
        if fact not in catalogue:
            problems.append(RuleProblem(_join(path, "fact"), f"unknown fact '{fact}'"))
        else:
            fact_type = catalogue[fact].type
    if not isinstance(op, str) or op not in OPERATORS:
        known = ", ".join(OPERATORS)
        problems.append(RuleProblem(_join(path, "op"), f"unknown operator {op!r} (known: {known})"))
        return problems
    if fact_type is not None and fact_type not in OPERATORS[op].fact_types:
        problems.append(
            RuleProblem(_join(path, "op"), f"{op} does not apply to {fact} (a {fact_type} fact)")
        )
        return problems
    if op == "exists":
        if "value" in data:
            problems.append(RuleProblem(_join(path, "value"), "exists takes no value"))
        return problems
    if "value" not in data:
        problems.append(RuleProblem(_join(path, "value"), f"{op} needs a value"))
        return problems
    message = _value_problem(op, data["value"], fact_type)
    if message:
        problems.append(RuleProblem(_join(path, "value"), message))
    return problems


def _node_problems(
    data: object, path: str, depth: int, catalogue: Mapping[str, FactSpec] | None
) -> list[RuleProblem]:
    if depth > MAX_DEPTH:
        return [RuleProblem(path, f"the rule nests deeper than {MAX_DEPTH} levels")]
    if not isinstance(data, Mapping):
        return [RuleProblem(path, f"a rule node must be a mapping, got {data!r}")]
    combinators = [key for key in ("all", "any", "not") if key in data]
    if not combinators:
        return _leaf_problems(data, path, catalogue)
    if len(data) != 1:
        keys = ", ".join(sorted(map(str, data)))
        return [RuleProblem(path, f"a node is exactly one of all, any, not or a leaf; got {keys}")]
    key = combinators[0]
    inner = data[key]
    if key == "not":
        return _node_problems(inner, _join(path, "not"), depth + 1, catalogue)
    if not isinstance(inner, list) or not inner:
        return [RuleProblem(_join(path, key), f"{key} needs a non-empty list of rules")]
    return [
        problem
        for index, child in enumerate(inner)
        for problem in _node_problems(child, f"{_join(path, key)}[{index}]", depth + 1, catalogue)
    ]


def rule_problems(
    data: object, catalogue: Mapping[str, FactSpec] | None = BUILTIN_FACTS
) -> list[RuleProblem]:
    """Return every problem of the rule ``data`` (parsed YAML/JSON), [] when it is valid.

    Checks the shape of each node, the operator, that the value suits the operator, and,
    with a ``catalogue``, that each fact is in it and the operator applies to its type
    (``catalogue=None`` skips the fact checks, e.g. when re-reading stored rules).
    """
    return _node_problems(data, "", 1, catalogue)


def _build(data: Mapping[str, object]) -> Rule:
    """Return the typed tree of ``data``, which rule_problems found valid."""
    if "not" in data:
        return Not(_build(cast(Mapping[str, object], data["not"])))
    for key, node in (("all", AllOf), ("any", AnyOf)):
        if key in data:
            children = cast(list[Mapping[str, object]], data[key])
            return node(tuple(_build(child) for child in children))
    return Leaf(str(data["fact"]), cast(Op, data["op"]), data.get("value"))


def parse_rule(data: object, catalogue: Mapping[str, FactSpec] | None = BUILTIN_FACTS) -> Rule:
    """Validate ``data`` (see ``rule_problems``) and return its typed tree.

    Raises RuleError with every problem found.
    """
    problems = rule_problems(data, catalogue)
    if problems:
        raise RuleError(problems)
    return _build(cast(Mapping[str, object], data))


def rule_to_data(rule: Rule) -> dict[str, object]:
    """Return the plain-data form of ``rule`` (what a framework file would write)."""
    if isinstance(rule, AllOf):
        return {"all": [rule_to_data(child) for child in rule.children]}
    if isinstance(rule, AnyOf):
        return {"any": [rule_to_data(child) for child in rule.children]}
    if isinstance(rule, Not):
        return {"not": rule_to_data(rule.child)}
    leaf: dict[str, object] = {"fact": rule.fact, "op": rule.op}
    if rule.op != "exists":
        leaf["value"] = rule.value
    return leaf


def rule_facts(rule: Rule) -> list[str]:
    """Return the fact names ``rule`` reads, in order of first appearance."""
    if isinstance(rule, Leaf):
        return [rule.fact]
    children = rule.children if isinstance(rule, AllOf | AnyOf) else (rule.child,)
    return list(dict.fromkeys(name for child in children for name in rule_facts(child)))


# --- Evaluation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """The result of a rule over a snapshot's facts.

    ``passed``: True, False or None (unknown). ``details``: one sentence per leaf that
    decided the result (for an unknown result, the leaves that were unknown). ``facts``:
    the facts the rule read, lists cut to MAX_FACT_ITEMS items; an absent fact is None.
    """

    passed: bool | None
    details: list[str]
    facts: dict[str, object]


def _quote(value: object) -> str:
    """Return ``value`` as a detail shows it: strings quoted, booleans as YAML writes them."""
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _some(items: Sequence[str]) -> str:
    shown = ", ".join(items[:DETAIL_ITEMS])
    more = len(items) - DETAIL_ITEMS
    return f"{shown}, ... ({more} more)" if more > 0 else shown


def _entries(count: int) -> str:
    return f"{count} entry" if count == 1 else f"{count} entries"


_COMPARE: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "gt": (">", lambda a, b: a > b),
    "gte": (">=", lambda a, b: a >= b),
    "lt": ("<", lambda a, b: a < b),
    "lte": ("<=", lambda a, b: a <= b),
}


def _wrong_type(leaf: Leaf, actual: object) -> tuple[bool | None, str]:
    return None, f"{leaf.fact} has an unexpected value {actual!r} for {leaf.op}; treated as unknown"


def _list_leaf(leaf: Leaf, actual: list[str]) -> tuple[bool | None, str]:
    name = leaf.fact
    if leaf.op == "glob":
        pattern = str(leaf.value)
        matching = glob_filter(pattern, actual)
        if len(matching) == 1:
            return True, f"1 path in {name} matches {pattern}: {matching[0]}"
        if matching:
            return True, f"{len(matching)} paths in {name} match {pattern}: {_some(matching)}"
        return False, f"no path in {name} matches {pattern}"
    if leaf.op == "len_gte":
        wanted = cast(int, leaf.value)
        passed = len(actual) >= wanted
        if not actual:
            return passed, f"{name} is empty"
        needs = "" if passed else f" (needs {wanted})"
        return passed, f"{name} has {_entries(len(actual))}{needs}: {_some(actual)}"
    if leaf.op == "contains":
        if leaf.value in actual:
            return True, f"{name} has {leaf.value}"
        return False, f"{name} does not have {leaf.value}"
    wanted_any = cast(list[str], leaf.value)
    shared = [item for item in wanted_any if item in actual]
    if shared:
        return True, f"{name} has {_some(shared)}"
    return False, f"{name} has none of {_some(wanted_any)}"


def _scalar_leaf(leaf: Leaf, actual: object) -> tuple[bool | None, str]:
    name, value = leaf.fact, leaf.value
    if leaf.op in _COMPARE:
        if not _is_number(actual) or isinstance(actual, bool):
            return _wrong_type(leaf, actual)
        sign, compare = _COMPARE[leaf.op]
        passed = compare(cast(float, actual), cast(float, value))
        return passed, f"{name} is {actual} ({'' if passed else 'not '}{sign} {value})"
    if leaf.op == "contains":
        if not isinstance(actual, str):
            return _wrong_type(leaf, actual)
        passed = str(value) in actual
        verb = "contains" if passed else "does not contain"
        return passed, f"{name} {_quote(actual)} {verb} {_quote(value)}"
    # eq / ne: a bool never equals a number here (True == 1 in Python).
    equal = actual == value and isinstance(actual, bool) == isinstance(value, bool)
    passed = equal if leaf.op == "eq" else not equal
    if equal:
        return passed, f"{name} is {_quote(actual)}"
    return passed, f"{name} is {_quote(actual)}, not {_quote(value)}"


def _leaf(leaf: Leaf, facts: Mapping[str, object]) -> tuple[bool | None, str]:
    actual = facts.get(leaf.fact)
    if leaf.op == "exists":
        present = actual is not None
        return present, f"{leaf.fact} is {'present' if present else 'absent'}"
    if actual is None:
        return None, f"{leaf.fact} is unknown (absent from the snapshot)"
    if leaf.op in ("glob", "len_gte", "contains_any") or (
        leaf.op == "contains" and isinstance(actual, list)
    ):
        if not isinstance(actual, list) or not all(map(isinstance, actual, repeat(str))):
            return _wrong_type(leaf, actual)
        return _list_leaf(leaf, actual)
    if isinstance(actual, list):
        return _wrong_type(leaf, actual)
    return _scalar_leaf(leaf, actual)


def kleene_all(values: Iterable[bool | None]) -> bool | None:
    """Return False if any value is False, else None if any is None, else True."""
    result: bool | None = True
    for value in values:
        if value is False:
            return False
        if value is None:
            result = None
    return result


def kleene_any(values: Iterable[bool | None]) -> bool | None:
    """Return True if any value is True, else None if any is None, else False."""
    result: bool | None = False
    for value in values:
        if value is True:
            return True
        if value is None:
            result = None
    return result


def _evaluate(rule: Rule, facts: Mapping[str, object]) -> tuple[bool | None, list[str]]:
    """Return the value of ``rule`` and the sentences of the leaves that decided it."""
    if isinstance(rule, Leaf):
        passed, sentence = _leaf(rule, facts)
        return passed, [sentence]
    if isinstance(rule, Not):
        passed, details = _evaluate(rule.child, facts)
        return (None if passed is None else not passed), details
    results = [_evaluate(child, facts) for child in rule.children]
    values = [passed for passed, _ in results]
    passed = kleene_all(values) if isinstance(rule, AllOf) else kleene_any(values)
    # The children that decided: for all, the false ones when false; for any, the true ones
    # when true; the unknown ones when unknown; every child otherwise.
    deciding = results
    if passed is None or passed is isinstance(rule, AnyOf):
        deciding = [result for result in results if result[0] is passed]
    return passed, [sentence for _, details in deciding for sentence in details]


def _shown(value: object) -> object:
    return value[:MAX_FACT_ITEMS] if isinstance(value, list) else value


def evaluate(rule: Rule | Mapping[str, object], facts: Mapping[str, object]) -> Outcome:
    """Evaluate ``rule`` over ``facts`` (fact name -> value; absent or None: unknown).

    A rule given as plain data is validated first without a catalogue (RuleError when it
    is malformed). A fact whose value has an unexpected type (a plug-in bug) makes its leaf
    unknown, with a sentence saying so, rather than failing the evaluation.
    """
    tree = rule if isinstance(rule, Leaf | AllOf | AnyOf | Not) else parse_rule(rule, None)
    passed, details = _evaluate(tree, facts)
    read = {name: _shown(facts.get(name)) for name in rule_facts(tree)}
    return Outcome(passed, list(dict.fromkeys(details)), read)


# --- Verdicts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckOutcome:
    """A check of a question evaluated over one snapshot of a team's repository.

    ``supports``/``contradicts`` are choice scores (see schema.CheckSpec); ``collected_at``
    (timezone-aware) is when the snapshot's facts were collected; the outcome is fresh for
    ``fresh_days`` days after it.
    """

    id: str
    title: str
    passed: bool | None
    supports: int | None
    contradicts: int | None
    fresh_days: int
    collected_at: datetime
    details: list[str] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        if self.collected_at.tzinfo is None or self.collected_at.utcoffset() is None:
            raise ValueError(f"check {self.id}: collected_at must be timezone-aware")
        if self.fresh_days < 1:
            raise ValueError(f"check {self.id}: fresh_days must be >= 1, got {self.fresh_days}")

    def is_fresh(self, at: datetime) -> bool:
        """Tell whether the outcome is at most ``fresh_days`` days old at ``at``."""
        return at - self.collected_at <= timedelta(days=self.fresh_days)


def _decision(outcomes: Iterable[CheckOutcome], answer_choice: int) -> Verdict | None:
    """Return what ``outcomes`` say about an answer at ``answer_choice``, None if nothing.

    Contradiction wins over confirmation: evidence against a claim outweighs evidence for a
    lower part of it. A passing check confirms only an answer at or below the level it
    supports: a Dockerfile (supports 1) shows a packaging definition, not the gated canary
    release a team answering 4 claims, so that answer stays unverified. Nor does it
    confirm an answer of 0, which says the practice is absent.
    """
    outcomes = list(outcomes)
    if any(
        o.passed is False and o.contradicts is not None and answer_choice >= o.contradicts
        for o in outcomes
    ):
        return "contradicted"
    if any(
        o.passed is True and o.supports is not None and 0 < answer_choice <= o.supports
        for o in outcomes
    ):
        return "confirmed"
    return None


def question_verdict(
    answer_choice: int | None,
    has_checks: bool,
    outcomes: list[CheckOutcome],
    at: datetime,
    exempt: bool,
) -> Verdict:
    """Return what the evidence says about a team's answer to one question at ``at``.

    ``exempt`` (the team is excused from evidence for this question) wins; a question
    without checks, an unanswered question (or don't know / N/A: ``answer_choice`` None) or
    one with no outcome yet is ``unverified``. Fresh outcomes decide first: ``contradicted``
    when a failing check's ``contradicts`` level is at or below the answer, else
    ``confirmed`` when a passing check's ``supports`` level is at or above it; when no fresh
    outcome decides but an outdated one would have, ``stale``; otherwise ``unverified``.
    The rule is documented in docs/evidence-rules.md ("Verdicts").
    """
    if exempt:
        return "exempt"
    if not has_checks or answer_choice is None or not outcomes:
        return "unverified"
    fresh = [outcome for outcome in outcomes if outcome.is_fresh(at)]
    decided = _decision(fresh, answer_choice)
    if decided is not None:
        return decided
    stale = [outcome for outcome in outcomes if not outcome.is_fresh(at)]
    return "stale" if _decision(stale, answer_choice) is not None else "unverified"


def evidence_cap(outcomes: list[CheckOutcome], at: datetime, max_score: int) -> int | None:
    """Return the highest choice an answer may count at under ``evidence_policy: cap``.

    None (no cap) when no fresh outcome is decided (passed True or False). Otherwise the
    larger of the highest ``supports`` among fresh passing checks and one below the lowest
    ``supports`` of all the checks, clipped to 0..max_score: the level the evidence
    supports, or just under the first level a check could have supported. Checks without
    ``supports`` do not cap; with none, the cap is ``max_score``. Documented in
    docs/evidence-rules.md ("Evidence policy").
    """
    fresh = [outcome for outcome in outcomes if outcome.is_fresh(at)]
    if not any(outcome.passed is not None for outcome in fresh):
        return None
    supports = [outcome.supports for outcome in outcomes if outcome.supports is not None]
    if not supports:
        return max_score
    evidenced = [
        outcome.supports
        for outcome in fresh
        if outcome.passed is True and outcome.supports is not None
    ]
    cap = max([*evidenced, min(supports) - 1])
    return max(0, min(cap, max_score))
