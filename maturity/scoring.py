"""Score MLOps maturity self-assessments from per-question aggregates (pure pandas/numpy/scipy).

The database reduces raw answers to one row per (team, question) with the count ``n`` of
non-N/A answers and the means of ``v`` and ``v**2``, where ``v = score / max_score`` is the
answer normalised to [0, 1]. Everything here is computed from those aggregates, vectorised
with groupby/merge/numpy; only the few dimensions, levels or ordering steps are looped over.

The rules (the contract that exports and tests rely on):

* Team question score ``Q(t,q)`` is ``mean_v``; N/A answers never count.
* Dimension score ``D(t,d) = 100 * sum(w_q * Q) / sum(w_q)`` over the questions of ``d`` that
  the team answered; undefined (no row) when it answered none.
* Overall score ``O(t) = sum(W_d * D) / sum(W_d)`` over the defined dimensions.
* The level of a 0-100 score is the highest level whose threshold is <= score, with a 1e-9
  tolerance so that 59.99999999999 (float noise from weighted means) still reaches 60. The
  overall level is the lowest dimension level ("weakest link"); the weakest dimension is the
  one with the lowest level, ties broken by the lowest score, then by dimension order.
* Disagreement of (t,q) is the population standard deviation of ``v``,
  ``sqrt(max(mean_v2 - mean_v**2, 0))``, defined only for ``n >= 2``; a question is contested
  when it is >= 0.25 (with 1e-9 tolerance). Dimension disagreement is the mean over its
  questions with ``n >= 2``.
* ``answered_ratio = sum(n) / (n_respondents * questions in d)``.
* A 90% t-interval over per-respondent dimension scores when at least 3 are defined.
* Recommendations for every answered question with ``Q < 1``; priority
  ``W_d * w_q * (1 - Q)``; ordered greedily by priority, a recommendation only once its
  recommended prerequisites have been taken.
* Percentile: ``100 * rank(pct=True, method="average")`` of the overall score among the teams
  with a defined score.

Ties: priorities (recommendation order), scores (weakest dimension) and overall scores
(percentile) are compared after rounding to ``TIE_DECIMALS`` decimals. Weighted means of the
same answers can differ in the last bit depending on summation order, and a mathematically
exact tie must still be broken by the documented rule (key, dimension order, average rank)
rather than by that noise. The reported values are never rounded.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

# Absorbs float noise of weighted means near level thresholds (59.99999999999 counts as 60).
LEVEL_TOLERANCE = 1e-9
# Absorbs float noise when deciding "fully achieved" (Q == 1) and the current choice.
FULL_SCORE_TOLERANCE = 1e-9
# Standard deviation of v from which a question counts as contested; 0.25 is exactly the
# spread of two answers half a scale apart (v = 0 and 0.5).
CONTESTED_STD = 0.25
CONTESTED_TOLERANCE = 1e-9
# Decimals kept when comparing values for ties (see the module docstring).
TIE_DECIMALS = 9
INTERVAL_CONFIDENCE = 0.90
MIN_INTERVAL_RESPONDENTS = 3

TEAM_SCORE_COLUMNS = [
    "team",
    "score",
    "level",
    "level_name",
    "weakest_dimension",
    "n_respondents",
    "percentile",
]
DIMENSION_SCORE_COLUMNS = [
    "team",
    "dimension",
    "score",
    "level",
    "level_name",
    "disagreement",
    "answered_ratio",
    "interval_low",
    "interval_high",
    "n_answers",
]
QUESTION_SCORE_COLUMNS = ["team", "question", "dimension", "n", "mean", "std", "contested"]
RECOMMENDATION_COLUMNS = [
    "team",
    "rank",
    "question",
    "dimension",
    "priority",
    "current_score",
    "next_score",
    "text",
    "requires",
]
QUESTION_STATS_COLUMNS = ["team", "question", "n", "mean_v", "mean_v2"]
# dtypes of the columns that are not object; used to build correctly typed empty frames.
_COLUMN_DTYPES = {
    "score": "float64",
    "level": "Int64",
    "n_respondents": "int64",
    "percentile": "float64",
    "disagreement": "float64",
    "answered_ratio": "float64",
    "interval_low": "float64",
    "interval_high": "float64",
    "n_answers": "int64",
    "n": "int64",
    "mean": "float64",
    "std": "float64",
    "contested": "bool",
    "rank": "int64",
    "priority": "float64",
    "current_score": "int64",
    "next_score": "int64",
    "mean_v": "float64",
    "mean_v2": "float64",
    "weight": "float64",
    "dimension_weight": "float64",
    "max_score": "int64",
}
RESPONDENT_SCORE_COLUMNS = ["team", "respondent", "dimension", "score"]

_REQUIRED_FRAMEWORK_COLUMNS = {
    "dimensions": ["dimension", "weight", "order"],
    "questions": ["question", "dimension", "weight", "max_score", "requires", "order"],
    "levels": ["level", "name", "threshold"],
    "choices": ["question", "score", "label", "next_step"],
}


# eq=False: the generated __eq__/__hash__ would compare DataFrames element-wise and fail.
@dataclass(frozen=True, eq=False)
class Framework:
    """A maturity framework as DataFrames.

    ``dimensions``: dimension (key), weight, order. ``questions``: question (key), dimension,
    weight, max_score (S_q, the highest choice score), requires (list of question keys),
    order. ``levels``: level, name, threshold. ``choices``: question, score, label, next_step.
    """

    dimensions: pd.DataFrame
    questions: pd.DataFrame
    levels: pd.DataFrame
    choices: pd.DataFrame

    # A Framework is treated as immutable: what is derived from it only (validation, the
    # prerequisite links, the question table) is computed once per instance, which matters
    # when one framework scores many small runs (reports.services caches the instance).
    @cached_property
    def prerequisite_edges(self) -> pd.DataFrame:
        return _prerequisite_edges(self)

    @cached_property
    def question_table(self) -> pd.DataFrame:
        return _question_table(self)

    def validate(self) -> None:
        """Raise ValueError when the framework cannot be scored.

        Checks columns, unique keys, known dimension/prerequisite/choice references, positive
        weights and max scores, and that prerequisites form no cycle (a cycle would leave
        recommendations that can never be taken).
        """
        if not self.__dict__.get("_valid"):
            self._check()
            # Frozen dataclass: remember the result the way cached_property does.
            self.__dict__["_valid"] = True

    def _check(self) -> None:
        for frame_name, columns in _REQUIRED_FRAMEWORK_COLUMNS.items():
            missing = [c for c in columns if c not in getattr(self, frame_name).columns]
            if missing:
                raise ValueError(f"framework {frame_name} lacks columns {missing}")
        _require_unique(self.dimensions["dimension"], "dimension key")
        _require_unique(self.questions["question"], "question key")
        _require_unique(self.levels["level"], "level")
        if self.choices.duplicated(["question", "score"]).any():
            raise ValueError("framework choices repeat a (question, score) pair")
        unknown_dimensions = ~self.questions["dimension"].isin(self.dimensions["dimension"])
        if unknown_dimensions.any():
            keys = sorted(self.questions.loc[unknown_dimensions, "question"].astype(str))
            raise ValueError(f"questions {keys} belong to unknown dimensions")
        if not (self.dimensions["weight"].astype(float) > 0).all():
            raise ValueError("dimension weights must be > 0")
        if not (self.questions["weight"].astype(float) > 0).all():
            raise ValueError("question weights must be > 0")
        if not (self.questions["max_score"].astype(float) > 0).all():
            raise ValueError("question max_score must be > 0")
        unknown_choices = ~self.choices["question"].isin(self.questions["question"])
        if unknown_choices.any():
            keys = sorted(set(self.choices.loc[unknown_choices, "question"].astype(str)))
            raise ValueError(f"choices refer to unknown questions {keys}")
        edges = self.prerequisite_edges
        unknown_prerequisites = ~edges["prerequisite"].isin(self.questions["question"])
        if unknown_prerequisites.any():
            keys = sorted(set(edges.loc[unknown_prerequisites, "prerequisite"].astype(str)))
            raise ValueError(f"requires refers to unknown questions {keys}")
        _require_acyclic(edges)


@dataclass(frozen=True, eq=False)
class ScoringResult:
    """The scores of every team; see the module docstring for the rules.

    ``team_scores``: team, score, level, level_name, weakest_dimension, n_respondents,
    percentile. ``dimension_scores`` (defined dimensions only): team, dimension, score, level,
    level_name, disagreement, answered_ratio, interval_low, interval_high, n_answers.
    ``question_scores`` (answered questions only): team, question, dimension, n, mean, std,
    contested. ``recommendations``: team, rank, question, dimension, priority, current_score,
    next_score, text, requires.
    """

    team_scores: pd.DataFrame
    dimension_scores: pd.DataFrame
    question_scores: pd.DataFrame
    recommendations: pd.DataFrame


def level_for(scores: pd.Series, levels: pd.DataFrame) -> pd.Series:
    """Return the level (nullable Int64) reached by each 0-100 score, aligned with ``scores``.

    The level is the highest level whose threshold is <= score + 1e-9: the tolerance makes
    59.99999999999 (float noise of a weighted mean) reach the level at 60. NaN scores, scores
    below every threshold and an empty ``levels`` give <NA>. Levels need not be sorted; if a
    higher level had a lower threshold, the highest qualifying level still wins.
    """
    result = pd.Series(pd.NA, index=scores.index, dtype="Int64")
    if levels.empty or scores.empty:
        return result
    by_threshold = levels.sort_values(["threshold", "level"], kind="mergesort")
    thresholds = by_threshold["threshold"].to_numpy(dtype=float)
    # Highest level among all levels up to each threshold position (usually the level itself).
    best_level = np.maximum.accumulate(by_threshold["level"].to_numpy(dtype=np.int64))
    values = scores.to_numpy(dtype=float, na_value=np.nan)
    position = np.searchsorted(thresholds, values + LEVEL_TOLERANCE, side="right") - 1
    reached = ~np.isnan(values) & (position >= 0)
    result[reached] = best_level[position[reached]]
    return result


def score_teams(
    question_stats: pd.DataFrame,
    framework: Framework,
    respondents: pd.Series,
    respondent_dimension_scores: pd.DataFrame | None = None,
    respondent_dimension_moments: pd.DataFrame | None = None,
    targets: pd.DataFrame | None = None,
) -> ScoringResult:
    """Score every team in ``respondents`` from its per-question answer aggregates.

    ``question_stats`` has one row per (team, question): team, question, n (non-N/A answers),
    mean_v, mean_v2. ``respondents`` maps team -> number of counted respondents.
    ``respondent_dimension_scores`` (team, respondent, dimension, score 0-100) feeds the 90%
    intervals; without it the interval columns are NaN. ``targets`` (team, dimension,
    target_level) raise the priority of recommendations in dimensions below target (see
    _target_factors). Instead of those rows, a database can
    pass ``respondent_dimension_moments`` (team, dimension, count, mean, mean_sq: the count,
    mean and mean of squares of the per-respondent scores), which gives the same intervals
    up to float rounding without moving one row per respondent out of the database.

    Rows with n == 0 are ignored. A team with respondents but no answers gets a team_scores
    row with NaN score, <NA> level and no other rows. Raise ValueError for questions or
    dimensions not in the framework, a team with answers that is missing from
    ``respondents``, n larger than the team's respondents, repeated (team, question) rows,
    or means outside [0, 1]. Team ids must be mutually orderable (outputs are sorted by team).
    """
    framework.validate()
    respondent_counts = _respondent_counts(respondents)
    stats = _with_spread(_prepare_question_stats(question_stats, framework, respondent_counts))
    question_scores = stats.rename(columns={"mean_v": "mean"})[QUESTION_SCORE_COLUMNS]
    dimension_scores = _dimension_scores(
        stats,
        framework,
        respondent_counts,
        _respondent_score_summary(
            respondent_dimension_scores, respondent_dimension_moments, framework
        ),
    )
    team_scores = _team_scores(dimension_scores, framework, respondent_counts)
    recommendations = _recommendations(stats, framework, _target_factors(dimension_scores, targets))
    return ScoringResult(
        team_scores=team_scores,
        dimension_scores=dimension_scores,
        question_scores=question_scores,
        recommendations=recommendations,
    )


def _require_unique(values: pd.Series, what: str) -> None:
    duplicated = values[values.duplicated()]
    if not duplicated.empty:
        raise ValueError(f"duplicate {what}: {sorted(set(duplicated.astype(str)))}")


def _as_key_list(value: object) -> list[str]:
    # requires arrives as a list from JSON, but may be None/NaN/tuple/array from other loaders.
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return list(value)
    raise ValueError(f"requires must be a list of question keys, got {value!r}")


def _prerequisite_edges(framework: Framework) -> pd.DataFrame:
    """Return the framework's prerequisite links: question, prerequisite, position.

    ``position`` is the index within the question's ``requires`` list, so prerequisite lists
    can be reported in framework order. Repeated entries are dropped.
    """
    questions = framework.questions
    # One list per framework question: this loops over the framework, not over answers.
    requires = pd.Series(
        [_as_key_list(value) for value in questions["requires"]],
        index=questions["question"].to_numpy(),
        dtype=object,
    )
    edges = requires.explode().dropna().rename("prerequisite").rename_axis("question")
    edges = edges.reset_index()
    edges["position"] = edges.groupby("question").cumcount()
    edges = edges.drop_duplicates(["question", "prerequisite"])
    return edges.astype({"question": object, "prerequisite": object})


def _require_acyclic(edges: pd.DataFrame) -> None:
    # Peel off questions whose prerequisites are all gone; what remains lies on or behind a
    # cycle. At most one pass per question, and frameworks have tens of questions.
    remaining = edges[["question", "prerequisite"]]
    while not remaining.empty:
        free = ~remaining["prerequisite"].isin(remaining["question"])
        if not free.any():
            keys = sorted(set(remaining["question"].astype(str)))
            raise ValueError(f"prerequisites form a cycle among {keys}")
        remaining = remaining[~free]


def _respondent_counts(respondents: pd.Series) -> pd.DataFrame:
    if not respondents.index.is_unique:
        raise ValueError("respondents must have one entry per team")
    counts = pd.DataFrame(
        {"team": respondents.index.to_numpy(), "n_respondents": respondents.to_numpy()}
    )
    if counts["n_respondents"].isna().any() or (counts["n_respondents"] < 0).any():
        raise ValueError("respondent counts must be non-negative integers")
    return counts.astype({"n_respondents": np.int64})


def _question_table(framework: Framework) -> pd.DataFrame:
    """Return one row per framework question with its dimension's weight and order."""
    dimensions = framework.dimensions.rename(
        columns={"weight": "dimension_weight", "order": "dimension_order"}
    )[["dimension", "dimension_weight", "dimension_order"]]
    questions = framework.questions.rename(columns={"order": "question_order"})[
        ["question", "dimension", "weight", "max_score", "question_order"]
    ]
    table = questions.merge(dimensions, on="dimension", how="left", validate="many_to_one")
    return table.astype({"weight": float, "dimension_weight": float, "max_score": np.int64})


