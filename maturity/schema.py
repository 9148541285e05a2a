"""Parse and validate framework files before anything is written (no Django here).

A framework file is YAML; its structure is checked with pydantic, then the rules that span
several fields (unique keys, contiguous choice scores, prerequisites that exist and form no
cycle, ascending thresholds). Every problem is reported with the file and the path inside it,
e.g. ``mlops.yaml: dimensions[3].questions[2].choices: scores must be 0..4``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

Key = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=64)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
SeedRefs = Annotated[list[Text], Field(min_length=1)]


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


class QuestionSpec(_Strict):
    key: Key
    text: Text
    guidance: str = ""
    weight: Annotated[float, Field(gt=0)] = 1.0
    allow_na: bool = False
    requires: list[Key] = []
    seed_refs: SeedRefs
    choices: Annotated[list[ChoiceSpec], Field(min_length=2)]

    @property
    def max_score(self) -> int:
        return max(choice.score for choice in self.choices)


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

    def content_hash(self) -> str:
        """Return a stable hash of the content, independent of YAML formatting."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
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


def parse_framework(data: Any, source: str = "<framework>") -> FrameworkSpec:
    """Validate already-parsed YAML data and return the framework it describes.

    Raises FrameworkFileError listing every structural problem, or, when the structure is
    sound, every rule that spans fields.
    """
    if not isinstance(data, dict):
        raise FrameworkFileError(
            source, [Problem("", "the file must contain a mapping at the top level")]
        )
    try:
        spec = FrameworkSpec.model_validate(data)
    except ValidationError as error:
        problems = [
            Problem(_format_location(detail["loc"]), detail["msg"]) for detail in error.errors()
        ]
        raise FrameworkFileError(source, problems) from None
    problems = list(_semantic_problems(spec))
    if problems:
        raise FrameworkFileError(source, problems)
    return spec


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
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
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


def parse_framework_file(path: Path | str) -> FrameworkSpec:
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
        duplicates = list(_duplicate_keys(yaml.compose(text, Loader=yaml.SafeLoader)))
        if duplicates:
            raise FrameworkFileError(path.name, duplicates)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise FrameworkFileError(path.name, [Problem(where, f"invalid YAML: {problem}")]) from None
    except RecursionError:
        problem = Problem("", f"the file nests deeper than {MAX_NESTING} levels")
        raise FrameworkFileError(path.name, [problem]) from None
    return parse_framework(data, source=path.name)


def _duplicates(keys: list[str]) -> list[int]:
    seen: set[str] = set()
    positions = []
    for position, key in enumerate(keys):
        if key in seen:
            positions.append(position)
        seen.add(key)
    return positions


def _semantic_problems(spec: FrameworkSpec) -> Iterable[Problem]:
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

    for position in _duplicates([dimension.key for dimension in spec.dimensions]):
        yield Problem(
            f"dimensions[{position}].key",
            f"duplicate dimension key '{spec.dimensions[position].key}'",
        )

    question_paths: dict[str, str] = {}
    for d_index, dimension in enumerate(spec.dimensions):
        for q_index, question in enumerate(dimension.questions):
            path = f"dimensions[{d_index}].questions[{q_index}]"
            if question.key in question_paths:
                first = question_paths[question.key]
                yield Problem(
                    f"{path}.key", f"duplicate question key '{question.key}' (first at {first})"
                )
            else:
                question_paths[question.key] = path
            yield from _choice_problems(f"{path}.choices", question)

    for d_index, dimension in enumerate(spec.dimensions):
        for q_index, question in enumerate(dimension.questions):
            for r_index, required in enumerate(question.requires):
                path = f"dimensions[{d_index}].questions[{q_index}].requires[{r_index}]"
                if required == question.key:
                    yield Problem(path, "a question cannot require itself")
                elif required not in question_paths:
                    yield Problem(path, f"unknown question key '{required}'")

    cycle = _find_cycle({question.key: question.requires for _, question in spec.questions()})
    if cycle:
        first = question_paths[cycle[0]]
        yield Problem(f"{first}.requires", "prerequisites form a cycle: " + " -> ".join(cycle))


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


def _find_cycle(requires: dict[str, list[str]]) -> list[str]:
    """Return one cycle among the prerequisite links as a list of keys, or []."""
    visiting: list[str] = []
    state: dict[str, str] = {}

    def visit(key: str) -> list[str]:
        state[key] = "visiting"
        visiting.append(key)
        for required in requires.get(key, []):
            if required not in requires or required == key:
                continue
            if state.get(required) == "visiting":
                return visiting[visiting.index(required) :] + [required]
            if required not in state:
                found = visit(required)
                if found:
                    return found
        visiting.pop()
        state[key] = "done"
        return []

    for key in requires:
        if key not in state:
            found = visit(key)
            if found:
                return found
    return []
