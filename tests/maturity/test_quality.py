"""Question quality statistics (maturity.quality): pure, no database."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from maturity.quality import ANSWER_COLUMNS, cronbach_alpha, dimension_health, question_health

NAN = math.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four
# observers, twelve units, values 1..5, missing values blank. Published alphas: nominal
# 0.743, ordinal 0.815, interval 0.849.
CANONICAL = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]


def rows(*answers: tuple) -> pd.DataFrame:
    return pd.DataFrame(list(answers), columns=ANSWER_COLUMNS)


def test_within_team_agreement_is_krippendorffs_ordinal_alpha_of_the_published_example():
    # Each unit is a team and each observer's value an answer of one of its respondents.
    answers = rows(
        *(
            (f"{observer}-{unit}", f"team-{unit}", "q", "d", value, 5, False, False)
            for observer, values in enumerate(CANONICAL)
            for unit, value in enumerate(values)
            if not math.isnan(value)
        )
    )
    (health,) = question_health(answers).to_dict("records")
    assert round(health["agreement"], 3) == 0.815
    assert health["agreement_teams"] == 11  # the twelfth unit has one value: not pairable


def test_rates_top_share_and_flags():
    answers = rows(
        *[(f"r{i}", f"t{i % 2}", "clear", "d", 2, 4, False, False) for i in range(12)],
        *[(f"r{i}", f"t{i % 2}", "murky", "d", (i * 3) % 5, 4, False, False) for i in range(8)],
        *[(f"r{i}", f"t{i % 2}", "murky", "d", NAN, 4, False, True) for i in range(8, 12)],
        ("r0", "t0", "rare", "d", NAN, 4, True, False),
        ("r1", "t1", "rare", "d", 3, 4, False, False),
    )
    health = question_health(answers).set_index("question")
    assert health.loc["clear", "n_answers"] == 12 and health.loc["clear", "top_share"] == 1.0
    assert health.loc["clear", "flags"] == ["uninformative"]
    assert health.loc["murky", "dont_know_rate"] == pytest.approx(4 / 12)
    assert "unknown" in health.loc["murky", "flags"]
    assert health.loc["rare", "na_rate"] == 0.5 and health.loc["rare", "n_answers"] == 1
    assert math.isnan(health.loc["rare", "agreement"])  # no team with two answers
    assert health.loc["rare", "flags"] == []


def test_a_question_that_splits_every_team_is_ambiguous():
    answers = rows(
        *[
            (f"{team}-{person}", team, "q", "d", score, 4, False, False)
            for team in ("a", "b", "c", "d", "e")
            for person, score in enumerate((0, 4, 1, 3))
        ]
    )
    (health,) = question_health(answers).to_dict("records")
    assert health["agreement"] < 0 and health["flags"] == ["ambiguous"]


def test_agreement_over_fewer_than_five_teams_flags_nothing():
    """Break-it finding: 78 of 83 demo questions were "ambiguous" on alphas over a few
    small teams; below 5 teams alpha is shown but not flagged."""
    answers = rows(
        *[
            (f"{team}-{person}", team, "q", "d", score, 4, False, False)
            for team in ("a", "b", "c", "d")
            for person, score in enumerate((0, 4, 1, 3))
        ]
    )
    (health,) = question_health(answers).to_dict("records")
    assert health["agreement"] < 0 and health["agreement_teams"] == 4
    assert health["flags"] == []


def test_item_rest_correlation_is_pearson_of_v_against_the_mean_of_the_others():
    scores = {"r1": (0, 0, 1), "r2": (2, 1, 2), "r3": (4, 4, 3), "r4": (1, 2, 0)}
    answers = rows(
        *(
            (response, "t", question, "d", score, 4, False, False)
            for response, values in scores.items()
            for question, score in zip(("a", "b", "c"), values, strict=True)
        )
    )
    health = question_health(answers).set_index("question")
    a = np.array([values[0] for values in scores.values()]) / 4
    rest = np.array([(values[1] + values[2]) / 2 for values in scores.values()]) / 4
    assert health.loc["a", "item_rest"] == pytest.approx(np.corrcoef(a, rest)[0, 1])


def reference_alpha(items: np.ndarray) -> float:
    """Cronbach's alpha written out from its definition, one loop per item."""
    n, k = items.shape
    item_variances = 0.0
    for column in range(k):
        mean = sum(items[:, column]) / n
        item_variances += sum((x - mean) ** 2 for x in items[:, column]) / (n - 1)
    totals = [sum(items[row, :]) for row in range(n)]
    mean = sum(totals) / n
    total_variance = sum((t - mean) ** 2 for t in totals) / (n - 1)
    return k / (k - 1) * (1 - item_variances / total_variance)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(2, 30), st.integers(2, 8)),
        elements=st.integers(0, 4).map(float),
    )
)
def test_cronbach_alpha_agrees_with_its_definition(items):
    totals = items.sum(axis=1)
    if totals.var(ddof=1) == 0:
        assert math.isnan(cronbach_alpha(items))
    else:
        assert cronbach_alpha(items) == pytest.approx(reference_alpha(items), abs=1e-9)


