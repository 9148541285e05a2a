"""A team scored "as the ML Test Score" (maturity.standards.ml_test_score): pure."""

from __future__ import annotations

import pytest

from maturity.schema import parse_framework_file
from maturity.standards import ML_TEST_SCORE, ml_test_points, ml_test_score
from tests.conftest import MLOPS_YAML

V2 = MLOPS_YAML.with_name("mlops-v2.yaml")


@pytest.mark.parametrize(
    "mean,points", [(0.0, 0.0), (0.49, 0.0), (0.5, 0.5), (0.74, 0.5), (0.75, 1.0), (1.0, 1.0)]
)
def test_points_follow_the_papers_manual_and_automated_halves(mean, points):
    assert ml_test_points(mean) == points


def test_sections_sum_their_tests_and_the_overall_is_their_minimum():
    refs = {
        "schema": ["mlts:data-1", "mlts:monitor-2"],
        "tests": ["mlts:infra-2", "mlts:infra-3"],
        "rollback": ["mlts:infra-7"],
        "staleness": ["mlts:model-4", "mlts:monitor-4"],
        "unmapped": ["dora:continuous-delivery"],
    }
    means = {"schema": 1.0, "tests": 0.5, "rollback": 0.75, "staleness": 0.25, "unmapped": 1.0}
    score = ml_test_score(refs, means)
    assert score.sections == {"data": 1.0, "model": 0.0, "infra": 2.0, "monitor": 1.0}
    assert score.overall == 0.0
    assert score.reading.startswith("More of a research project")
    by_test = {test.test: test for test in score.tests}
    assert by_test["infra-2"].points == 0.5 and by_test["infra-2"].questions == ("tests",)
    assert by_test["model-4"].points == 0.0
    assert by_test["data-2"].points is None and "data-2" in score.unanswered
    assert len(score.tests) == 28


def test_a_question_mapped_to_a_test_twice_counts_once_and_means_average():
    score = ml_test_score({"a": ["mlts:data-1"], "b": ["mlts:data-1"]}, {"a": 1.0, "b": 0.5})
    (data_1,) = [test for test in score.tests if test.test == "data-1"]
    assert data_1.points == 1.0  # mean 0.75
    assert data_1.questions == ("a", "b")


def test_a_team_at_the_top_of_every_v2_question_scores_seven_in_every_section():
    spec = parse_framework_file(V2)
    refs = {question.key: question.refs for _, question in spec.questions()}
    score = ml_test_score(refs, dict.fromkeys(refs, 1.0))
    assert score.sections == {"data": 7.0, "model": 7.0, "infra": 7.0, "monitor": 7.0}
    assert score.overall == 7.0 and score.unanswered == []
    assert score.reading == "Exceptional levels of automated testing and monitoring."
    assert {test.test for test in score.tests} == set(ML_TEST_SCORE)


def test_a_test_whose_questions_are_all_out_of_scope_is_left_out_and_the_section_scaled():
    """Break-it finding: a batch-only team's online-serving tests counted 0, so its
    sections could never reach 7; left out, the rest scales back to the paper's 7."""
    refs = {f"q{i}": [f"mlts:monitor-{i}"] for i in range(1, 8)}
    means = {key: 1.0 for key in refs if key not in {"q5", "q6"}}
    score = ml_test_score(refs, means, out_of_scope={"q5", "q6"})
    assert score.applicable["monitor"] == 5 and score.sections["monitor"] == 7.0
    by_test = {test.test: test for test in score.tests}
    assert not by_test["monitor-5"].applicable and by_test["monitor-1"].applicable
    assert not score.all_apply
    # without the profile the same answers are 5 of 7, as the paper counts tests not done
    assert ml_test_score(refs, means).sections["monitor"] == 5.0
