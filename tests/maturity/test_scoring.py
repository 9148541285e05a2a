"""Tests for maturity.scoring: hand-computed examples and a property test against a reference.

No Django and no database: question_stats are aggregated here the way the SQL GROUP BY does.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from maturity.scoring import (
    DIMENSION_SCORE_COLUMNS,
    QUESTION_SCORE_COLUMNS,
    RECOMMENDATION_COLUMNS,
    TEAM_SCORE_COLUMNS,
    Framework,
    ScoringResult,
    level_for,
    score_teams,
)
from tests.maturity.reference_scoring import DONT_KNOW, Answer, reference_score

LEVELS = [
    {"level": 0, "name": "ad hoc", "threshold": 0.0},
    {"level": 1, "name": "repeatable", "threshold": 20.0},
    {"level": 2, "name": "defined", "threshold": 40.0},
    {"level": 3, "name": "managed", "threshold": 60.0},
    {"level": 4, "name": "optimised", "threshold": 80.0},
]


def question(
    key: str,
    dimension: str,
    order: int,
    weight: float = 1.0,
    max_score: int = 4,
    requires: list[str] | None = None,
) -> dict[str, Any]:
    """Return a plain question dict for the reference framework format."""
    return {
        "key": key,
        "dimension": dimension,
        "weight": weight,
        "max_score": max_score,
        "requires": requires or [],
        "order": order,
    }


def spec(
    dimensions: list[tuple[str, float]],
    questions: list[dict[str, Any]],
    levels: list[dict[str, Any]] = LEVELS,
) -> dict[str, list[dict[str, Any]]]:
    """Return a plain framework dict; every choice s < max gets next_step "<key>: to <s+1>"."""
    choices = [
        {
            "question": q["key"],
            "score": score,
            "label": f"{q['key']} {score}",
            "next_step": f"{q['key']}: to {score + 1}" if score < q["max_score"] else None,
        }
        for q in questions
        for score in range(q["max_score"] + 1)
    ]
    return {
        "dimensions": [
            {"key": key, "weight": weight, "order": order}
            for order, (key, weight) in enumerate(dimensions)
        ],
        "questions": questions,
        "levels": levels,
        "choices": choices,
    }


def to_framework(plain: dict[str, list[dict[str, Any]]]) -> Framework:
    """Convert the plain framework dict into the engine's DataFrames."""
    return Framework(
        dimensions=pd.DataFrame(plain["dimensions"]).rename(columns={"key": "dimension"}),
        questions=pd.DataFrame(plain["questions"]).rename(columns={"key": "question"}),
        levels=pd.DataFrame(plain["levels"]),
        choices=pd.DataFrame(plain["choices"]),
    )


def exact_mean(values: pd.Series) -> float:
    """Return AVG over non-NULL values from a correctly rounded sum (NaN when none).

    A correctly rounded sum makes the result independent of summation order, so the engine
    receives bit-identical means to the reference and ties stay ties.
    """
    present = values.dropna()
    return math.fsum(present) / len(present) if len(present) else np.nan


def aggregate_like_sql(
    plain: dict[str, list[dict[str, Any]]], answers: list[Answer]
) -> pd.DataFrame:
    """Return question_stats as the GROUP BY produces them, including n == 0 rows for N/A
    and don't know, with the don't-know count per (team, question)."""
    columns = ["team", "question", "n", "mean_v", "mean_v2", "dont_know"]
    if not answers:
        return pd.DataFrame(columns=columns)
    max_scores = {q["key"]: q["max_score"] for q in plain["questions"]}
    frame = pd.DataFrame(answers, columns=["team", "respondent", "question", "score"])
    frame["dont_know"] = frame["score"].eq(DONT_KNOW).astype(int)
    score = frame["score"].where(frame["dont_know"] == 0).astype(float)
    frame["v"] = score / frame["question"].map(max_scores)
    frame["v2"] = frame["v"] * frame["v"]
    grouped = frame.groupby(["team", "question"]).agg(
        n=("v", "count"),
        mean_v=("v", exact_mean),
        mean_v2=("v2", exact_mean),
        dont_know=("dont_know", "sum"),
    )
    return grouped.reset_index()[columns]


def respondent_scores(
    plain: dict[str, list[dict[str, Any]]], answers: list[Answer]
) -> pd.DataFrame:
    """Return per-respondent dimension scores (the engine's interval input)."""
    columns = ["team", "respondent", "dimension", "score"]
    frame = pd.DataFrame(answers, columns=["team", "respondent", "question", "score"])
    frame = frame[frame["score"].ne(DONT_KNOW)].dropna(subset=["score"])
    if frame.empty:
        return pd.DataFrame(columns=columns)
    questions = pd.DataFrame(plain["questions"]).rename(columns={"key": "question"})
    frame = frame.merge(questions[["question", "dimension", "weight", "max_score"]], on="question")
    frame["weighted_v"] = frame["weight"] * frame["score"].astype(float) / frame["max_score"]
    sums = frame.groupby(["team", "respondent", "dimension"])[["weighted_v", "weight"]].sum()
    sums["score"] = 100 * sums["weighted_v"] / sums["weight"]
    return sums.reset_index()[columns]