def test_cronbach_alpha_of_parallel_items_is_one_and_undefined_edges_are_nan():
    parallel = np.array([[0, 0, 0], [1, 1, 1], [3, 3, 3], [4, 4, 4]], dtype=float)
    assert cronbach_alpha(parallel) == pytest.approx(1.0)
    assert math.isnan(cronbach_alpha(parallel[:, :1]))
    assert math.isnan(cronbach_alpha(parallel[:1]))


def test_dimension_alpha_uses_respondents_who_answered_every_question():
    answers = rows(
        ("r1", "t", "a", "d", 1, 4, False, False),
        ("r1", "t", "b", "d", 1, 4, False, False),
        ("r2", "t", "a", "d", 3, 4, False, False),
        ("r2", "t", "b", "d", 4, 4, False, False),
        ("r3", "t", "a", "d", 2, 4, False, False),
        ("r3", "t", "b", "d", NAN, 4, False, True),
    )
    (health,) = dimension_health(answers).to_dict("records")
    assert health["questions"] == 2 and health["n_complete"] == 2
    assert health["cronbach_alpha"] == pytest.approx(
        reference_alpha(np.array([[1.0, 1.0], [3.0, 4.0]]))
    )


def reference_agreement(answers: pd.DataFrame, question: str) -> tuple[float, int]:
    """Within-team alpha of one question written out plainly: team by team, then krippendorff."""
    import krippendorff

    chosen = answers[(answers["question"] == question) & answers["score"].notna()]
    teams = [g["score"].to_numpy(dtype=float) for _, g in chosen.groupby("team")]
    teams = [values for values in teams if len(values) >= 2]
    if not teams:
        return math.nan, 0
    data = np.full((max(len(values) for values in teams), len(teams)), np.nan)
    for column, values in enumerate(teams):
        data[: len(values), column] = values
    try:
        with np.errstate(invalid="ignore", divide="ignore"):
            alpha = krippendorff.alpha(
                reliability_data=data,
                level_of_measurement="ordinal",
                value_domain=np.arange(int(chosen["max_score"].max()) + 1),
            )
    except ValueError:
        return math.nan, len(teams)
    return float(alpha), len(teams)


def reference_item_rest(answers: pd.DataFrame, question: str) -> float:
    """Item-rest r of one question, respondent by respondent."""
    chosen = answers[answers["score"].notna()]
    dimension = chosen.loc[chosen["question"] == question, "dimension"].iloc[0]
    pairs = []
    for _, mine in chosen[chosen["dimension"] == dimension].groupby("response"):
        own = mine[mine["question"] == question]
        others = mine[mine["question"] != question]
        if len(own) and len(others):
            v = own["score"].iloc[0] / own["max_score"].iloc[0]
            pairs.append((v, (others["score"] / others["max_score"]).mean()))
    v, rest = np.array(pairs).T if pairs else (np.array([]), np.array([]))
    if len(v) < 3 or v.std() == 0 or rest.std() == 0:
        return math.nan
    return float(np.corrcoef(v, rest)[0, 1])


answer_values = st.one_of(st.integers(0, 3), st.sampled_from(["na", "dk"]))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.lists(answer_values, min_size=4, max_size=4)),
        min_size=1,
        max_size=25,
    )
)
def test_agreement_and_item_rest_agree_with_plain_references(respondents):
    questions = [("a", "d1"), ("b", "d1"), ("c", "d1"), ("e", "d2")]
    answers = rows(
        *(
            (
                f"r{index}",
                f"t{team}",
                key,
                dimension,
                value if isinstance(value, int) else NAN,
                3,
                value == "na",
                value == "dk",
            )
            for index, (team, values) in enumerate(respondents)
            for (key, dimension), value in zip(questions, values, strict=True)
        )
    )
    health = question_health(answers).set_index("question")
    for key in health.index:
        alpha, teams = reference_agreement(answers, key)
        assert health.loc[key, "agreement_teams"] == teams
        assert health.loc[key, "agreement"] == pytest.approx(alpha, nan_ok=True, abs=1e-12)
        if (answers.loc[answers["question"] == key, "score"].notna()).any():
            expected = reference_item_rest(answers, key)
            assert health.loc[key, "item_rest"] == pytest.approx(expected, nan_ok=True, abs=1e-9)
