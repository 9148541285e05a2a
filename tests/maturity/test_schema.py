"""Framework files are validated before anything is written, with file, path and problem."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from maturity.schema import (
    AppliesWhen,
    FrameworkFileError,
    TeamProfile,
    disappeared_keys,
    earlier_version_keys,
    parse_framework,
    parse_framework_file,
    read_framework_directory,
    replaced_key_problems,
)
from tests.maturity.conftest import MLOPS_V1_YAML


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


# --- The content model of version 2 (issue 15): scope, applies_when, refs, why, evidence,
# --- replaces. Every field is optional, so version 1 files load unchanged.


def question(data: dict, d_index: int = 0, q_index: int = 0) -> dict:
    return data["dimensions"][d_index]["questions"][q_index]


def with_fields(version: int = 2, **fields) -> dict:
    """Return the minimal framework (as version ``version``) with fields set on question 0."""
    data = minimal()
    data["version"] = version
    question(data).update(fields)
    return data


def test_new_fields_are_read_when_valid():
    data = with_fields(
        scope="platform",
        applies_when={"serving": ["online", "streaming"], "gpu": True},
        refs=["mlts:data-1", "owasp-llm:LLM01", "aws-ml-lens:MLOPS05-BP01", "dora:metrics"],
        why="ML Test Score Data 1 asks for a schema.",
        replaces=["old-data-versioning"],
    )
    question(data)["choices"][1]["evidence"] = "The dataset registry."
    spec = parse_framework(data)
    parsed = spec.dimensions[0].questions[0]
    assert parsed.scope == "platform"
    assert parsed.applies_when.serving == ["online", "streaming"]
    assert parsed.applies_when.gpu is True
    assert parsed.applies_when.model_kinds is None
    assert parsed.refs == [
        "mlts:data-1",
        "owasp-llm:LLM01",
        "aws-ml-lens:MLOPS05-BP01",
        "dora:metrics",
    ]
    assert parsed.why == "ML Test Score Data 1 asks for a schema."
    assert parsed.replaces == ["old-data-versioning"]
    assert parsed.choices[1].evidence == "The dataset registry."


def test_new_fields_default_to_a_team_question_for_everyone():
    parsed = parse_framework(minimal()).dimensions[0].questions[0]
    assert (parsed.scope, parsed.applies_when, parsed.refs, parsed.why, parsed.replaces) == (
        "team",
        None,
        [],
        "",
        [],
    )
    assert parsed.choices[0].evidence == ""


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"refs": ["iso-42001:A.6"]},
            "dimensions[0].questions[0].refs[0]: unknown reference prefix 'iso-42001' (known: "
            "mlts, google-mlops, azure-mlops, azure-llmops, aws-ml-lens, aws-genai-lens, dora, "
            "google-sre, owasp-llm, nist-ai-600-1)",
            id="unknown-ref-prefix",
        ),
        pytest.param(
            {"refs": ["mlts:data-1", "mlts:data-8"]},
            "dimensions[0].questions[0].refs[1]: unknown mlts id 'data-8' "
            "(expected data-1..7, model-1..7, infra-1..7, monitor-1..7)",
            id="unknown-mlts-test",
        ),
        pytest.param(
            {"refs": ["mlts:Data-1"]},
            "dimensions[0].questions[0].refs[0]: unknown mlts id 'Data-1'",
            id="mlts-test-spelt-differently",
        ),
        pytest.param(
            {"refs": ["owasp-llm:LLM11"]},
            "dimensions[0].questions[0].refs[0]: unknown owasp-llm id 'LLM11' "
            "(expected LLM01 .. LLM10)",
            id="unknown-owasp-item",
        ),
        pytest.param(
            {"refs": ["aws-ml-lens:MLOPS5-BP1"]},
            "dimensions[0].questions[0].refs[0]: unknown aws-ml-lens id 'MLOPS5-BP1'",
            id="malformed-aws-id",
        ),
        pytest.param(
            {"refs": ["nist-ai-600-1:MS2.5"]},
            "dimensions[0].questions[0].refs[0]: unknown nist-ai-600-1 id 'MS2.5'",
            id="malformed-nist-id",
        ),
        pytest.param(
            {"refs": ["mlts"]},
            "dimensions[0].questions[0].refs[0]: 'mlts' is not a reference; "
            "write <prefix>:<id>, e.g. mlts:monitor-3",
            id="ref-without-colon",
        ),
        pytest.param(
            {"refs": ["dora:version-control", "dora:version-control"]},
            "dimensions[0].questions[0].refs[1]: 'dora:version-control' is listed twice",
            id="duplicate-ref",
        ),
        pytest.param(
            {"applies_when": {"serving": ["online"], "team_size": ["large"]}},
            "dimensions[0].questions[0].applies_when.team_size: unknown team-profile field "
            "'team_size' (known: serving, model_kinds, gpu, regulated)",
            id="applies-when-unknown-field",
        ),
        pytest.param(
            {"applies_when": {"serving": ["online", "mainframe"]}},
            "dimensions[0].questions[0].applies_when.serving[1]: Input should be 'none', "
            "'batch', 'online', 'streaming' or 'edge'",
            id="applies-when-unknown-serving",
        ),
        pytest.param(
            {"applies_when": {"model_kinds": ["llm"]}},
            "dimensions[0].questions[0].applies_when.model_kinds[0]: Input should be "
            "'classical', 'deep-learning', 'llm-api', 'llm-fine-tuned' or 'agents'",
            id="applies-when-unknown-model-kind",
        ),
        pytest.param(
            {"applies_when": {"gpu": "yes please"}},
            "dimensions[0].questions[0].applies_when.gpu: Input should be a valid boolean",
            id="applies-when-gpu-not-a-boolean",
        ),
        pytest.param(
            {"applies_when": {"serving": []}},
            "dimensions[0].questions[0].applies_when.serving: List should have at least 1 item",
            id="applies-when-empty-list",
        ),
        pytest.param(
            {"applies_when": {}},
            "dimensions[0].questions[0].applies_when: name at least one team-profile field",
            id="applies-when-names-nothing",
        ),
        pytest.param(
            {"applies_when": {"serving": ["batch", "online", "batch"]}},
            "dimensions[0].questions[0].applies_when.serving[2]: 'batch' is listed twice",
            id="applies-when-duplicate-value",
        ),
        pytest.param(
            {"scope": "division"},
            "dimensions[0].questions[0].scope: Input should be 'team', 'platform' or 'org'",
            id="unknown-scope",
        ),
        pytest.param(
            {"replaces": ["data-versioning"]},
            "dimensions[0].questions[0].replaces[0]: a question cannot replace itself",
            id="replaces-itself",
        ),
        pytest.param(
            {"replaces": ["old-key", "old-key"]},
            "dimensions[0].questions[0].replaces[1]: 'old-key' is listed twice",
            id="replaces-twice",
        ),
        pytest.param(
            {"replaces": ["Old Key"]},
            "dimensions[0].questions[0].replaces[0]: String should match pattern",
            id="replaces-bad-key",
        ),
    ],
)
def test_bad_new_field_is_rejected_with_its_path(fields, expected):
    problems = problems_of(with_fields(**fields))
    assert any(problem.startswith(expected) for problem in problems), problems


def test_a_first_version_cannot_replace_keys():
    problems = problems_of(with_fields(version=1, replaces=["old-key"]))
    assert problems == [
        "dimensions[0].questions[0].replaces: version 1 has no earlier version whose keys it "
        "could replace"
    ]


def test_replacing_a_key_that_never_existed_is_an_error_with_its_path():
    data = with_fields(replaces=["data-versions", "ghost"])
    spec = parse_framework(data)  # without earlier keys the rule cannot be checked
    assert [str(p) for p in replaced_key_problems(spec, {"data-versions", "data-quality"})] == [
        "dimensions[0].questions[0].replaces[1]: 'ghost' is not a question key of any "
        "earlier version of tiny"
    ]
    with pytest.raises(FrameworkFileError) as caught:
        parse_framework(data, source="tiny.yaml", earlier_keys={"data-versions"})
    assert [p.path for p in caught.value.problems] == ["dimensions[0].questions[0].replaces[1]"]
    assert parse_framework(data, earlier_keys={"data-versions", "ghost"}).version == 2


def test_disappeared_keys_are_earlier_keys_neither_kept_nor_replaced():
    spec = parse_framework(with_fields(replaces=["data-versions"]))
    earlier = {"data-versions", "data-quality", "model-registry", "automated-deployment"}
    # data-quality and automated-deployment are kept; data-versions is replaced.
    assert disappeared_keys(spec, earlier) == ["model-registry"]
    assert disappeared_keys(spec, set()) == []


def test_a_split_keeps_the_old_key_and_names_it_in_the_new_question():
    data = with_fields()
    question(data, 0, 1)["replaces"] = ["data-versioning"]  # split: both questions succeed it
    spec = parse_framework(data, earlier_keys={"data-versioning", "data-quality"})
    assert replaced_key_problems(spec, {"data-versioning", "data-quality"}) == []
    assert disappeared_keys(spec, {"data-versioning", "data-quality"}) == []


def test_a_longer_prerequisite_cycle_is_reported_from_the_first_question_in_the_file():
    data = minimal()
    question(data, 0, 0)["requires"] = ["automated-deployment"]
    question(data, 1, 0)["requires"] = ["data-quality"]  # data-quality requires data-versioning
    assert problems_of(data) == [
        "dimensions[0].questions[0].requires: prerequisites form a cycle: data-versioning -> "
        "automated-deployment -> data-quality -> data-versioning"
    ]


def test_self_requirement_is_reported_once_not_also_as_a_cycle():
    data = minimal()
    question(data, 0, 0)["requires"] = ["data-versioning"]
    assert problems_of(data) == [
        "dimensions[0].questions[0].requires[0]: a question cannot require itself"
    ]


def test_version_1_keeps_the_content_hash_it_was_loaded_with():
    """New optional fields are left out of the hash while unset (see schema._unless).

    The value is the hash of maturity/frameworks/mlops.yaml before version 2 of the format
    existed; if it changed, load_framework would refuse the unchanged file of a version that
    has answers ("its content differs").
    """
    assert (
        parse_framework_file(MLOPS_V1_YAML).content_hash()
        == "74e34a4135fcc536e967481a82c095046e9846f97c4cf86fbc4bb2ef9ecf1a78"
    )


def test_new_fields_change_the_hash_only_when_set():
    base = parse_framework(with_fields()).content_hash()
    assert parse_framework(with_fields(scope="team", refs=[], why="")).content_hash() == base
    for fields in ({"scope": "org"}, {"refs": ["mlts:data-1"]}, {"why": "Because."}):
        assert parse_framework(with_fields(**fields)).content_hash() != base, fields
    data = with_fields()
    question(data)["choices"][1]["evidence"] = "A dashboard."
    assert parse_framework(data).content_hash() != base


# --- applies_when semantics: a question applies when, for every field it names, the team's
# --- profile matches (a list field: any value in common; a boolean: equal).


@pytest.mark.parametrize(
    ("condition", "profile", "applies"),
    [
        ({"serving": ["online", "streaming"]}, {"serving": ["batch", "online"]}, True),
        ({"serving": ["online", "streaming"]}, {"serving": ["batch"]}, False),
        ({"serving": ["online"]}, {}, False),
        ({"model_kinds": ["llm-api", "agents"]}, {"model_kinds": ["classical", "agents"]}, True),
        ({"gpu": True}, {"gpu": False}, False),
        ({"gpu": False}, {}, True),
        ({"regulated": True}, {"regulated": True, "serving": ["none"]}, True),
        (
            {"serving": ["batch"], "model_kinds": ["classical"]},
            {"serving": ["batch"], "model_kinds": ["llm-api"]},
            False,
        ),
    ],
)
def test_applies_when_needs_every_named_field_to_match(condition, profile, applies):
    assert AppliesWhen(**condition).matches(TeamProfile(**profile)) is applies


def test_a_question_without_condition_or_a_team_without_profile_sees_everything():
    spec = parse_framework(with_fields(applies_when={"serving": ["online"]}))
    conditional, unconditional = spec.dimensions[0].questions
    batch_team = TeamProfile(serving=["batch"])
    assert not conditional.applies_to(batch_team)
    assert conditional.applies_to(None)
    assert unconditional.applies_to(batch_team)


SERVING_VALUES = ["none", "batch", "online", "streaming", "edge"]
KIND_VALUES = ["classical", "deep-learning", "llm-api", "llm-fine-tuned", "agents"]


def reference_applies(condition: dict, profile: dict) -> bool:
    """The rule as the README states it, written out plainly."""
    for name, wanted in condition.items():
        actual = profile.get(name, [] if name in ("serving", "model_kinds") else False)
        if isinstance(wanted, list):
            if not any(value in actual for value in wanted):
                return False
        elif wanted != actual:
            return False
    return True


@settings(max_examples=300, deadline=None)
@given(
    condition=st.fixed_dictionaries(
        {},
        optional={
            "serving": st.lists(st.sampled_from(SERVING_VALUES), min_size=1, unique=True),
            "model_kinds": st.lists(st.sampled_from(KIND_VALUES), min_size=1, unique=True),
            "gpu": st.booleans(),
            "regulated": st.booleans(),
        },
    ),
    profile=st.fixed_dictionaries(
        {},
        optional={
            "serving": st.lists(st.sampled_from(SERVING_VALUES), unique=True),
            "model_kinds": st.lists(st.sampled_from(KIND_VALUES), unique=True),
            "gpu": st.booleans(),
            "regulated": st.booleans(),
        },
    ),
)
def test_applies_when_agrees_with_the_plainly_written_rule(condition, profile):
    assert AppliesWhen(**condition).matches(TeamProfile(**profile)) is reference_applies(
        condition, profile
    )


# --- Finding the earlier versions of a framework among the files of a directory.


def test_directory_reading_returns_good_files_and_the_problems_of_bad_ones(tmp_path: Path):
    first = minimal()
    second = with_fields(replaces=["data-versions"])
    question(second, 0, 1)["key"] = "data-checks"
    other = minimal() | {"slug": "other"}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(first))
    (tmp_path / "tiny-v2.yaml").write_text(yaml.safe_dump(second))
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other))
    (tmp_path / "broken.yaml").write_text("slug: [")
    (tmp_path / "notes.txt").write_text("not a framework")
    parsed, failed = read_framework_directory(tmp_path)
    assert [f.path.name for f in parsed] == ["other.yaml", "tiny-v2.yaml", "tiny.yaml"]
    assert [error.source for error in failed] == ["broken.yaml"]
    assert earlier_version_keys(parsed, "tiny", 2) == {
        "data-versioning",
        "data-quality",
        "automated-deployment",
    }
    assert earlier_version_keys(parsed, "tiny", 3) == {
        "data-versioning",
        "data-quality",
        "data-checks",
        "automated-deployment",
    }
    assert earlier_version_keys(parsed, "tiny", 1) == set()


# --- Evidence checks (issue 16): per-question checks and the framework's evidence_policy are
# --- verification metadata, validated like the content but outside its hash.


def dockerfile_check(**fields) -> dict:
    return {
        "id": "dockerfile-present",
        "title": "Container image defined",
        "rule": {"any": [{"fact": "repo.dockerfiles", "op": "len_gte", "value": 1}]},
        "supports": 2,
    } | fields


def with_checks(*checks: dict, policy: str | None = None) -> dict:
    data = with_fields(checks=list(checks))
    if policy is not None:
        data["evidence_policy"] = policy
    return data


def test_checks_and_the_evidence_policy_are_read_when_valid():
    spec = parse_framework(
        with_checks(dockerfile_check(contradicts=1, fresh_days=30), policy="cap")
    )
    parsed = spec.dimensions[0].questions[0].checks[0]
    assert (parsed.id, parsed.supports, parsed.contradicts, parsed.fresh_days) == (
        "dockerfile-present",
        2,
        1,
        30,
    )
    assert parsed.rule == {"any": [{"fact": "repo.dockerfiles", "op": "len_gte", "value": 1}]}
    assert spec.evidence_policy == "cap"
    defaults = parse_framework(minimal())
    assert defaults.evidence_policy == "report"
    assert defaults.dimensions[0].questions[0].checks == []
    default_freshness = parse_framework(with_checks(dockerfile_check()))
    assert default_freshness.dimensions[0].questions[0].checks[0].fresh_days == 90


@pytest.mark.parametrize(
    ("checks", "expected"),
    [
        pytest.param(
            [dockerfile_check(), dockerfile_check(title="Again")],
            "dimensions[0].questions[0].checks[1].id: duplicate check id 'dockerfile-present'",
            id="duplicate-id",
        ),
        pytest.param(
            [dockerfile_check(supports=5)],
            "dimensions[0].questions[0].checks[0].supports: supports must be a choice score "
            "1..4, got 5",
            id="supports-above-max",
        ),
        pytest.param(
            [dockerfile_check(supports=None, contradicts=7)],
            "dimensions[0].questions[0].checks[0].contradicts: contradicts must be a choice "
            "score 1..4, got 7",
            id="contradicts-above-max",
        ),
        pytest.param(
            [dockerfile_check(supports=0)],
            "dimensions[0].questions[0].checks[0].supports: Input should be greater than or "
            "equal to 1",
            id="supports-zero",
        ),
        pytest.param(
            [dockerfile_check(supports=None)],
            "dimensions[0].questions[0].checks[0]: a check needs supports or contradicts",
            id="neither-level",
        ),
        pytest.param(
            [dockerfile_check(fresh_days=0)],
            "dimensions[0].questions[0].checks[0].fresh_days: Input should be greater than or "
            "equal to 1",
            id="fresh-days-zero",
        ),
        pytest.param(
            [
                dockerfile_check(
                    rule={"any": [{"fact": "repo.paths", "op": "globb", "value": "**/x"}]}
                )
            ],
            "dimensions[0].questions[0].checks[0].rule.any[0].op: unknown operator 'globb'",
            id="unknown-operator",
        ),
        pytest.param(
            [dockerfile_check(rule={"fact": "repo.dockerfile", "op": "len_gte", "value": 1})],
            "dimensions[0].questions[0].checks[0].rule.fact: unknown fact 'repo.dockerfile'",
            id="unknown-fact",
        ),
        pytest.param(
            [dockerfile_check(rule={"all": []})],
            "dimensions[0].questions[0].checks[0].rule.all: all needs a non-empty list",
            id="empty-all",
        ),
        pytest.param(
            [dockerfile_check(rule="repo.dockerfiles")],
            "dimensions[0].questions[0].checks[0].rule: Input should be a valid dictionary",
            id="rule-not-a-mapping",
        ),
        pytest.param(
            [dockerfile_check(id="Docker File")],
            "dimensions[0].questions[0].checks[0].id: String should match pattern",
            id="bad-id",
        ),
        pytest.param(
            [dockerfile_check(weight=2)],
            "dimensions[0].questions[0].checks[0].weight: Extra inputs are not permitted",
            id="unknown-field",
        ),
    ],
)
def test_bad_check_is_rejected_with_its_path(checks, expected):
    found = problems_of(with_checks(*checks))
    assert any(problem.startswith(expected) for problem in found), found


def test_an_unknown_evidence_policy_is_rejected():
    assert problems_of(with_checks(policy="enforce")) == [
        "evidence_policy: Input should be 'report' or 'cap'"
    ]


def test_check_rules_are_validated_against_the_given_fact_catalogue():
    from maturity.evidence.facts import BUILTIN_FACTS, FactSpec

    rule = {"fact": "acme.registry", "op": "eq", "value": "mlflow"}
    data = with_checks(dockerfile_check(rule=rule))
    with pytest.raises(FrameworkFileError, match=r"rule.fact: unknown fact 'acme.registry'"):
        parse_framework(data)
    plug_in = {"acme.registry": FactSpec("acme.registry", "str", "the registry in use")}
    spec = parse_framework(data, facts={**BUILTIN_FACTS, **plug_in})
    assert spec.dimensions[0].questions[0].checks[0].rule == rule


def test_checks_and_policy_leave_the_content_hash_alone_and_change_the_checks_hash():
    base = parse_framework(with_fields())
    checked = parse_framework(with_checks(dockerfile_check()))
    capped = parse_framework(with_checks(dockerfile_check(), policy="cap"))
    assert base.content_hash() == checked.content_hash() == capped.content_hash()
    assert base.checks_hash() == ""  # what rows loaded before maturity 0003 hold
    assert len({base.checks_hash(), checked.checks_hash(), capped.checks_hash()}) == 3
    retitled = parse_framework(with_checks(dockerfile_check(title="A Dockerfile")))
    assert retitled.checks_hash() != checked.checks_hash()
    assert parse_framework(with_checks(dockerfile_check())).checks_hash() == checked.checks_hash()
    # The content hash still sees the content.
    changed = with_checks(dockerfile_check())
    question(changed)["text"] = "How exactly is data versioned?"
    assert parse_framework(changed).content_hash() != checked.content_hash()


def test_version_2_keeps_the_content_hash_it_was_loaded_with():
    """Checks added to mlops-v2.yaml after it was published leave its content hash as it was.

    The value is the hash of maturity/frameworks/mlops-v2.yaml before issue 16 gave it
    checks, so a database whose v2 has answers accepts the file as a checks update.
    """
    from tests.maturity.conftest import MLOPS_V2_YAML

    assert (
        parse_framework_file(MLOPS_V2_YAML).content_hash()
        == "6e81d93187a243d80350f748f4005808cd8f2e8a9deda0c78239abf7a4bc5160"
    )