def run(
    plain: dict[str, list[dict[str, Any]]],
    answers: list[Answer],
    respondents: dict[Hashable, int],
    with_intervals: bool = True,
    asked: dict[Hashable, set[str]] | None = None,
) -> ScoringResult:
    """Aggregate ``answers`` like SQL and score them with the engine.

    ``asked`` (team -> question keys) is the teams' plans; the per-respondent scores are
    computed from the asked answers only, as the database records them.
    """
    if asked is not None:
        respondent_answers = [a for a in answers if a[2] in asked.get(a[0], set())]
    else:
        respondent_answers = answers
    return score_teams(
        aggregate_like_sql(plain, answers),
        to_framework(plain),
        pd.Series(respondents, dtype="int64"),
        respondent_scores(plain, respondent_answers) if with_intervals else None,
        asked=asked_frame(asked),
    )


def asked_frame(asked: dict[Hashable, set[str]] | None) -> pd.DataFrame | None:
    """Return the engine's ``asked`` frame (team, question) of a plain plan."""
    if asked is None:
        return None
    return pd.DataFrame(
        [(team, key) for team, keys in asked.items() for key in sorted(keys)],
        columns=["team", "question"],
    )


def row(frame: pd.DataFrame, **keys: Any) -> pd.Series:
    """Return the single row of ``frame`` matching ``keys``."""
    mask = np.logical_and.reduce([frame[column] == value for column, value in keys.items()])
    matches = frame[mask]
    assert len(matches) == 1, f"expected one row for {keys}, got {len(matches)}"
    return matches.iloc[0]


def ranked_questions(result: ScoringResult, team: Hashable) -> list[str]:
    recs = result.recommendations
    return recs.loc[recs["team"] == team].sort_values("rank")["question"].tolist()


# data: versioning (w1, 0-4) and quality (w3, 0-2); deploy (W2): ci and monitoring (0-4).
BASIC = spec(
    [("data", 1.0), ("deploy", 2.0)],
    [
        question("versioning", "data", 1),
        question("quality", "data", 2, weight=3.0, max_score=2),
        question("ci", "deploy", 3),
        question("monitoring", "deploy", 4),
    ],
)


class TestLevelFor:
    def test_thresholds_with_float_noise_tolerance(self) -> None:
        scores = pd.Series([0.0, 19.999, 20.0, 59.99999999999, 60.0, 79.9, 100.0, np.nan, -1.0])
        levels = level_for(scores, pd.DataFrame(LEVELS))
        assert levels.dtype == "Int64"
        assert levels.tolist() == [0, 0, 1, 3, 3, 3, 4, pd.NA, pd.NA]

    def test_unsorted_levels_and_index_alignment(self) -> None:
        scores = pd.Series([45.0, 85.0], index=["x", "y"])
        levels = level_for(scores, pd.DataFrame(LEVELS[::-1]))
        assert levels.to_dict() == {"x": 2, "y": 4}


