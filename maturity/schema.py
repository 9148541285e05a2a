"""Parse and validate framework files before anything is written (no Django here).

A framework file is YAML; its structure is checked with pydantic, then the rules that span
several fields (unique keys, contiguous choice scores, prerequisites that exist and form no
cycle, ascending thresholds, references into the known standards, ``applies_when`` naming
team-profile fields and values). Every problem is reported with the file and the path inside
it, e.g. ``mlops.yaml: dimensions[3].questions[2].choices: scores must be 0..4``.

Rules that need the earlier versions of the same framework (a ``replaces`` key must have
existed; a key that vanishes without a successor deserves a warning) take those keys as an
argument: see ``replaced_key_problems`` and ``disappeared_keys``. ``read_framework_directory``
and ``earlier_version_keys`` find them among the files of a directory.
"""

from __future__ import annotations

import graphlib
import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
)

from maturity.evidence.facts import BUILTIN_FACTS, FactSpec
from maturity.evidence.rules import rule_problems
from maturity.standards import ref_problem

Key = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=64)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
SeedRefs = Annotated[list[Text], Field(min_length=1)]

# The team profile (set per team and round) and the values a question's applies_when may
# name; issue 15 fixes these names for the YAML, the API and the database alike.
Scope = Literal["team", "platform", "org"]
Serving = Literal["none", "batch", "online", "streaming", "edge"]
ModelKind = Literal["classical", "deep-learning", "llm-api", "llm-fine-tuned", "agents"]
PROFILE_FIELDS = ("serving", "model_kinds", "gpu", "regulated")
LLM_KINDS = ("llm-api", "llm-fine-tuned", "agents")


def _unless(default: Any) -> Any:
    """Leave a field out of model_dump while it holds ``default``.

    Fields added after version 1 of the format are dumped only when set, so the content hash
    of a file that does not use them is the one stored when it was first loaded (a changed
    hash would make load_framework refuse the unchanged file of a version with answers).
    """
    return lambda value: value == default


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LevelSpec(_Strict):
    number: Annotated[int, Field(ge=0)]
    name: Text
    threshold: Annotated[float, Field(ge=0, le=100)]
    description: str = ""


class ChoiceSpec(_Strict):
    score: Annotated[int, Field(ge=0)]
    label: Text
    description: str = ""
    next_step: str | None = None
    # What an observer would look at to confirm this level (a file, a dashboard, a record).
    evidence: str = Field(default="", exclude_if=_unless(""))


class TeamProfile(_Strict):
    """What a team declares about its ML work (per team and round), as applies_when sees it.

    ``serving``: how its models are used (``none`` for teams whose models are not served);
    ``model_kinds``: what kinds of model it builds or uses; ``gpu``: it trains or serves on
    accelerators; ``regulated``: its models fall under a regulated or high-risk domain.
    """

    serving: list[Serving] = []
    model_kinds: list[ModelKind] = []
    gpu: StrictBool = False
    regulated: StrictBool = False


class AppliesWhen(_Strict):
    """The team profiles a question applies to; every field it names must match.

    A list field matches when the team's profile shares at least one value with it; a
    boolean field matches when it is equal. Fields not named do not restrict.
    """

    serving: Annotated[list[Serving], Field(min_length=1)] | None = None
    model_kinds: Annotated[list[ModelKind], Field(min_length=1)] | None = None
    gpu: StrictBool | None = None
    regulated: StrictBool | None = None

    def named_fields(self) -> list[str]:
        return [name for name in PROFILE_FIELDS if getattr(self, name) is not None]

    def matches(self, profile: TeamProfile) -> bool:
        """Tell whether a question with this condition applies to a team with ``profile``."""
        for name in self.named_fields():
            wanted, actual = getattr(self, name), getattr(profile, name)
            if isinstance(wanted, list):
                if not set(wanted) & set(actual):
                    return False
            elif wanted != actual:
                return False
        return True