def _prepare_question_stats(
    question_stats: pd.DataFrame, framework: Framework, respondent_counts: pd.DataFrame
) -> pd.DataFrame:
    """Return the answered (n > 0) stats joined with the framework, sorted deterministically.

    Raise ValueError for inconsistent input (see score_teams).
    """
    missing = [c for c in QUESTION_STATS_COLUMNS if c not in question_stats.columns]
    if missing and not question_stats.empty:
        raise ValueError(f"question_stats lacks columns {missing}")
    stats = question_stats.reindex(columns=QUESTION_STATS_COLUMNS)
    unknown = ~stats["question"].isin(framework.questions["question"])
    if unknown.any():
        keys = sorted(set(stats.loc[unknown, "question"].astype(str)))
        raise ValueError(f"question_stats has questions not in the framework: {keys}")
    stats = stats[stats["n"].fillna(0) > 0]
    if stats.empty:
        # Nothing answered: skip the joins, whose key dtypes an empty frame cannot match.
        return _empty_frame(
            [*QUESTION_STATS_COLUMNS, *framework.question_table.columns.drop("question")]
        )
    if stats.duplicated(["team", "question"]).any():
        raise ValueError("question_stats repeats a (team, question) row")
    stats = stats.merge(respondent_counts, on="team", how="left", validate="many_to_one")
    if stats["n_respondents"].isna().any():
        teams = sorted(set(stats.loc[stats["n_respondents"].isna(), "team"].astype(str)))
        raise ValueError(f"teams with answers are missing from respondents: {teams}")
    if (stats["n"] > stats["n_respondents"]).any():
        raise ValueError("question_stats counts more answers than the team has respondents")
    means = stats[["mean_v", "mean_v2"]].astype(float)
    in_range = means.ge(-FULL_SCORE_TOLERANCE) & means.le(1 + FULL_SCORE_TOLERANCE)
    if not in_range.all(axis=None):
        raise ValueError("mean_v and mean_v2 must be within [0, 1] when n > 0")
    stats = stats.astype({"n": np.int64, "mean_v": float, "mean_v2": float})
    stats = stats.drop(columns="n_respondents").merge(
        framework.question_table, on="question", how="left", validate="many_to_one"
    )
    stats = stats.sort_values(
        ["team", "dimension_order", "dimension", "question_order", "question"], kind="mergesort"
    )
    return stats.reset_index(drop=True)