class TestScores:
    def test_dimension_score_weights_questions(self) -> None:
        # versioning 2/4 = 0.5 (w1), quality 2/2 = 1 (w3): 100 * (0.5 + 3) / 4 = 87.5.
        answers = [("a", "r1", "versioning", 2), ("a", "r1", "quality", 2)]
        result = run(BASIC, answers, {"a": 1})
        data = row(result.dimension_scores, team="a", dimension="data")
        assert data["score"] == pytest.approx(87.5)
        assert data["level"] == 4
        assert data["level_name"] == "optimised"
        assert data["n_answers"] == 2

    def test_na_answers_never_count(self) -> None:
        # versioning: 4 and N/A -> Q = 1 from one answer; quality: 0 and 1 of 2 -> Q = 0.25.
        # 100 * (1 * 1 + 3 * 0.25) / 4 = 43.75; answered 3 of 2 respondents x 2 questions.
        answers = [
            ("a", "r1", "versioning", 4),
            ("a", "r2", "versioning", None),
            ("a", "r1", "quality", 0),
            ("a", "r2", "quality", 1),
        ]
        result = run(BASIC, answers, {"a": 2})
        versioning = row(result.question_scores, team="a", question="versioning")
        assert versioning["n"] == 1
        assert versioning["mean"] == 1.0
        assert math.isnan(versioning["std"])
        data = row(result.dimension_scores, team="a", dimension="data")
        assert data["score"] == pytest.approx(43.75)
        assert data["answered_ratio"] == pytest.approx(0.75)

    def test_undefined_dimension_is_omitted_and_overall_uses_defined_ones(self) -> None:
        # deploy has only an N/A answer (an n == 0 row from SQL): no deploy row, and the
        # overall score is the data score alone despite deploy's larger weight.
        answers = [
            ("a", "r1", "versioning", 1),
            ("a", "r1", "quality", 1),
            ("a", "r1", "ci", None),
        ]
        stats_rows = aggregate_like_sql(BASIC, answers)
        assert (stats_rows["n"] == 0).sum() == 1
        result = run(BASIC, answers, {"a": 1})
        assert result.dimension_scores["dimension"].tolist() == ["data"]
        # 100 * (0.25 + 3 * 0.5) / 4 = 43.75
        team = row(result.team_scores, team="a")
        assert team["score"] == pytest.approx(43.75)
        assert team["level"] == 2
        assert "ci" not in result.question_scores["question"].tolist()

    def test_overall_level_is_the_weakest_link(self) -> None:
        # data = 87.5 (level 4); deploy: ci 1/4, monitoring 3/4 -> 50 (level 2).
        # overall = (1 * 87.5 + 2 * 50) / 3 = 62.5, which alone would be level 3.
        answers = [
            ("a", "r1", "versioning", 2),
            ("a", "r1", "quality", 2),
            ("a", "r1", "ci", 1),
            ("a", "r1", "monitoring", 3),
        ]
        team = row(run(BASIC, answers, {"a": 1}).team_scores, team="a")
        assert team["score"] == pytest.approx(62.5)
        assert team["level"] == 2
        assert team["level_name"] == "defined"
        assert team["weakest_dimension"] == "deploy"

    def test_weakest_dimension_ties_break_on_score_then_order(self) -> None:
        # Team a: data 100 * (1 * 0.5 + 3 * 0.5) / 4 = 50 and deploy 100 * 0.5 = 50, both
        # level 2 with equal scores -> the first dimension in order, data.
        # Team c: data 100 * (1 * 0.75 + 3 * 0.5) / 4 = 56.25 vs deploy 50, both level 2 ->
        # the lower score, deploy.
        answers = [
            ("a", "r1", "versioning", 2),
            ("a", "r1", "quality", 1),
            ("a", "r1", "ci", 2),
            ("c", "r1", "versioning", 3),
            ("c", "r1", "quality", 1),
            ("c", "r1", "ci", 2),
        ]
        result = run(BASIC, answers, {"a": 1, "c": 1})
        assert row(result.team_scores, team="a")["weakest_dimension"] == "data"
        assert row(result.team_scores, team="a")["level"] == 2
        assert row(result.team_scores, team="c")["weakest_dimension"] == "deploy"

    def test_team_without_answers_has_nan_score(self) -> None:
        result = run(BASIC, [("a", "r1", "ci", 4)], {"a": 1, "idle": 3})
        idle = row(result.team_scores, team="idle")
        assert math.isnan(idle["score"])
        assert idle["level"] is pd.NA
        assert idle["weakest_dimension"] is None
        assert idle["n_respondents"] == 3
        assert math.isnan(idle["percentile"])
        assert result.team_scores["team"].tolist() == ["a", "idle"]


class TestDontKnowAndPlans:
    def test_dont_know_never_scores_but_is_counted_per_question_dimension_and_team(self) -> None:
        # versioning: 4 and don't know -> Q = 1 from one answer (n = 1, not 2); quality: two
        # don't knows -> no score, a row with n = 0; ci: don't know only -> deploy undefined.
        answers = [
            ("a", "r1", "versioning", 4),
            ("a", "r2", "versioning", DONT_KNOW),
            ("a", "r1", "quality", DONT_KNOW),
            ("a", "r2", "quality", DONT_KNOW),
            ("a", "r1", "ci", DONT_KNOW),
        ]
        result = run(BASIC, answers, {"a": 2})
        versioning = row(result.question_scores, team="a", question="versioning")
        assert (versioning["n"], versioning["mean"], versioning["dont_know"]) == (1, 1.0, 1)
        quality = row(result.question_scores, team="a", question="quality")
        assert (quality["n"], quality["dont_know"]) == (0, 2)
        assert math.isnan(quality["mean"]) and not quality["contested"]
        data = row(result.dimension_scores, team="a", dimension="data")
        # Only versioning is scored: 100 * 1; answered 1 of 2 respondents x 2 questions.
        assert (data["score"], data["n_answers"], data["dont_know"]) == (100.0, 1, 3)
        assert data["answered_ratio"] == pytest.approx(0.25)
        assert result.dimension_scores["dimension"].tolist() == ["data"]
        team = row(result.team_scores, team="a")
        assert (team["score"], team["dont_know"]) == (100.0, 4)  # ci's counts too
        # A question with no choice has nothing to recommend.
        assert ranked_questions(result, "a") == []

    def test_answers_to_questions_a_team_is_not_asked_do_not_count(self) -> None:
        # Team a is asked only the data questions (deploy is out of scope, or answered by
        # its parent): its deploy answers, low as they are, neither score nor cap its level.
        answers = [
            ("a", "r1", "versioning", 4),
            ("a", "r1", "quality", 2),
            ("a", "r1", "ci", 0),
            ("a", "r1", "monitoring", DONT_KNOW),
            ("b", "r1", "ci", 0),
        ]
        asked = {"a": {"versioning", "quality"}, "b": {"ci", "monitoring"}}
        result = run(BASIC, answers, {"a": 1, "b": 1}, asked=asked)
        team = row(result.team_scores, team="a")
        assert (team["score"], team["level"], team["weakest_dimension"]) == (100.0, 4, "data")
        assert team["dont_know"] == 0
        assert result.question_scores.query("team == 'a'")["question"].tolist() == [
            "versioning",
            "quality",
        ]
        assert row(result.dimension_scores, team="a", dimension="data")["answered_ratio"] == 1.0
        # b answered one of the two deploy questions it is asked: ratio 1/2, not 1/2 of 4.
        deploy = row(result.dimension_scores, team="b", dimension="deploy")
        assert deploy["answered_ratio"] == 0.5
        # A team asked nothing scores nothing.
        nothing = run(BASIC, answers, {"a": 1, "b": 1}, asked={"b": {"ci"}})
        assert math.isnan(row(nothing.team_scores, team="a")["score"])


