"""Question quality measured from the answers of a round: pure pandas, no Django.

The aggregation worker feeds every counted answer of a survey in and stores what comes out;
an admin page and the API show it so that a framework's authors know what to rewrite.

Per question:

- ``n_answers``: answers with a choice; ``na_rate`` and ``dont_know_rate``: the shares of
  N/A and "don't know" among all answers to the question (choice, N/A or don't know).
- ``agreement``: within-team agreement, Krippendorff's alpha at the ordinal level
  (Krippendorff, "Computing Krippendorff's Alpha-Reliability", 2011), with the question's
  choice scores as the value domain: each team with at least two answers is a unit, its
  respondents' choices the unit's values. Computed by the ``krippendorff`` package. Below
  0.667, the lowest alpha Krippendorff accepts for tentative conclusions, people of one
  team read the question differently: it is flagged **ambiguous**, once at least 5 teams
  (units) have two answers or more; with fewer, alpha swings with one respondent and the
  flag would be noise (our minimum, not a published one).
- ``top_share``: the share of answers on the most chosen choice; at 0.9 or more (with at
  least 10 answers) the question tells teams apart too little: **uninformative**.
- ``dont_know_rate`` of 0.25 or more: respondents cannot see what it asks: **unknown**.
- ``item_rest``: Pearson's r, over respondents, between the question's v (score / S) and
  the mean v of the other questions of its dimension that they answered; low values mean
  the question measures something else than its dimension.

Per dimension: ``cronbach_alpha`` (Cronbach, 1951), k/(k−1)·(1 − Σ var(item) / var(sum)),
sample variances, over the respondents who answered every question of the dimension with a
choice (listwise deletion); ``n_complete`` counts them. Undefined (NaN) below 2 questions or
2 such respondents, or when the sums do not vary.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import krippendorff
import numpy as np
import pandas as pd

ANSWER_COLUMNS = [
    "response",
    "team",
    "question",
    "dimension",
    "score",
    "max_score",
    "na",
    "dont_know",
]
QUESTION_COLUMNS = [
    "question",
    "dimension",
    "n_answers",
    "na_rate",
    "dont_know_rate",
    "agreement",
    "agreement_teams",
    "top_share",
    "item_rest",
    "flags",
]
DIMENSION_COLUMNS = ["dimension", "questions", "n_complete", "cronbach_alpha"]


@dataclass(frozen=True)
class Thresholds:
    """When a question is flagged (see the module's docstring for the sources)."""

    agreement: float = 0.667
    agreement_min_teams: int = 5
    top_share: float = 0.9
    top_share_min_answers: int = 10
    dont_know_rate: float = 0.25


def question_health(answers: pd.DataFrame, thresholds: Thresholds | None = None) -> pd.DataFrame:
    """Return one row per question answered in ``answers`` (QUESTION_COLUMNS).

    ``answers`` has ANSWER_COLUMNS, one row per counted answer: ``score`` is the choice
    score (NaN for N/A or don't know), ``na`` and ``dont_know`` booleans. ``flags`` lists
    "ambiguous", "uninformative" and "unknown" as they apply. Rows come sorted by
    question key.
    """
    thresholds = thresholds or Thresholds()
    if answers.empty:
        return pd.DataFrame(columns=QUESTION_COLUMNS)
    chosen = answers[answers["score"].notna()]
    totals = answers.groupby("question").agg(
        dimension=("dimension", "first"),
        answers=("question", "size"),
        na=("na", "sum"),
        dont_know=("dont_know", "sum"),
    )
    health = pd.DataFrame(
        {
            "dimension": totals["dimension"],
            "n_answers": chosen.groupby("question").size().reindex(totals.index, fill_value=0),
            "na_rate": totals["na"] / totals["answers"],
            "dont_know_rate": totals["dont_know"] / totals["answers"],
        }
    )
    agreement = _agreements(chosen)
    health["agreement"] = [agreement.get(key, (np.nan, 0))[0] for key in health.index]
    health["agreement_teams"] = [agreement.get(key, (np.nan, 0))[1] for key in health.index]
    counts = chosen.groupby(["question", "score"]).size()
    top = counts.groupby(level="question").max() / counts.groupby(level="question").sum()
    health["top_share"] = top.reindex(health.index)
    health["item_rest"] = _item_rest(chosen).reindex(health.index)
    flagged = {
        "ambiguous": health["agreement"].lt(thresholds.agreement)  # NaN: not flagged
        & health["agreement_teams"].ge(thresholds.agreement_min_teams),
        "uninformative": health["n_answers"].ge(thresholds.top_share_min_answers)
        & health["top_share"].ge(thresholds.top_share),
        "unknown": health["dont_know_rate"].ge(thresholds.dont_know_rate),
    }
    health["flags"] = [
        [name for name, on in flagged.items() if on.loc[key]] for key in health.index
    ]
    return health.rename_axis("question").reset_index()[QUESTION_COLUMNS]


def _agreements(chosen: pd.DataFrame) -> dict[Hashable, tuple[float, int]]:
    """Return per question (ordinal alpha, teams used) of its chosen answers.

    Questions without a team of two answers are left out. Works on integer codes: copies
    of the key columns (Python strings) cost more than the statistics at 1M answers.
    """
    questions, keys = pd.factorize(chosen["question"])
    frame = pd.DataFrame(
        {
            "question": questions,
            "team": pd.factorize(chosen["team"])[0],
            "score": chosen["score"].to_numpy(dtype=float),
            "max_score": chosen["max_score"].to_numpy(dtype=float),
        }
    )
    per_team = frame.groupby(["question", "team"])["score"]
    frame["position"] = per_team.cumcount().to_numpy()
    pairable = frame[per_team.transform("size").to_numpy() >= 2]
    result: dict[Hashable, tuple[float, int]] = {}
    for code, answers in pairable.groupby("question"):
        # Reliability data: one column per unit (team), its respondents' values down the
        # rows (NaN where a team has fewer answers than the largest).
        teams, column = np.unique(answers["team"].to_numpy(), return_inverse=True)
        row = answers["position"].to_numpy()
        data = np.full((int(row.max()) + 1, len(teams)), np.nan)
        data[row, column] = answers["score"].to_numpy()
        alpha = _alpha(data, int(answers["max_score"].max()))
        result[keys[int(code)]] = (alpha, len(teams))
    return result


def _alpha(data: np.ndarray, max_score: int) -> float:
    """Return Krippendorff's ordinal alpha of reliability data on the scale 0..max_score."""
    try:
        with np.errstate(invalid="ignore", divide="ignore"):  # no variation at all: NaN
            alpha = krippendorff.alpha(
                reliability_data=data,
                level_of_measurement="ordinal",
                value_domain=np.arange(max_score + 1),
            )
    except ValueError:  # a single value in all the data: agreement is undefined
        return np.nan
    return float(alpha)


def _item_rest(chosen: pd.DataFrame) -> pd.Series:
    """Return per question Pearson's r of v against the mean v of its dimension's others."""
    questions, keys = pd.factorize(chosen["question"])
    # One group per (respondent, dimension), by integer id: v's sum and count there.
    v = (chosen["score"] / chosen["max_score"]).to_numpy(dtype=float)
    group = chosen.groupby(["response", "dimension"], sort=False).ngroup().to_numpy()
    per_response = pd.Series(v).groupby(group)
    total = per_response.transform("sum").to_numpy()
    count = per_response.transform("count").to_numpy()
    others = count >= 2
    rest = (total[others] - v[others]) / (count[others] - 1)
    frame = pd.DataFrame({"question": questions[others], "v": v[others], "rest": rest})

    def pearson(group: pd.DataFrame) -> float:
        if len(group) < 3 or group["v"].std() == 0 or group["rest"].std() == 0:
            return np.nan
        return float(np.corrcoef(group["v"], group["rest"])[0, 1])

    return pd.Series(
        {keys[int(code)]: pearson(group) for code, group in frame.groupby("question")},
        dtype=float,
    )


def dimension_health(answers: pd.DataFrame) -> pd.DataFrame:
    """Return per dimension its Cronbach's alpha over complete respondents (DIMENSION_COLUMNS).

    ``answers`` as for question_health; the dimension's questions are those answered in it.
    """
    rows = []
    for dimension, group in answers.groupby("dimension"):
        questions = sorted(group["question"].unique())
        chosen = group[group["score"].notna()]
        matrix = chosen.pivot_table(
            index="response", columns="question", values="score", aggfunc="first"
        ).reindex(columns=questions)
        complete = matrix.dropna()
        rows.append(
            {
                "dimension": dimension,
                "questions": len(questions),
                "n_complete": len(complete),
                "cronbach_alpha": cronbach_alpha(complete.to_numpy(dtype=float)),
            }
        )
    return pd.DataFrame(rows, columns=DIMENSION_COLUMNS)


def cronbach_alpha(items: np.ndarray) -> float:
    """Return Cronbach's alpha of a (respondents × items) matrix without missing values.

    k/(k−1)·(1 − Σ var(item) / var(row sums)), sample variances (ddof 1); NaN below 2
    items or 2 respondents, or when the row sums do not vary.
    """
    respondents, k = items.shape if items.ndim == 2 else (0, 0)
    if k < 2 or respondents < 2:
        return np.nan
    total_variance = items.sum(axis=1).var(ddof=1)
    if total_variance == 0:
        return np.nan
    return float(k / (k - 1) * (1 - items.var(axis=0, ddof=1).sum() / total_variance))