def _with_spread(stats: pd.DataFrame) -> pd.DataFrame:
    """Return ``stats`` with the population std of v and the ``contested`` flag added.

    std comes from the aggregates, sqrt(max(mean_v2 - mean_v**2, 0)); the clamp absorbs the
    tiny negative variance float cancellation can produce. It is NaN when n < 2: a single
    answer has no spread to speak of. NaN std is never contested.
    """
    variance = np.maximum(stats["mean_v2"] - stats["mean_v"] * stats["mean_v"], 0.0)
    std = np.sqrt(variance).where(stats["n"] >= 2)
    contested = (std >= CONTESTED_STD - CONTESTED_TOLERANCE).astype(bool)
    return stats.assign(std=std, contested=contested)


def _dimension_scores(
    stats: pd.DataFrame,
    framework: Framework,
    respondent_counts: pd.DataFrame,
    respondent_summary: pd.DataFrame | None,
) -> pd.DataFrame:
    """Return one row per defined (team, dimension), sorted by team then dimension order."""
    if stats.empty:
        return _empty_frame(DIMENSION_SCORE_COLUMNS)
    weighted = stats.assign(weighted_mean=stats["weight"] * stats["mean_v"])
    dimensions = (
        weighted.groupby(["team", "dimension"], sort=False)
        .agg(
            weighted_sum=("weighted_mean", "sum"),
            weight_sum=("weight", "sum"),
            n_answers=("n", "sum"),
            # mean() skips NaN, so only questions with n >= 2 count; NaN when there are none.
            disagreement=("std", "mean"),
        )
        .reset_index()
    )
    dimensions["score"] = 100.0 * dimensions["weighted_sum"] / dimensions["weight_sum"]
    dimensions["level"] = level_for(dimensions["score"], framework.levels)
    dimensions["level_name"] = _level_names(dimensions["level"], framework.levels)

    question_counts = framework.questions.groupby("dimension").size().rename("n_questions")
    dimensions = dimensions.merge(question_counts, left_on="dimension", right_index=True)
    dimensions = dimensions.merge(respondent_counts, on="team", how="left")
    dimensions["answered_ratio"] = dimensions["n_answers"] / (
        dimensions["n_respondents"] * dimensions["n_questions"]
    )

    intervals = _dimension_intervals(respondent_summary)
    dimensions = dimensions.merge(intervals, on=["team", "dimension"], how="left")
    dimensions["n_answers"] = dimensions["n_answers"].astype(np.int64)

    order = framework.dimensions.set_index("dimension")["order"]
    dimensions["dimension_order"] = dimensions["dimension"].map(order)
    dimensions = dimensions.sort_values(
        ["team", "dimension_order", "dimension"], kind="mergesort"
    ).reset_index(drop=True)
    return dimensions[DIMENSION_SCORE_COLUMNS]