class TestDisagreement:
    def test_std_of_exactly_a_quarter_is_contested(self) -> None:
        # ci: 0 and 2 of 4 -> v = 0, 0.5: mean 0.25, mean_v2 0.125, std sqrt(0.0625) = 0.25.
        # monitoring: 1 and 2 -> v = 0.25, 0.5: std 0.125, not contested.
        answers = [
            ("a", "r1", "ci", 0),
            ("a", "r2", "ci", 2),
            ("a", "r1", "monitoring", 1),
            ("a", "r2", "monitoring", 2),
            ("a", "r1", "versioning", 3),
        ]
        result = run(BASIC, answers, {"a": 2})
        ci = row(result.question_scores, team="a", question="ci")
        monitoring = row(result.question_scores, team="a", question="monitoring")
        assert ci["std"] == pytest.approx(0.25)
        assert bool(ci["contested"]) is True
        assert monitoring["std"] == pytest.approx(0.125)
        assert bool(monitoring["contested"]) is False
        deploy = row(result.dimension_scores, team="a", dimension="deploy")
        assert deploy["disagreement"] == pytest.approx(0.1875)
        # A single answer has no disagreement: data's only question has n = 1.
        data = row(result.dimension_scores, team="a", dimension="data")
        assert math.isnan(data["disagreement"])
        assert data["answered_ratio"] == pytest.approx(1 / 4)

    def test_std_from_aggregates_is_clamped_at_zero(self) -> None:
        # mean_v2 slightly below mean_v**2 from float noise must give 0, not NaN.
        stats_rows = pd.DataFrame(
            {
                "team": ["a"],
                "question": ["ci"],
                "n": [3],
                "mean_v": [1 / 3],
                "mean_v2": [(1 / 3) ** 2 - 1e-16],
            }
        )
        result = score_teams(stats_rows, to_framework(BASIC), pd.Series({"a": 3}))
        assert result.question_scores["std"].tolist() == [0.0]


class TestIntervals:
    def test_three_respondents_give_a_clipped_t_interval(self) -> None:
        # Per-respondent deploy score = 100 * (ci + monitoring) / 8: sums 3, 4, 7 give
        # 37.5, 50, 87.5. mean 58.33, s = 26.02, t(0.95, 2) = 2.92 -> 58.33 -/+ 43.87.
        answers = [
            ("a", "r1", "ci", 2),
            ("a", "r1", "monitoring", 1),
            ("a", "r2", "ci", 2),
            ("a", "r2", "monitoring", 2),
            ("a", "r3", "ci", 4),
            ("a", "r3", "monitoring", 3),
        ]
        result = run(BASIC, answers, {"a": 3})
        deploy = row(result.dimension_scores, team="a", dimension="deploy")
        center = (37.5 + 50 + 87.5) / 3
        sample_std = math.sqrt(
            ((37.5 - center) ** 2 + (50 - center) ** 2 + (87.5 - center) ** 2) / 2
        )
        half = stats.t.ppf(0.95, 2) * sample_std / math.sqrt(3)
        assert half == pytest.approx(43.87, abs=0.01)
        assert deploy["interval_low"] == pytest.approx(center - half)
        assert deploy["interval_high"] == 100.0  # 102.2 clipped

    def test_fewer_than_three_respondents_or_no_input_give_nan(self) -> None:
        answers = [("a", "r1", "ci", 2), ("a", "r2", "ci", 3)]
        deploy = row(run(BASIC, answers, {"a": 2}).dimension_scores, dimension="deploy")
        assert math.isnan(deploy["interval_low"])
        assert math.isnan(deploy["interval_high"])
        answers.append(("a", "r3", "ci", 4))
        result = run(BASIC, answers, {"a": 3}, with_intervals=False)
        assert result.dimension_scores[["interval_low", "interval_high"]].isna().all(axis=None)

    def test_moments_from_the_database_give_the_same_intervals(self) -> None:
        answers = [
            ("a", "r1", "ci", 2),
            ("a", "r1", "monitoring", 1),
            ("a", "r2", "ci", 2),
            ("a", "r2", "monitoring", 2),
            ("a", "r3", "ci", 4),
            ("a", "r3", "monitoring", 3),
            ("b", "r4", "ci", 1),
            ("b", "r5", "ci", 1),
            ("b", "r6", "ci", 1),
        ]
        raw = respondent_scores(BASIC, answers)
        moments = (
            raw.assign(square=raw["score"] ** 2)
            .groupby(["team", "dimension"])
            .agg(count=("score", "size"), mean=("score", "mean"), mean_sq=("square", "mean"))
            .reset_index()
        )
        from_raw = run(BASIC, answers, {"a": 3, "b": 3}).dimension_scores
        from_moments = score_teams(
            aggregate_like_sql(BASIC, answers),
            to_framework(BASIC),
            pd.Series({"a": 3, "b": 3}),
            respondent_dimension_moments=moments,
        ).dimension_scores
        for column in ("interval_low", "interval_high"):
            assert from_moments[column].to_numpy() == pytest.approx(
                from_raw[column].to_numpy(), abs=1e-9
            )
        # Everyone agrees in team b: a zero-width interval, not float noise.
        agreed = row(from_moments, team="b", dimension="deploy")
        assert agreed["interval_low"] == agreed["interval_high"] == 25.0


