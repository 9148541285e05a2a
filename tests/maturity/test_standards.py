"""The reference standards: a fixed list of prefixes, id checks, and computed coverage."""

from __future__ import annotations

import re

import pytest

from maturity.standards import ML_TEST_SCORE, STANDARDS, ref_problem, standard_coverage


def test_the_ml_test_score_has_its_28_tests_in_four_sections_of_seven():
    assert len(ML_TEST_SCORE) == 28
    for section in ("data", "model", "infra", "monitor"):
        assert [key for key in ML_TEST_SCORE if key.startswith(section + "-")] == [
            f"{section}-{number}" for number in range(1, 8)
        ]
    assert ML_TEST_SCORE["monitor-3"] == "Training and serving are not skewed"
    assert ML_TEST_SCORE["infra-1"] == "Training is reproducible"


def test_every_standard_is_documented_with_a_description_and_a_source():
    for prefix, standard in STANDARDS.items():
        assert standard.prefix == prefix
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", prefix), prefix
        assert standard.description.endswith("."), prefix
        assert "\n" not in standard.description, prefix
        assert standard.url.startswith("https://"), prefix
        assert standard.name and standard.id_format, prefix
        for item in standard.items:
            assert standard.id_pattern.fullmatch(item), (prefix, item)


@pytest.mark.parametrize(
    "ref",
    [
        "mlts:data-1",
        "mlts:monitor-7",
        "google-mlops:level-1",
        "azure-mlops:level-3",
        "azure-llmops:level-4",
        "aws-ml-lens:MLOPS05-BP01",
        "aws-ml-lens:MLCOST06-BP02",
        "aws-genai-lens:GENSEC04-BP02",
        "dora:continuous-delivery",
        "dora:metrics",
        "google-sre:sre-book/eliminating-toil",
        "google-sre:workbook/alerting-on-slos",
        "owasp-llm:LLM01",
        "owasp-llm:LLM10",
        "nist-ai-600-1:MS-2.5",
        "nist-ai-600-1:MG-4.1-002",
    ],
)
def test_valid_references_pass(ref):
    assert ref_problem(ref) is None


@pytest.mark.parametrize(
    ("ref", "problem"),
    [
        ("mlts:data-0", "unknown mlts id 'data-0'"),
        ("mlts:monitor-8", "unknown mlts id 'monitor-8'"),
        ("mlts:data-1 ", "unknown mlts id 'data-1 '"),
        ("google-mlops:level-3", "unknown google-mlops id 'level-3'"),
        ("azure-mlops:level-5", "unknown azure-mlops id 'level-5'"),
        ("azure-llmops:level-0", "unknown azure-llmops id 'level-0'"),
        ("aws-ml-lens:GENSEC04-BP02", "unknown aws-ml-lens id 'GENSEC04-BP02'"),
        ("aws-genai-lens:MLOPS05-BP01", "unknown aws-genai-lens id 'MLOPS05-BP01'"),
        ("dora:Continuous Delivery", "unknown dora id 'Continuous Delivery'"),
        ("google-sre:eliminating-toil", "unknown google-sre id 'eliminating-toil'"),
        ("owasp-llm:LLM1", "unknown owasp-llm id 'LLM1'"),
        ("owasp-llm:llm01", "unknown owasp-llm id 'llm01'"),
        ("nist-ai-600-1:XX-2.5", "unknown nist-ai-600-1 id 'XX-2.5'"),
        ("marvelous:46", "unknown reference prefix 'marvelous'"),
        ("MLTS:data-1", "unknown reference prefix 'MLTS'"),
        ("mlts:", "'mlts:' is not a reference"),
        (":data-1", "unknown reference prefix ''"),
    ],
)
def test_invalid_references_say_what_is_wrong(ref, problem):
    assert (ref_problem(ref) or "").startswith(problem)


def test_coverage_of_a_tiny_framework_is_exact():
    coverage = standard_coverage(
        {
            "schema-checks": ["mlts:data-1", "mlts:monitor-2", "dora:test-automation"],
            "rollback": ["mlts:infra-7", "owasp-llm:LLM01"],
            "skew": ["mlts:monitor-2"],
        }
    )
    assert list(coverage) == list(STANDARDS)
    mlts = coverage["mlts"]
    assert (mlts["items"], mlts["mapped"]) == (28, 3)
    assert mlts["unmapped"] == [
        item for item in ML_TEST_SCORE if item not in {"data-1", "monitor-2", "infra-7"}
    ]
    assert list(mlts["questions"]) == list(ML_TEST_SCORE)
    assert mlts["questions"]["monitor-2"] == ["schema-checks", "skew"]
    assert mlts["questions"]["data-2"] == []
    assert coverage["dora"] == {
        "items": None,
        "mapped": 1,
        "unmapped": None,
        "questions": {"test-automation": ["schema-checks"]},
    }
    assert coverage["owasp-llm"]["mapped"] == 1
    assert coverage["owasp-llm"]["unmapped"] == [f"LLM{n:02d}" for n in range(2, 11)]
    assert coverage["google-mlops"] == {
        "items": 3,
        "mapped": 0,
        "unmapped": ["level-0", "level-1", "level-2"],
        "questions": {"level-0": [], "level-1": [], "level-2": []},
    }
    assert coverage["aws-ml-lens"] == {
        "items": None,
        "mapped": 0,
        "unmapped": None,
        "questions": {},
    }


def test_coverage_of_no_questions_maps_nothing():
    coverage = standard_coverage({})
    assert coverage["mlts"]["mapped"] == 0
    assert coverage["mlts"]["unmapped"] == list(ML_TEST_SCORE)


def test_version_2_maps_all_28_ml_test_score_tests(mlops_v2_spec):
    coverage = standard_coverage({q.key: q.refs for _, q in mlops_v2_spec.questions()})
    assert (coverage["mlts"]["mapped"], coverage["mlts"]["unmapped"]) == (28, [])
    assert coverage["google-mlops"]["unmapped"] == []


def test_version_1_cites_no_standard(mlops_spec):
    coverage = standard_coverage({q.key: q.refs for _, q in mlops_spec.questions()})
    assert coverage["mlts"]["mapped"] == 0