MOMENT_COLUMNS = ["team", "dimension", "count", "mean", "mean_sq"]


def _respondent_score_summary(
    scores: pd.DataFrame | None, moments: pd.DataFrame | None, framework: Framework
) -> pd.DataFrame | None:
    """Return team, dimension, count, mean, std (sample) of per-respondent dimension scores."""
    if scores is not None and not scores.empty:
        missing = [c for c in RESPONDENT_SCORE_COLUMNS if c not in scores]
        if missing:
            raise ValueError(f"respondent_dimension_scores lacks columns {missing}")
        _require_known_dimensions(scores, framework, "respondent_dimension_scores")
        return (
            scores.dropna(subset=["score"])
            .astype({"score": float})
            .groupby(["team", "dimension"], sort=False)["score"]
            .agg(count="count", mean="mean", std="std")  # std: sample std, ddof=1
            .reset_index()
        )
    if moments is not None and not moments.empty:
        missing = [c for c in MOMENT_COLUMNS if c not in moments]
        if missing:
            raise ValueError(f"respondent_dimension_moments lacks columns {missing}")
        _require_known_dimensions(moments, framework, "respondent_dimension_moments")
        count = moments["count"].to_numpy(dtype=float)
        mean = moments["mean"].to_numpy(dtype=float)
        mean_sq = moments["mean_sq"].to_numpy(dtype=float)
        variance = mean_sq - mean * mean
        # E[s²] − E[s]² cancels badly when all respondents agree: call such noise zero.
        variance = np.where(variance <= 1e-9 * np.maximum(mean_sq, 1.0), 0.0, variance)
        with np.errstate(divide="ignore", invalid="ignore"):
            std = np.sqrt(variance * count / (count - 1))
        return pd.DataFrame(
            {
                "team": moments["team"].to_numpy(),
                "dimension": moments["dimension"].to_numpy(),
                "count": count,
                "mean": mean,
                "std": np.where(count > 1, std, np.nan),
            }
        )
    return None