class TestRecommendations:
    def test_text_current_choice_and_priority(self) -> None:
        # ci: answers 2 and 3 of 4 -> Q = 0.625, Q * S = 2.5 -> current choice 2, next 3.
        # priority = W_deploy 2 * w 1 * (1 - 0.625) = 0.75. monitoring at 4 is done.
        answers = [
            ("a", "r1", "ci", 2),
            ("a", "r2", "ci", 3),
            ("a", "r1", "monitoring", 4),
        ]
        recs = run(BASIC, answers, {"a": 2}).recommendations
        assert recs["question"].tolist() == ["ci"]
        ci = recs.iloc[0]
        assert ci["rank"] == 1
        assert ci["dimension"] == "deploy"
        assert ci["current_score"] == 2
        assert ci["next_score"] == 3
        assert ci["text"] == "ci: to 3"
        assert ci["priority"] == pytest.approx(0.75)
        assert ci["requires"] == []

    def test_priority_order_with_ties_broken_by_key(self) -> None:
        plain = spec(
            [("ops", 1.0)],
            [
                question("zeta", "ops", 1),
                question("alpha", "ops", 2),
                question("mid", "ops", 3, weight=2.0),
            ],
        )
        # zeta and alpha both 1 * 1 * (1 - 0.5) = 0.5; mid 2 * (1 - 0.5) = 1.
        answers = [("a", "r1", "zeta", 2), ("a", "r1", "alpha", 2), ("a", "r1", "mid", 2)]
        result = run(plain, answers, {"a": 1})
        assert ranked_questions(result, "a") == ["mid", "alpha", "zeta"]
        assert result.recommendations["rank"].tolist() == [1, 2, 3]

    def test_float_noise_does_not_break_a_priority_tie(self) -> None:
        plain = spec(
            [("ops", 1.0)],
            [
                question("a-noisy", "ops", 1, weight=3.0, max_score=6),
                question("b-exact", "ops", 2),
            ],
        )
        # a-noisy: 3 * (1 - 5/6) is 0.5 exactly but 0.4999999999999999 in floats;
        # b-exact: 1 * (1 - 2/4) = 0.5. A tie, so the key decides.
        answers = [("a", "r1", "a-noisy", 5), ("a", "r1", "b-exact", 2)]
        result = run(plain, answers, {"a": 1})
        assert row(result.recommendations, question="a-noisy")["priority"] < 0.5
        assert ranked_questions(result, "a") == ["a-noisy", "b-exact"]

    def test_prerequisite_is_recommended_before_a_higher_priority_dependent(self) -> None:
        plain = spec(
            [("ops", 1.0)],
            [
                question("b-tracking", "ops", 1),
                question("a-serving", "ops", 2, weight=2.0, requires=["b-tracking"]),
                question("c-alerts", "ops", 3),
            ],
        )
        # priorities: a-serving 2 * 1 = 2, b-tracking 1 * 0.75 = 0.75, c-alerts 0.5.
        answers = [
            ("a", "r1", "b-tracking", 1),
            ("a", "r1", "a-serving", 0),
            ("a", "r1", "c-alerts", 2),
            # Team "free" already has tracking done, so serving no longer waits for it.
            ("free", "r1", "b-tracking", 4),
            ("free", "r1", "a-serving", 0),
            ("free", "r1", "c-alerts", 2),
        ]
        result = run(plain, answers, {"a": 1, "free": 1})
        assert ranked_questions(result, "a") == ["b-tracking", "a-serving", "c-alerts"]
        assert ranked_questions(result, "free") == ["a-serving", "c-alerts"]
        recs = result.recommendations
        assert row(recs, team="a", question="a-serving")["requires"] == ["b-tracking"]
        assert row(recs, team="free", question="a-serving")["requires"] == []

    def test_greedy_takes_the_best_available_along_a_chain(self) -> None:
        plain = spec(
            [("ops", 1.0)],
            [
                question("a", "ops", 1),
                question("b", "ops", 2, weight=1.5, requires=["a"]),
                question("c", "ops", 3, weight=2.0, requires=["b"]),
                question("d", "ops", 4),
            ],
        )
        # priorities: c 2, b 1.5, d 0.5, a 0.25. Available first: a and d -> d, a, b, c.
        answers = [("t", "r1", "a", 3), ("t", "r1", "b", 0), ("t", "r1", "c", 0)]
        answers.append(("t", "r1", "d", 2))
        assert ranked_questions(run(plain, answers, {"t": 1}), "t") == ["d", "a", "b", "c"]