class CheckSpec(_Strict):
    """Evidence that can confirm or contradict an answer (issue 16; docs/evidence-rules.md).

    ``rule`` is a condition over collected facts (maturity.evidence.rules). A passing check
    supports an answer at choice ``supports`` or above; a failing one contradicts an answer
    at ``contradicts`` or above; its outcome stays fresh for ``fresh_days`` days after the
    snapshot was collected.
    """

    id: Key
    title: Text
    rule: dict[str, Any]
    supports: Annotated[int, Field(ge=1)] | None = None
    contradicts: Annotated[int, Field(ge=1)] | None = None
    fresh_days: Annotated[int, Field(ge=1)] = 90


class QuestionSpec(_Strict):
    key: Key
    text: Text
    guidance: str = ""
    weight: Annotated[float, Field(gt=0)] = 1.0
    allow_na: bool = False
    requires: list[Key] = []
    seed_refs: SeedRefs
    # Fields added for version 2 of the framework (issue 15); all optional, so version 1
    # files load unchanged (and keep their content hash: see _unless).
    scope: Scope = Field(default="team", exclude_if=_unless("team"))
    applies_when: AppliesWhen | None = Field(default=None, exclude_if=_unless(None))
    refs: list[Text] = Field(default=[], exclude_if=_unless([]))
    why: str = Field(default="", exclude_if=_unless(""))
    replaces: list[Key] = Field(default=[], exclude_if=_unless([]))
    # Verification metadata (issue 16): not part of content_hash, see FrameworkSpec.
    checks: list[CheckSpec] = Field(default=[], exclude_if=_unless([]))
    choices: Annotated[list[ChoiceSpec], Field(min_length=2)]

    @property
    def max_score(self) -> int:
        return max(choice.score for choice in self.choices)

    def applies_to(self, profile: TeamProfile | None) -> bool:
        """Tell whether the question is shown to (and scored for) a team with ``profile``.

        A question without ``applies_when`` applies to every team, and so does every
        question to a team that has declared no profile.
        """
        return self.applies_when is None or profile is None or self.applies_when.matches(profile)


class DimensionSpec(_Strict):
    key: Key
    name: Text
    description: str = ""
    weight: Annotated[float, Field(gt=0)] = 1.0
    seed_refs: SeedRefs
    questions: Annotated[list[QuestionSpec], Field(min_length=1)]