def _require_known_dimensions(frame: pd.DataFrame, framework: Framework, name: str) -> None:
    unknown = ~frame["dimension"].isin(framework.dimensions["dimension"])
    if unknown.any():
        keys = sorted(set(frame.loc[unknown, "dimension"].astype(str)))
        raise ValueError(f"{name} has unknown dimensions {keys}")


def _dimension_intervals(summary: pd.DataFrame | None) -> pd.DataFrame:
    """Return team, dimension, interval_low, interval_high (90% t-interval, clipped to 0-100).

    Only (team, dimension) pairs with at least 3 defined per-respondent scores get bounds;
    the others are NaN. A zero spread gives a zero-width interval at the mean.
    """
    columns = ["team", "dimension", "interval_low", "interval_high"]
    if summary is None or summary.empty:
        return _empty_frame(columns)
    summary = summary.copy()
    count = summary["count"].to_numpy(dtype=float)
    enough = count >= MIN_INTERVAL_RESPONDENTS
    # Degrees of freedom only matter where there are enough respondents; 1 avoids NaN warnings.
    degrees_of_freedom = np.where(enough, count - 1, 1.0)
    critical = scipy_stats.t.ppf(1 - (1 - INTERVAL_CONFIDENCE) / 2, degrees_of_freedom)
    half_width = critical * summary["std"].to_numpy(dtype=float) / np.sqrt(count)
    mean = summary["mean"].to_numpy(dtype=float)
    summary["interval_low"] = np.where(enough, np.clip(mean - half_width, 0.0, 100.0), np.nan)
    summary["interval_high"] = np.where(enough, np.clip(mean + half_width, 0.0, 100.0), np.nan)
    return summary[columns]