class TestPercentile:
    def test_ties_share_the_average_rank(self) -> None:
        plain = spec([("ops", 1.0)], [question("q", "ops", 1)])
        answers = [
            ("low-1", "r1", "q", 2),
            ("low-2", "r1", "q", 2),
            ("high", "r1", "q", 4),
        ]
        result = run(plain, answers, {"low-1": 1, "low-2": 1, "high": 1, "idle": 1})
        percentiles = result.team_scores.set_index("team")["percentile"]
        assert percentiles["low-1"] == pytest.approx(50.0)  # ranks 1 and 2 -> 1.5 of 3
        assert percentiles["low-2"] == pytest.approx(50.0)
        assert percentiles["high"] == pytest.approx(100.0)
        assert math.isnan(percentiles["idle"])


class TestInputs:
    def test_empty_inputs_give_empty_frames_with_columns(self) -> None:
        empty_stats = pd.DataFrame(columns=["team", "question", "n", "mean_v", "mean_v2"])
        result = score_teams(empty_stats, to_framework(BASIC), pd.Series({"a": 2, "b": 0}))
        assert result.team_scores.columns.tolist() == TEAM_SCORE_COLUMNS
        assert result.team_scores["team"].tolist() == ["a", "b"]
        assert result.team_scores["score"].isna().all()
        assert result.dimension_scores.columns.tolist() == DIMENSION_SCORE_COLUMNS
        assert result.question_scores.columns.tolist() == QUESTION_SCORE_COLUMNS
        assert result.recommendations.columns.tolist() == RECOMMENDATION_COLUMNS
        assert result.dimension_scores.empty and result.recommendations.empty
        nothing = score_teams(empty_stats, to_framework(BASIC), pd.Series(dtype="int64"))
        assert nothing.team_scores.empty

    def test_unknown_question_raises(self) -> None:
        stats_rows = pd.DataFrame(
            {"team": ["a"], "question": ["nope"], "n": [0], "mean_v": [np.nan], "mean_v2": [0]}
        )
        with pytest.raises(ValueError, match="not in the framework"):
            score_teams(stats_rows, to_framework(BASIC), pd.Series({"a": 1}))

    def test_team_missing_from_respondents_raises(self) -> None:
        stats_rows = aggregate_like_sql(BASIC, [("ghost", "r1", "ci", 1)])
        with pytest.raises(ValueError, match="missing from respondents"):
            score_teams(stats_rows, to_framework(BASIC), pd.Series({"a": 1}))

    def test_more_answers_than_respondents_raises(self) -> None:
        stats_rows = aggregate_like_sql(BASIC, [("a", "r1", "ci", 1), ("a", "r2", "ci", 2)])
        with pytest.raises(ValueError, match="more answers"):
            score_teams(stats_rows, to_framework(BASIC), pd.Series({"a": 1}))

    def test_prerequisite_cycle_raises(self) -> None:
        plain = spec(
            [("ops", 1.0)],
            [question("x", "ops", 1, requires=["y"]), question("y", "ops", 2, requires=["x"])],
        )
        with pytest.raises(ValueError) as raised:
            run(plain, [("a", "r1", "x", 1)], {"a": 1})
        assert str(raised.value) in (
            "prerequisites form a cycle: x -> y -> x",
            "prerequisites form a cycle: y -> x -> y",
        )

    def test_integer_team_ids(self) -> None:
        answers = [(7, "r1", "ci", 2), (3, "r1", "ci", 4)]
        result = run(BASIC, answers, {7: 1, 3: 1, 5: 1})
        assert result.team_scores["team"].tolist() == [3, 5, 7]
        assert ranked_questions(result, 7) == ["ci"]


# --- property test against the reference -------------------------------------------------

QUESTION_KEYS = [f"q-{name}" for name in "abcdefghijklmnopqrstuvwxyz"[:20]]
DIMENSION_KEYS = ["data", "deploy", "monitor", "people"]
WEIGHTS = [0.5, 1.0, 1.5, 2.0]
LEVEL_SETS = [
    LEVELS,
    [
        {"level": 0, "name": "none", "threshold": 0.0},
        {"level": 1, "name": "some", "threshold": 25.0},
        {"level": 2, "name": "half", "threshold": 50.0},
        {"level": 3, "name": "most", "threshold": 75.0},
    ],
    [
        {"level": 0, "name": "start", "threshold": 0.0},
        {"level": 1, "name": "third", "threshold": 100 / 3},
        {"level": 2, "name": "two thirds", "threshold": 200 / 3},
    ],
]