class FrameworkSpec(_Strict):
    slug: Key
    version: Annotated[int, Field(ge=1)]
    title: Text
    description: str = ""
    published: bool = True
    levels: Annotated[list[LevelSpec], Field(min_length=2)]
    dimensions: Annotated[list[DimensionSpec], Field(min_length=1)]
    # What evidence does to scores (issue 16): "report" shows verdicts beside answers;
    # "cap" also counts an answer at most at the level its evidence supports.
    evidence_policy: Literal["report", "cap"] = Field(
        default="report", exclude_if=_unless("report")
    )

    def content_hash(self) -> str:
        """Return a stable hash of the content, independent of YAML formatting.

        Checks and the evidence policy are left out: they verify answers rather than define
        what was asked, so they may change on a version that has answers (checks_hash).
        """
        excluded: Any = {
            "evidence_policy": True,
            "dimensions": {"__all__": {"questions": {"__all__": {"checks"}}}},
        }
        canonical = json.dumps(self.model_dump(mode="json", exclude=excluded), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def checks_hash(self) -> str:
        """Return a stable hash of the checks of every question and the evidence policy.

        "" for a framework with no checks and the default policy: what a version loaded
        before checks existed stores (maturity migration 0003), so re-loading it is no change.
        """
        checks = {
            question.key: [check.model_dump(mode="json") for check in question.checks]
            for _, question in self.questions()
            if question.checks
        }
        if not checks and self.evidence_policy == "report":
            return ""
        canonical = json.dumps(
            {"checks": checks, "evidence_policy": self.evidence_policy}, sort_keys=True
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def questions(self) -> Iterable[tuple[DimensionSpec, QuestionSpec]]:
        for dimension in self.dimensions:
            for question in dimension.questions:
                yield dimension, question


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class FrameworkFileError(Exception):
    """A framework file that cannot be loaded; ``problems`` lists every reason found."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))


def _format_location(location: Iterable[str | int]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def parse_framework(
    data: Any,
    source: str = "<framework>",
    earlier_keys: Collection[str] | None = None,
    facts: Mapping[str, FactSpec] = BUILTIN_FACTS,
) -> FrameworkSpec:
    """Validate already-parsed YAML data and return the framework it describes.

    Raises FrameworkFileError listing every structural problem, or, when the structure is
    sound, every rule that spans fields. ``earlier_keys`` are the question keys of the
    earlier versions of the same slug; when given, every ``replaces`` entry must be one of
    them (see replaced_key_problems). None skips that check. ``facts`` is the fact
    catalogue check rules may name (name -> FactSpec; the built-in collectors' by default,
    the registry's with plug-ins: maturity.evidence.collectors.fact_catalogue).
    """
    if not isinstance(data, dict):
        raise FrameworkFileError(
            source, [Problem("", "the file must contain a mapping at the top level")]
        )
    try:
        spec = FrameworkSpec.model_validate(data)
    except ValidationError as error:
        problems = [
            Problem(_format_location(detail["loc"]), _message(detail)) for detail in error.errors()
        ]
        raise FrameworkFileError(source, problems) from None
    problems = list(_semantic_problems(spec, facts))
    if earlier_keys is not None:
        problems += replaced_key_problems(spec, earlier_keys)
    if problems:
        raise FrameworkFileError(source, problems)
    return spec


def _message(detail: Any) -> str:
    """Return pydantic's message, said in the file's terms where it would puzzle."""
    location = detail["loc"]
    if detail["type"] == "extra_forbidden" and len(location) >= 2:
        if location[-2] == "applies_when":
            known = ", ".join(PROFILE_FIELDS)
            return f"unknown team-profile field '{location[-1]}' (known: {known})"
    return str(detail["msg"])


def _duplicate_keys(node: yaml.Node, path: str = "") -> Iterable[Problem]:
    """Yield a problem for every mapping key that appears twice, with its path and lines.

    YAML says keys are unique, but PyYAML lets the last value win silently: a file with two
    ``weight:`` lines in one question would load whichever came last.
    """
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            here = f"{path}.{key}" if path and key is not None else (key or path)
            if key is not None and key in first_line:
                yield Problem(
                    path or "(top level)",
                    f"duplicate key '{key}' (lines {first_line[key]} and "
                    f"{key_node.start_mark.line + 1})",
                )
            elif key is not None:
                first_line[key] = key_node.start_mark.line + 1
            yield from _duplicate_keys(value_node, str(here))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, f"{path}[{index}]")


# libyaml's safe loader when PyYAML was built with it (its wheels are): 20x faster than the
# pure-Python one on a framework file, with the same errors and marks.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Deeper than any framework file needs (a question's choices sit 6 levels down); PyYAML
# parses recursively, so a hostile file 10,000 levels deep would exhaust the stack.
MAX_NESTING = 50


def _nesting_problem(text: str) -> Problem | None:
    """Return a problem if the YAML nests deeper than MAX_NESTING or uses an alias.

    Reads tokens only, so nothing recursive runs before the file is known to be shallow.
    Aliases (``*name``) are refused: no framework needs them, and a few of them nested can
    stand for millions of nodes ("billion laughs").
    """
    depth = 0
    for token in yaml.scan(text, Loader=_LOADER):
        if isinstance(token, yaml.AliasToken):
            mark = token.start_mark
            return Problem(
                f"line {mark.line + 1}, column {mark.column + 1}",
                "aliases (*name) are not allowed in framework files; write the content out",
            )
        if isinstance(
            token,
            yaml.BlockMappingStartToken
            | yaml.BlockSequenceStartToken
            | yaml.FlowMappingStartToken
            | yaml.FlowSequenceStartToken,
        ):
            depth += 1
            if depth > MAX_NESTING:
                mark = token.start_mark
                return Problem(
                    f"line {mark.line + 1}, column {mark.column + 1}",
                    f"the file nests deeper than {MAX_NESTING} levels",
                )
        elif isinstance(
            token, yaml.BlockEndToken | yaml.FlowMappingEndToken | yaml.FlowSequenceEndToken
        ):
            depth -= 1
    return None


def parse_framework_file(
    path: Path | str,
    earlier_keys: Collection[str] | None = None,
    facts: Mapping[str, FactSpec] = BUILTIN_FACTS,
) -> FrameworkSpec:
    """Read a YAML framework file and validate it; see parse_framework.

    Besides what parse_framework checks, the YAML itself must be sound: no repeated key in
    any mapping, no nesting deeper than MAX_NESTING levels. Every problem is a
    FrameworkFileError naming the file and the line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise FrameworkFileError(
            path.name, [Problem("", f"cannot read the file: {error}")]
        ) from None
    try:
        too_deep = _nesting_problem(text)
        if too_deep is not None:
            raise FrameworkFileError(path.name, [too_deep])
        document = yaml.compose(text, Loader=_LOADER)
        duplicates = list(_duplicate_keys(document)) if document is not None else []
        if duplicates:
            raise FrameworkFileError(path.name, duplicates)
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise FrameworkFileError(path.name, [Problem(where, f"invalid YAML: {problem}")]) from None
    except RecursionError:
        problem = Problem("", f"the file nests deeper than {MAX_NESTING} levels")
        raise FrameworkFileError(path.name, [problem]) from None
    return parse_framework(data, source=path.name, earlier_keys=earlier_keys, facts=facts)


def _duplicates(keys: list[str]) -> list[int]:
    seen: set[str] = set()
    positions = []
    for position, key in enumerate(keys):
        if key in seen:
            positions.append(position)
        seen.add(key)
    return positions


def _semantic_problems(spec: FrameworkSpec, facts: Mapping[str, FactSpec]) -> Iterable[Problem]:
    """Yield every rule broken across fields, grouped by what the rule is about."""
    yield from _level_problems(spec)
    yield from _dimension_key_problems(spec)
    question_paths: dict[str, str] = {}
    for path, question in _questions_with_paths(spec):
        if question.key in question_paths:
            first = question_paths[question.key]
            yield Problem(
                f"{path}.key", f"duplicate question key '{question.key}' (first at {first})"
            )
        else:
            question_paths[question.key] = path
        yield from _choice_problems(f"{path}.choices", question)
    for path, question in _questions_with_paths(spec):
        yield from _requires_problems(path, question, question_paths)
        yield from _ref_problems(path, question)
        yield from _applies_when_problems(path, question)
        yield from _replaces_problems(path, question, spec.version)
        yield from _check_problems(path, question, facts)
    yield from _cycle_problems(spec, question_paths)


def _questions_with_paths(spec: FrameworkSpec) -> Iterable[tuple[str, QuestionSpec]]:
    for d_index, dimension in enumerate(spec.dimensions):
        for q_index, question in enumerate(dimension.questions):
            yield f"dimensions[{d_index}].questions[{q_index}]", question


def _level_problems(spec: FrameworkSpec) -> Iterable[Problem]:
    numbers = [level.number for level in spec.levels]
    if numbers != list(range(len(spec.levels))):
        yield Problem("levels", f"level numbers must be 0..{len(numbers) - 1} in order")
    thresholds = [level.threshold for level in spec.levels]
    if thresholds[0] != 0:
        yield Problem("levels[0].threshold", "the first level must start at 0")
    for position in range(1, len(thresholds)):
        if thresholds[position] <= thresholds[position - 1]:
            yield Problem(
                f"levels[{position}].threshold",
                f"thresholds must ascend ({thresholds[position]} after {thresholds[position - 1]})",
            )


def _dimension_key_problems(spec: FrameworkSpec) -> Iterable[Problem]:
    for position in _duplicates([dimension.key for dimension in spec.dimensions]):
        yield Problem(
            f"dimensions[{position}].key",
            f"duplicate dimension key '{spec.dimensions[position].key}'",
        )


def _choice_problems(path: str, question: QuestionSpec) -> Iterable[Problem]:
    scores = sorted(choice.score for choice in question.choices)
    if scores != list(range(len(scores))):
        yield Problem(
            path,
            f"scores must be 0..{len(scores) - 1}, each once; found {scores}",
        )
        return
    top = scores[-1]
    for c_index, choice in enumerate(question.choices):
        if choice.score < top and not (choice.next_step or "").strip():
            yield Problem(
                f"{path}[{c_index}].next_step",
                f"choice {choice.score} needs a next_step (the action that moves a team up)",
            )


def _requires_problems(
    path: str, question: QuestionSpec, question_paths: dict[str, str]
) -> Iterable[Problem]:
    for r_index, required in enumerate(question.requires):
        where = f"{path}.requires[{r_index}]"
        if required == question.key:
            yield Problem(where, "a question cannot require itself")
        elif required not in question_paths:
            yield Problem(where, f"unknown question key '{required}'")


def _ref_problems(path: str, question: QuestionSpec) -> Iterable[Problem]:
    for r_index in _duplicates(question.refs):
        yield Problem(f"{path}.refs[{r_index}]", f"'{question.refs[r_index]}' is listed twice")
    for r_index, ref in enumerate(question.refs):
        message = ref_problem(ref)
        if message:
            yield Problem(f"{path}.refs[{r_index}]", message)


def _applies_when_problems(path: str, question: QuestionSpec) -> Iterable[Problem]:
    condition = question.applies_when
    if condition is None:
        return
    if not condition.named_fields():
        known = ", ".join(PROFILE_FIELDS)
        yield Problem(
            f"{path}.applies_when",
            f"name at least one team-profile field ({known}), or leave applies_when out",
        )
    for name in ("serving", "model_kinds"):
        values = getattr(condition, name) or []
        for v_index in _duplicates(values):
            yield Problem(
                f"{path}.applies_when.{name}[{v_index}]", f"'{values[v_index]}' is listed twice"
            )


def _replaces_problems(path: str, question: QuestionSpec, version: int) -> Iterable[Problem]:
    if question.replaces and version == 1:
        yield Problem(
            f"{path}.replaces", "version 1 has no earlier version whose keys it could replace"
        )
    for r_index in _duplicates(question.replaces):
        yield Problem(
            f"{path}.replaces[{r_index}]", f"'{question.replaces[r_index]}' is listed twice"
        )
    for r_index, old_key in enumerate(question.replaces):
        if old_key == question.key:
            yield Problem(
                f"{path}.replaces[{r_index}]",
                "a question cannot replace itself (a kept key needs no replaces)",
            )


def _check_problems(
    path: str, question: QuestionSpec, facts: Mapping[str, FactSpec]
) -> Iterable[Problem]:
    """Yield the problems of a question's checks: ids, levels and rules (issue 16)."""
    for c_index in _duplicates([check.id for check in question.checks]):
        yield Problem(
            f"{path}.checks[{c_index}].id",
            f"duplicate check id '{question.checks[c_index].id}'",
        )
    top = question.max_score
    for c_index, check in enumerate(question.checks):
        where = f"{path}.checks[{c_index}]"
        if check.supports is None and check.contradicts is None:
            yield Problem(where, "a check needs supports or contradicts (or both)")
        for name in ("supports", "contradicts"):
            level = getattr(check, name)
            if level is not None and level > top:
                yield Problem(
                    f"{where}.{name}", f"{name} must be a choice score 1..{top}, got {level}"
                )
        for problem in rule_problems(check.rule, facts):
            inner = f"{where}.rule.{problem.path}" if problem.path else f"{where}.rule"
            yield Problem(inner, problem.message)


def _cycle_problems(spec: FrameworkSpec, question_paths: dict[str, str]) -> Iterable[Problem]:
    """Yield one problem naming a prerequisite cycle, if there is one.

    graphlib finds it; the cycle is then written in the direction of ``requires`` and
    started at the question that comes first in the file, so the message is the same
    whatever order the sorter visited the questions in.
    """
    graph = {
        question.key: [
            required
            for required in question.requires
            if required in question_paths and required != question.key
        ]
        for _, question in spec.questions()
    }
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        # CycleError lists predecessors first (a required key before the key requiring it),
        # ending where it started; reverse it to read as "requires".
        cycle = list(reversed(error.args[1]))[:-1]
        order = list(question_paths)
        start = min(range(len(cycle)), key=lambda index: order.index(cycle[index]))
        cycle = cycle[start:] + cycle[:start]
        cycle.append(cycle[0])
        yield Problem(
            f"{question_paths[cycle[0]]}.requires",
            "prerequisites form a cycle: " + " -> ".join(cycle),
        )


def replaced_key_problems(spec: FrameworkSpec, earlier_keys: Collection[str]) -> list[Problem]:
    """Return a problem for every ``replaces`` entry that is not a key of an earlier version.

    ``earlier_keys`` is the union of the question keys of every earlier version of
    ``spec.slug`` (see earlier_version_keys). A replaced key that never existed would make
    trends match nothing, so it is an error, reported at ``...questions[j].replaces[k]``.
    """
    known = set(earlier_keys)
    return [
        Problem(
            f"{path}.replaces[{r_index}]",
            f"'{old_key}' is not a question key of any earlier version of {spec.slug}",
        )
        for path, question in _questions_with_paths(spec)
        for r_index, old_key in enumerate(question.replaces)
        if old_key not in known
    ]


def disappeared_keys(spec: FrameworkSpec, earlier_keys: Collection[str]) -> list[str]:
    """Return, sorted, the earlier question keys that ``spec`` neither keeps nor replaces.

    Such a question has no successor, so its trend ends with this version: the loader
    prints each as a warning (it may be intended, e.g. a practice dropped on purpose).
    """
    successors = {question.key for _, question in spec.questions()}
    successors |= {old for _, question in spec.questions() for old in question.replaces}
    return sorted(set(earlier_keys) - successors)


@dataclass(frozen=True)
class FrameworkFile:
    """A framework file that parsed, with the spec it describes."""

    path: Path
    spec: FrameworkSpec


def read_framework_directory(
    directory: Path | str,
) -> tuple[list[FrameworkFile], list[FrameworkFileError]]:
    """Parse every ``*.yaml`` file directly in ``directory``; return the good and the bad.

    Files are read in name order. A file that does not parse is returned as its
    FrameworkFileError instead of stopping the others (the caller decides whether that
    matters). Subdirectories (e.g. ``seed/``) are not read.
    """
    parsed: list[FrameworkFile] = []
    failed: list[FrameworkFileError] = []
    for path in sorted(Path(directory).glob("*.yaml")):
        try:
            parsed.append(FrameworkFile(path, parse_framework_file(path)))
        except FrameworkFileError as error:
            failed.append(error)
    return parsed, failed


def earlier_version_keys(files: Iterable[FrameworkFile], slug: str, version: int) -> set[str]:
    """Return the union of the question keys of the versions of ``slug`` below ``version``."""
    return {
        question.key
        for framework_file in files
        if framework_file.spec.slug == slug and framework_file.spec.version < version
        for _, question in framework_file.spec.questions()
    }