def _level_names(level: pd.Series, levels: pd.DataFrame) -> pd.Series:
    names = dict(zip(levels["level"].astype(int), levels["name"], strict=True))
    return pd.Series(
        level.map(names, na_action="ignore").astype(object), index=level.index, dtype=object
    ).where(level.notna(), None)


def _tie_key(values: pd.Series) -> pd.Series:
    return values.astype(float).round(TIE_DECIMALS)


def _team_scores(
    dimension_scores: pd.DataFrame, framework: Framework, respondent_counts: pd.DataFrame
) -> pd.DataFrame:
    """Return one row per team in ``respondent_counts``, sorted by team."""
    teams = respondent_counts.copy()
    if dimension_scores.empty:
        teams["score"] = np.nan
        teams["level"] = pd.Series(pd.NA, index=teams.index, dtype="Int64")
        # A list of Nones: pd.Series(None, dtype=object) would hold NaN instead.
        teams["level_name"] = pd.Series([None] * len(teams), index=teams.index, dtype=object)
        teams["weakest_dimension"] = teams["level_name"].copy()
        teams["percentile"] = np.nan
        return _sorted_by_team(teams)[TEAM_SCORE_COLUMNS]

    dimensions = framework.dimensions.set_index("dimension")
    scored = dimension_scores.assign(
        dimension_weight=dimension_scores["dimension"].map(dimensions["weight"]).astype(float),
        dimension_order=dimension_scores["dimension"].map(dimensions["order"]),
        tie_score=_tie_key(dimension_scores["score"]),
    )
    scored["weighted_score"] = scored["dimension_weight"] * scored["score"]
    overall = scored.groupby("team", sort=False).agg(
        weighted_sum=("weighted_score", "sum"), weight_sum=("dimension_weight", "sum")
    )
    overall["score"] = overall["weighted_sum"] / overall["weight_sum"]

    # Weakest link: a <NA> level (below every threshold) sorts first, i.e. is the weakest.
    weakest = (
        scored.sort_values(
            ["team", "level", "tie_score", "dimension_order", "dimension"],
            na_position="first",
            kind="mergesort",
        )
        .groupby("team", sort=False)
        .head(1)
        .set_index("team")
    )
    team_level = overall[["score"]].join(weakest[["level", "level_name", "dimension"]])
    team_level = team_level.rename(columns={"dimension": "weakest_dimension"}).reset_index()
    teams = teams.merge(team_level, on="team", how="left")
    teams["level"] = teams["level"].astype("Int64")
    teams["level_name"] = teams["level_name"].astype(object).where(teams["level"].notna(), None)
    teams["weakest_dimension"] = (
        teams["weakest_dimension"].astype(object).where(teams["weakest_dimension"].notna(), None)
    )
    defined = teams["score"].notna()
    teams["percentile"] = np.nan
    teams.loc[defined, "percentile"] = 100.0 * _tie_key(teams.loc[defined, "score"]).rank(
        pct=True, method="average"
    )
    return _sorted_by_team(teams)[TEAM_SCORE_COLUMNS]