@st.composite
def frameworks(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    """Draw 1-4 dimensions of 1-5 questions with acyclic prerequisites."""
    sizes = draw(st.lists(st.integers(1, 5), min_size=1, max_size=4))
    keys = draw(st.permutations(QUESTION_KEYS))[: sum(sizes)]
    dimension_keys = draw(st.permutations(DIMENSION_KEYS))[: len(sizes)]
    dimension_orders = draw(st.permutations(range(len(sizes))))
    questions = []
    for position, key in enumerate(keys):
        dimension_index = next(i for i in range(len(sizes)) if position < sum(sizes[: i + 1]))
        # Only earlier questions can be required, which keeps the graph acyclic.
        earlier = keys[:position]
        requires = (
            draw(st.lists(st.sampled_from(earlier), max_size=2, unique=True)) if earlier else []
        )
        questions.append(
            question(
                key,
                dimension_keys[dimension_index],
                position,
                weight=draw(st.sampled_from(WEIGHTS)),
                max_score=draw(st.integers(2, 4)),
                requires=requires,
            )
        )
    plain = spec(
        [(key, draw(st.sampled_from(WEIGHTS))) for key in dimension_keys],
        questions,
        draw(st.sampled_from(LEVEL_SETS)),
    )
    for dimension, order in zip(plain["dimensions"], dimension_orders, strict=True):
        dimension["order"] = order
    for choice in plain["choices"]:
        if choice["next_step"] is not None and draw(st.integers(0, 9)) == 0:
            choice["next_step"] = None
    return plain


@st.composite
def answer_sets(
    draw: st.DrawFn, plain: dict[str, list[dict[str, Any]]]
) -> tuple[list[Answer], dict[Hashable, int]]:
    """Draw 1-6 teams of 0-6 respondents with N/A, skipped, uniform and copied answers."""
    answers: list[Answer] = []
    respondents: dict[Hashable, int] = {}
    by_team: dict[str, list[Answer]] = {}
    for index in range(draw(st.integers(1, 6))):
        team = f"team-{index}"
        mode = draw(st.sampled_from(["random", "random", "zero", "max", "copy"]))
        if mode == "copy" and by_team:
            source = draw(st.sampled_from(sorted(by_team)))
            team_answers = [(team, r, q, s) for _, r, q, s in by_team[source]]
            respondents[team] = respondents[source]
        else:
            count = draw(st.integers(0, 6))
            respondents[team] = count
            team_answers = []
            for respondent in range(count):
                for q in plain["questions"]:
                    if mode == "zero":
                        choice = 0
                    elif mode == "max":
                        choice = q["max_score"]
                    else:
                        # -3: don't know, -2: skipped (no answer at all), -1: N/A.
                        choice = draw(st.integers(-3, q["max_score"]))
                    if choice == -2:
                        continue
                    score: int | str | None = {-1: None, -3: DONT_KNOW}.get(choice, choice)
                    team_answers.append((team, f"r{respondent}", q["key"], score))
        by_team[team] = team_answers
        answers.extend(team_answers)
    return answers, respondents


Scenario = tuple[
    dict[str, list[dict[str, Any]]],
    list[Answer],
    dict[Hashable, int],
    dict[Hashable, set[str]] | None,
]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """Draw a framework, answers and, half of the time, plans: per team the questions it is
    asked (answers to the others are stored but must not count)."""
    plain = draw(frameworks())
    answers, respondents = draw(answer_sets(plain))
    asked = None
    if draw(st.booleans()):
        keys = [q["key"] for q in plain["questions"]]
        asked = {
            team: set(draw(st.lists(st.sampled_from(keys), unique=True))) for team in respondents
        }
    return plain, answers, respondents, asked


def assert_close(actual: Any, expected: Any, what: str) -> None:
    """Assert two floats agree within 1e-9, NaN matching NaN."""
    if expected is None or (isinstance(expected, float) and math.isnan(expected)):
        assert actual is None or actual is pd.NA or math.isnan(actual), f"{what}: {actual}"
    else:
        assert actual == pytest.approx(expected, abs=1e-9, rel=0), f"{what}: {actual} != {expected}"


def assert_same_level(actual: Any, expected: int | None, what: str) -> None:
    """Assert a level from to_dict("records") matches; records turn <NA> into None."""
    if expected is None:
        assert actual is None or actual is pd.NA, f"{what}: {actual} != <NA>"
    else:
        assert actual == expected, f"{what}: {actual} != {expected}"


def dimension_order(plain: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    return {dimension["key"]: dimension["order"] for dimension in plain["dimensions"]}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_engine_matches_reference(scenario: Scenario) -> None:
    plain, answers, respondents, asked = scenario
    expected = reference_score(plain, answers, respondents, asked)
    result = run(plain, answers, respondents, asked=asked)
    order = dimension_order(plain)
    question_order = {q["key"]: q["order"] for q in plain["questions"]}

    teams = result.team_scores
    assert teams.columns.tolist() == TEAM_SCORE_COLUMNS
    assert teams["level"].dtype == "Int64"
    assert teams["team"].tolist() == sorted(respondents)
    for record in teams.to_dict("records"):
        want = expected["teams"][record["team"]]
        what = f"team {record['team']}"
        assert_close(record["score"], want["score"], f"{what} score")
        assert_same_level(record["level"], want["level"], f"{what} level")
        assert record["level_name"] == want["level_name"], what
        assert record["weakest_dimension"] == want["weakest_dimension"], what
        assert record["n_respondents"] == want["n_respondents"], what
        assert_close(record["percentile"], want["percentile"], f"{what} percentile")
        assert record["dont_know"] == want["dont_know"], what

    dimensions = result.dimension_scores
    assert dimensions.columns.tolist() == DIMENSION_SCORE_COLUMNS
    keys = list(zip(dimensions["team"], dimensions["dimension"], strict=True))
    assert keys == sorted(expected["dimensions"], key=lambda key: (key[0], order[key[1]]))
    for record in dimensions.to_dict("records"):
        key = (record["team"], record["dimension"])
        want = expected["dimensions"][key]
        for column in ["score", "disagreement", "answered_ratio", "interval_low", "interval_high"]:
            assert_close(record[column], want[column], f"{key} {column}")
        assert_same_level(record["level"], want["level"], f"{key} level")
        assert record["level_name"] == want["level_name"], key
        assert record["n_answers"] == want["n_answers"], key
        assert record["dont_know"] == want["dont_know"], key

    questions = result.question_scores
    assert questions.columns.tolist() == QUESTION_SCORE_COLUMNS
    keys = list(zip(questions["team"], questions["question"], strict=True))
    assert keys == sorted(
        expected["questions"],
        key=lambda key: (
            key[0],
            order[expected["questions"][key]["dimension"]],
            question_order[key[1]],
        ),
    )
    for record in questions.to_dict("records"):
        key = (record["team"], record["question"])
        want = expected["questions"][key]
        assert record["dimension"] == want["dimension"], key
        assert record["n"] == want["n"], key
        assert_close(record["mean"], want["mean"], f"{key} mean")
        assert_close(record["std"], want["std"], f"{key} std")
        assert bool(record["contested"]) == want["contested"], key
        assert record["dont_know"] == want["dont_know"], key

    recs = result.recommendations
    assert recs.columns.tolist() == RECOMMENDATION_COLUMNS
    assert recs["team"].tolist() == sorted(recs["team"].tolist())
    for team in respondents:
        got = recs[recs["team"] == team].to_dict("records")
        want_list = expected["recommendations"][team]
        assert [r["question"] for r in got] == [w["question"] for w in want_list], team
        for record, want in zip(got, want_list, strict=True):
            what = f"{team} {record['question']}"
            assert record["rank"] == want["rank"], what
            assert record["dimension"] == want["dimension"], what
            assert_close(record["priority"], want["priority"], f"{what} priority")
            assert record["current_score"] == want["current_score"], what
            assert record["next_score"] == want["next_score"], what
            assert record["text"] == want["text"], what
            assert record["requires"] == want["requires"], what


class TestTargets:
    def test_a_dimension_below_target_moves_up_the_roadmap(self) -> None:
        # versioning (data, W=1): answer 1/4 -> priority 1 * 1 * 0.75 = 0.75, data level 1.
        # ci (deploy, W=2): answer 2/4 -> priority 2 * 1 * 0.5 = 1.0, deploy level 2.
        answers = [("a", "r1", "versioning", 1), ("a", "r1", "ci", 2)]
        stats = aggregate_like_sql(BASIC, answers)
        framework = to_framework(BASIC)
        plain = score_teams(stats, framework, pd.Series({"a": 1}))
        assert ranked_questions(plain, "a") == ["ci", "versioning"]

        # Target level 3 for data: 2 levels short -> priority x3 = 2.25, now first.
        targets = pd.DataFrame({"team": ["a"], "dimension": ["data"], "target_level": [3]})
        targeted = score_teams(stats, framework, pd.Series({"a": 1}), targets=targets)
        assert ranked_questions(targeted, "a") == ["versioning", "ci"]
        assert row(targeted.recommendations, question="versioning")["priority"] == pytest.approx(
            2.25
        )
        # A target already reached changes nothing.
        reached = pd.DataFrame({"team": ["a"], "dimension": ["deploy"], "target_level": [1]})
        same = score_teams(stats, framework, pd.Series({"a": 1}), targets=reached)
        assert (
            same.recommendations["priority"].tolist() == plain.recommendations["priority"].tolist()
        )
