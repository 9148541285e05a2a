"""Framework files are validated before anything is written, with file, path and problem."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from maturity.schema import FrameworkFileError, parse_framework, parse_framework_file


def choices(top: int = 4) -> list[dict]:
    return [
        {"score": s, "label": f"Level {s}", "description": f"State {s}."}
        | ({"next_step": f"Do step {s + 1}."} if s < top else {})
        for s in range(top + 1)
    ]


def minimal() -> dict:
    return {
        "slug": "tiny",
        "version": 1,
        "title": "Tiny",
        "levels": [
            {"number": n, "name": f"L{n}", "threshold": t}
            for n, t in enumerate([0, 20, 40, 60, 80])
        ],
        "dimensions": [
            {
                "key": "data",
                "name": "Data",
                "seed_refs": ["Best Practices / Data Management: x"],
                "questions": [
                    {
                        "key": "data-versioning",
                        "text": "How is data versioned?",
                        "seed_refs": ["Best Practices / Data Management: y"],
                        "choices": choices(),
                    },
                    {
                        "key": "data-quality",
                        "text": "How is data checked?",
                        "requires": ["data-versioning"],
                        "seed_refs": ["Best Practices / Data Management: z"],
                        "choices": choices(),
                    },
                ],
            },
            {
                "key": "deploy",
                "name": "Deployment",
                "seed_refs": ["Common Challenges / Deployment Automation: x"],
                "questions": [
                    {
                        "key": "automated-deployment",
                        "text": "How are models deployed?",
                        "seed_refs": ["Common Challenges / Deployment Automation: y"],
                        "choices": choices(),
                    }
                ],
            },
        ],
    }


def problems_of(data: dict) -> list[str]:
    with pytest.raises(FrameworkFileError) as caught:
        parse_framework(data, source="tiny.yaml")
    assert str(caught.value).startswith("tiny.yaml: ")
    return [str(problem) for problem in caught.value.problems]


def test_minimal_framework_is_valid():
    spec = parse_framework(minimal())
    assert [d.key for d in spec.dimensions] == ["data", "deploy"]
    assert spec.dimensions[0].questions[1].requires == ["data-versioning"]
    assert spec.dimensions[0].questions[0].max_score == 4


def test_content_hash_ignores_formatting_but_not_content():
    first, second = parse_framework(minimal()), parse_framework(copy.deepcopy(minimal()))
    assert first.content_hash() == second.content_hash()
    changed = minimal()
    changed["dimensions"][0]["questions"][0]["text"] = "How exactly is data versioned?"
    assert parse_framework(changed).content_hash() != first.content_hash()


def mutate(path: str, value) -> dict:
    """Return the minimal framework with one value replaced (path like 'a.0.b')."""
    data = minimal()
    *parents, last = path.split(".")
    target = data
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is DELETE:
        del target[int(last) if last.isdigit() else last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return data


DELETE = object()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            mutate("dimensions.0.questions.0.text", DELETE),
            "dimensions[0].questions[0].text: Field required",
            id="missing-field",
        ),
        pytest.param(
            mutate("dimensions.1.weight", "heavy"),
            "dimensions[1].weight: Input should be a valid number",
            id="wrong-type",
        ),
        pytest.param(
            mutate("dimensions.0.questions.1.colour", "blue"),
            "dimensions[0].questions[1].colour: Extra inputs are not permitted",
            id="unknown-field",
        ),
        pytest.param(
            mutate("dimensions.1.key", "data"),
            "dimensions[1].key: duplicate dimension key 'data'",
            id="duplicate-dimension-key",
        ),
        pytest.param(
            mutate("dimensions.1.questions.0.key", "data-quality"),
            "dimensions[1].questions[0].key: duplicate question key 'data-quality' "
            "(first at dimensions[0].questions[1])",
            id="duplicate-question-key",
        ),
        pytest.param(
            mutate("dimensions.0.questions.1.choices.2.score", 7),
            "dimensions[0].questions[1].choices: scores must be 0..4, each once; "
            "found [0, 1, 3, 4, 7]",
            id="choice-scores-gap",
        ),
        pytest.param(
            mutate("dimensions.0.questions.0.choices.1.next_step", DELETE),
            "dimensions[0].questions[0].choices[1].next_step: choice 1 needs a next_step",
            id="missing-next-step",
        ),
        pytest.param(
            mutate("dimensions.1.questions.0.requires", ["model-registry"]),
            "dimensions[1].questions[0].requires[0]: unknown question key 'model-registry'",
            id="unknown-prerequisite",
        ),
        pytest.param(
            mutate("dimensions.0.questions.0.requires", ["data-quality"]),
            "dimensions[0].questions[0].requires: prerequisites form a cycle: "
            "data-versioning -> data-quality -> data-versioning",
            id="prerequisite-cycle",
        ),
        pytest.param(
            mutate("levels.3.threshold", 30),
            "levels[3].threshold: thresholds must ascend (30.0 after 40.0)",
            id="thresholds-not-ascending",
        ),
        pytest.param(
            mutate("dimensions.0.questions.0.key", "Data Versioning!"),
            "dimensions[0].questions[0].key: String should match pattern",
            id="bad-key-format",
        ),
        pytest.param(
            mutate("dimensions.0.seed_refs", []),
            "dimensions[0].seed_refs: List should have at least 1 item",
            id="missing-seed-refs",
        ),
        pytest.param(
            mutate("dimensions.0.questions.0.weight", 0),
            "dimensions[0].questions[0].weight: Input should be greater than 0",
            id="non-positive-weight",
        ),
        pytest.param(
            mutate("levels.0.threshold", 10),
            "levels[0].threshold: the first level must start at 0",
            id="first-threshold-not-zero",
        ),
    ],
)
def test_bad_framework_is_rejected_with_path_and_problem(data, expected):
    assert any(problem.startswith(expected) for problem in problems_of(data)), problems_of(data)


def test_top_level_must_be_a_mapping():
    assert problems_of(["a", "list"]) == ["the file must contain a mapping at the top level"]


def test_invalid_yaml_names_file_and_line(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text("slug: tiny\ndimensions: [\n  - key: a\n")
    with pytest.raises(FrameworkFileError) as caught:
        parse_framework_file(path)
    message = str(caught.value)
    assert message.startswith("broken.yaml: line ")
    assert "invalid YAML" in message


def test_every_problem_is_reported_at_once(tmp_path: Path):
    data = mutate("dimensions.1.key", "data")
    data["levels"][2]["threshold"] = 10
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(FrameworkFileError) as caught:
        parse_framework_file(path)
    assert [p.path for p in caught.value.problems] == ["levels[2].threshold", "dimensions[1].key"]