TARGET_COLUMNS = ["team", "dimension", "target_level"]


def _target_factors(dimension_scores: pd.DataFrame, targets: pd.DataFrame | None) -> pd.DataFrame:
    """Return team, dimension, factor: 1 + the levels a dimension lies below its target.

    A team's target level for a dimension multiplies the priority of that dimension's
    recommendations by (1 + max(0, target level − current level)): one level short doubles
    it, two triple it; at or above target nothing changes.
    """
    if targets is None or targets.empty or dimension_scores.empty:
        return pd.DataFrame(columns=["team", "dimension", "factor"])
    merged = targets[TARGET_COLUMNS].merge(
        dimension_scores[["team", "dimension", "level"]], on=["team", "dimension"]
    )
    gap = (merged["target_level"].astype(float) - merged["level"].astype(float)).clip(lower=0)
    return merged.assign(factor=1.0 + gap)[["team", "dimension", "factor"]]


def _recommendations(
    stats: pd.DataFrame, framework: Framework, target_factors: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Return the ranked recommendations of every team, sorted by team then rank.

    Ordering: sort by (team, -priority, question) and take that as the provisional rank. If
    every recommended prerequisite already ranks before its dependent, that sort *is* the
    greedy order. Otherwise, for the affected teams only, replay the greedy choice in steps:
    each step takes, for all those teams at once, the best-ranked recommendation whose
    recommended prerequisites are all taken. Steps are bounded by the number of
    recommendations per team (at most the number of questions), never by teams x questions.
    """
    open_questions = stats[stats["mean_v"] < 1 - FULL_SCORE_TOLERANCE]
    if open_questions.empty:
        return _empty_frame(RECOMMENDATION_COLUMNS)
    recs = open_questions[
        ["team", "question", "dimension", "mean_v", "max_score", "weight", "dimension_weight"]
    ].copy()
    recs["priority"] = recs["dimension_weight"] * recs["weight"] * (1.0 - recs["mean_v"])
    if target_factors is not None and not target_factors.empty:
        factor = recs[["team", "dimension"]].merge(
            target_factors, on=["team", "dimension"], how="left"
        )["factor"]
        recs["priority"] = recs["priority"] * factor.fillna(1.0).to_numpy()
    # The choice the team sits on: +1e-9 keeps e.g. Q*S = 2.9999999999 on choice 3.
    recs["current_score"] = np.floor(
        recs["mean_v"] * recs["max_score"] + FULL_SCORE_TOLERANCE
    ).astype(np.int64)
    recs["next_score"] = recs["current_score"] + 1
    next_steps = framework.choices[["question", "score", "next_step"]].rename(
        columns={"score": "current_score", "next_step": "text"}
    )
    next_steps = next_steps.astype({"current_score": np.int64})
    recs = recs.merge(next_steps, on=["question", "current_score"], how="left")
    recs["text"] = recs["text"].astype(object).where(recs["text"].notna(), None)

    recs["tie_priority"] = _tie_key(recs["priority"])
    recs = recs.sort_values(
        ["team", "tie_priority", "question"], ascending=[True, False, True], kind="mergesort"
    ).reset_index(drop=True)
    recs["rank"] = recs.groupby("team", sort=False).cumcount() + 1

    edges = _recommended_prerequisite_edges(recs, framework)
    recs["requires"] = _lists_per_row(edges["row"], edges["prerequisite"], len(recs))

    out_of_order = (
        recs.loc[edges["prerequisite_row"], "rank"].to_numpy()
        > recs.loc[edges["row"], "rank"].to_numpy()
    )
    affected_teams = recs.loc[edges.loc[out_of_order, "row"], "team"].unique()
    if len(affected_teams):
        greedy_ranks = _greedy_ranks(recs, edges, affected_teams)
        recs.loc[greedy_ranks.index, "rank"] = greedy_ranks
    recs = recs.sort_values(["team", "rank"], kind="mergesort").reset_index(drop=True)
    return recs.astype({"rank": np.int64})[RECOMMENDATION_COLUMNS]


def _recommended_prerequisite_edges(recs: pd.DataFrame, framework: Framework) -> pd.DataFrame:
    """Return row, prerequisite, prerequisite_row for prerequisites recommended to the team.

    Rows are positions in ``recs``; edges are sorted by row, then framework requires order.
    """
    rows = recs[["team", "question"]].reset_index(names="row")
    edges = rows.merge(framework.prerequisite_edges, on="question")
    prerequisite_rows = rows.rename(columns={"question": "prerequisite", "row": "prerequisite_row"})
    edges = edges.merge(prerequisite_rows, on=["team", "prerequisite"])
    edges = edges.sort_values(["row", "position"], kind="mergesort").reset_index(drop=True)
    return edges[["row", "prerequisite", "prerequisite_row"]]


def _lists_per_row(rows: pd.Series, values: pd.Series, n_rows: int) -> list[list[object]]:
    """Return, for each row 0..n_rows-1, the list of ``values`` whose ``rows`` entry is it.

    ``rows`` must be sorted. This slices one flat list at the row boundaries instead of
    groupby(...).agg(list) or np.split, which build a pandas/numpy object per group and are
    10-50x slower; one list object per row is unavoidable for a list column.
    """
    ends = np.cumsum(np.bincount(rows.to_numpy(dtype=np.int64), minlength=n_rows)).tolist()
    starts = [0, *ends[:-1]]
    flat = values.tolist()
    return [flat[start:end] for start, end in zip(starts, ends, strict=True)]


def _greedy_ranks(
    recs: pd.DataFrame, edges: pd.DataFrame, teams: Sequence[Hashable] | np.ndarray
) -> pd.Series:
    """Return greedy ranks for the recommendations of ``teams``, indexed by row of ``recs``.

    ``recs`` must be in provisional order (team, -priority, question) so that the first
    available row of a team is its best choice. Each loop step ranks one recommendation per
    team, for all teams at once, with plain numpy arrays (a step costs microseconds).
    """
    in_scope = recs["team"].isin(teams).to_numpy()
    pending = np.flatnonzero(in_scope)  # row positions, in provisional order
    team_codes = pd.factorize(recs["team"].to_numpy()[pending])[0]
    edge_rows = edges["row"].to_numpy(dtype=np.int64)
    edge_prerequisites = edges["prerequisite_row"].to_numpy(dtype=np.int64)
    scoped = in_scope[edge_rows]
    edge_rows, edge_prerequisites = edge_rows[scoped], edge_prerequisites[scoped]

    taken = np.zeros(len(recs), dtype=bool)
    ranks = np.zeros(len(pending), dtype=np.int64)
    steps = int(np.bincount(team_codes).max())
    for step in range(1, steps + 1):
        blocked = np.zeros(len(recs), dtype=bool)
        blocked[edge_rows[~taken[edge_prerequisites]]] = True
        open_rows = ~taken[pending]
        available = open_rows & ~blocked[pending]
        # The first available row of each team is its pick (rows are in provisional order).
        teams_available, first = np.unique(team_codes[available], return_index=True)
        if len(teams_available) < len(np.unique(team_codes[open_rows])):
            # Unreachable after Framework.validate(); kept so a bug cannot loop silently.
            raise ValueError("recommendation prerequisites form a cycle")
        picks = np.flatnonzero(available)[first]
        taken[pending[picks]] = True
        ranks[picks] = step
    return pd.Series(ranks, index=recs.index[pending], dtype=np.int64)


def _sorted_by_team(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("team", kind="mergesort").reset_index(drop=True)


def _empty_frame(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {column: pd.Series(dtype=_COLUMN_DTYPES.get(column, object)) for column in columns}
    )
