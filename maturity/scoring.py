"""Score MLOps maturity self-assessments from per-question aggregates (pure pandas/numpy/scipy).

The database reduces raw answers to one row per (team, question) with the count ``n`` of
non-N/A answers and the means of ``v`` and ``v**2``, where ``v = score / max_score`` is the
answer normalised to [0, 1]. Everything here is computed from those aggregates with numpy,
over rows sorted so that each (team, dimension) is one contiguous run, and with lookups built
once per framework; only the few dimensions, levels or ordering steps are looped over.

The rules (the contract that exports and tests rely on):

* Only the questions a team is *asked* count (``asked``: its plan, see ``maturity.scope``);
  answers to any other question (out of scope for its profile, or platform/org questions
  an ancestor answers for it) are ignored entirely. Without ``asked`` every question is.
* Team question score ``Q(t,q)`` is ``mean_v``; N/A and "don't know" answers never count.
  Don't-know answers are counted (``dont_know``) per question, per defined dimension (the
  sum over its asked questions) and per team (the sum over all asked questions); a question
  answered only "don't know" has a question row with ``n = 0`` and a NaN mean.
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
* ``answered_ratio = sum(n) / (n_respondents * questions of d the team is asked)``.
* A 90% t-interval over per-respondent dimension scores when at least 3 are defined.
* Recommendations for every answered question with ``Q < 1``; priority
  ``W_d * w_q * (1 - Q)``; ordered greedily by priority, a recommendation only once its
  recommended prerequisites have been taken. Among equal priorities, answers the team's
  evidence contradicts come first (issue 16), then question key.
* Percentile: ``100 * rank(pct=True, method="average")`` of the overall score among the teams
  with a defined score.

Ties: priorities (recommendation order), scores (weakest dimension) and overall scores
(percentile) are compared after rounding to ``TIE_DECIMALS`` decimals. Weighted means of the
same answers can differ in the last bit depending on summation order, and a mathematically
exact tie must still be broken by the documented rule (key, dimension order, average rank)
rather than by that noise. The reported values are never rounded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from graphlib import CycleError, TopologicalSorter
from typing import NamedTuple

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
    "dont_know",
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
    "dont_know",
]
QUESTION_SCORE_COLUMNS = [
    "team",
    "question",
    "dimension",
    "n",
    "mean",
    "std",
    "contested",
    "dont_know",
]
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
# Optional in question_stats: don't-know answers per (team, question); absent means none.
DONT_KNOW_COLUMN = "dont_know"
ASKED_COLUMNS = ["team", "question"]
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
    "dont_know": "int64",
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
    # prerequisite links, the lookup arrays) is computed once per instance, which matters
    # when one framework scores many small runs (reports.services caches the instance).
    @cached_property
    def prerequisite_edges(self) -> pd.DataFrame:
        return _prerequisite_edges(self)

    @cached_property
    def lookups(self) -> _Lookups:
        """The framework as arrays indexed by question/dimension number; needs validate()."""
        return _lookups(self)

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
    percentile, dont_know. ``dimension_scores`` (defined dimensions only): team, dimension,
    score, level, level_name, disagreement, answered_ratio, interval_low, interval_high,
    n_answers, dont_know. ``question_scores`` (questions answered with a choice or "don't
    know"): team, question, dimension, n, mean (NaN when n = 0), std, contested, dont_know.
    ``recommendations``: team, rank, question, dimension, priority, current_score,
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
    thresholds, best_level = _level_steps(levels)
    position = _threshold_positions(scores.to_numpy(dtype=float, na_value=np.nan), thresholds)
    reached = position >= 0
    result[reached] = best_level[position[reached]]
    return result


def score_teams(
    question_stats: pd.DataFrame,
    framework: Framework,
    respondents: pd.Series,
    respondent_dimension_scores: pd.DataFrame | None = None,
    respondent_dimension_moments: pd.DataFrame | None = None,
    targets: pd.DataFrame | None = None,
    asked: pd.DataFrame | None = None,
    contradicted: pd.DataFrame | None = None,
) -> ScoringResult:
    """Score every team in ``respondents`` from its per-question answer aggregates.

    ``question_stats`` has one row per (team, question): team, question, n (answers with a
    choice), mean_v, mean_v2, and optionally dont_know (don't-know answers).
    ``respondents`` maps team -> number of counted respondents. ``asked`` (team, question)
    lists the questions each team is asked; rows of other questions are ignored, and a
    team absent from it is asked nothing. None: every team is asked every question.
    ``respondent_dimension_scores`` (team, respondent, dimension, score 0-100) feeds the 90%
    intervals; without it the interval columns are NaN. ``targets`` (team, dimension,
    target_level) raise the priority of recommendations in dimensions below target (see
    _target_factors). ``contradicted`` (team, question) lists answers the team's evidence
    contradicts (issue 16): among recommendations of equal priority they come first. Instead
    of those rows, a database can
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
    teams = _teams(respondents)
    question_stats = _only_asked(question_stats, asked, framework)
    stats = _prepare_question_stats(question_stats, framework, teams)
    gaps = _dont_know_counts(question_stats, framework, teams)
    dimension_scores = _dimension_scores(
        stats,
        framework,
        teams,
        _respondent_score_summary(
            respondent_dimension_scores, respondent_dimension_moments, framework
        ),
        _asked_per_dimension(asked, framework, teams),
    )
    target_factors = _target_factors(dimension_scores, stats, framework, teams, targets)
    team_scores = _team_scores(dimension_scores, stats, framework, teams)
    team_scores["dont_know"] = np.bincount(gaps.team_code, gaps.count, len(teams.ids)).astype(
        np.int64
    )
    dimension_scores["dont_know"] = _dont_know_per_dimension(gaps, stats, framework)
    return ScoringResult(
        team_scores=team_scores,
        dimension_scores=dimension_scores,
        question_scores=_question_scores(stats, gaps, framework),
        recommendations=_recommendations(
            stats, framework, target_factors, _flags(stats, framework, teams, contradicted)
        ),
    )


def _flags(
    stats: _QuestionStats | None,
    framework: Framework,
    teams: _Teams,
    pairs: pd.DataFrame | None,
) -> np.ndarray | None:
    """Return, per stats row, whether its (team, question) is among ``pairs``; None if none."""
    if stats is None or pairs is None or pairs.empty:
        return None
    n_questions = len(framework.lookups.question_numbers)
    numbers = framework.lookups.question_numbers.get_indexer(pairs["question"])
    codes = teams.codes(pairs["team"])
    known = (numbers >= 0) & (codes >= 0)
    wanted = codes[known] * n_questions + numbers[known]
    keys = stats.team_code * n_questions + stats.question_number
    flagged = np.zeros(len(keys), dtype=bool)
    found = _positions(keys, wanted)
    flagged[found[found >= 0]] = True
    return flagged


def _only_asked(
    question_stats: pd.DataFrame, asked: pd.DataFrame | None, framework: Framework
) -> pd.DataFrame:
    """Return the rows of ``question_stats`` whose (team, question) is in ``asked``.

    Pairs are compared as integers (team code, question number): a MultiIndex costs
    milliseconds even for one team's rows. Unknown questions are kept, for
    _prepare_question_stats to report.
    """
    if asked is None or question_stats.empty or not set(ASKED_COLUMNS) <= set(question_stats):
        return question_stats
    missing = [c for c in ASKED_COLUMNS if c not in asked.columns]
    if missing:
        raise ValueError(f"asked lacks columns {missing}")
    numbers = framework.lookups.question_numbers
    number = numbers.get_indexer(question_stats["question"])
    team_code = pd.factorize(
        np.concatenate([question_stats["team"].to_numpy(), asked["team"].to_numpy()])
    )[0]
    numbers_of_both = np.concatenate([number, numbers.get_indexer(asked["question"])])
    key = team_code * (len(numbers) + 1) + 1 + numbers_of_both
    rows = len(question_stats)
    keep = np.isin(key[:rows], key[rows:]) | (number < 0)
    return question_stats if keep.all() else question_stats[keep]


def _asked_per_dimension(
    asked: pd.DataFrame | None, framework: Framework, teams: _Teams
) -> np.ndarray | None:
    """Return how many questions of each dimension each team is asked, flat by
    (team code, dimension number); None when every team is asked everything."""
    if asked is None:
        return None
    lookups = framework.lookups
    question_number = lookups.question_numbers.get_indexer(asked["question"])
    if (question_number < 0).any():
        keys = sorted(set(asked.loc[question_number < 0, "question"].astype(str)))
        raise ValueError(f"asked has questions not in the framework: {keys}")
    # Repeated pairs count once; teams without respondents have nothing to score.
    team_code = teams.codes(asked["team"])
    known = team_code >= 0
    n_questions = len(lookups.question_numbers)
    pairs = np.unique(team_code[known] * n_questions + question_number[known])
    team_code, question_number = np.divmod(pairs, n_questions)
    n_dimensions = len(lookups.dimension_numbers)
    counts: np.ndarray = np.bincount(
        team_code * n_dimensions + lookups.question_dimension[question_number],
        minlength=len(teams.ids) * n_dimensions,
    )
    return counts


@dataclass(frozen=True, eq=False)
class _DontKnow:
    """The (team, question) rows with don't-know answers, sorted like _QuestionStats."""

    team: np.ndarray
    team_code: np.ndarray
    question: np.ndarray
    question_number: np.ndarray
    dimension: np.ndarray
    count: np.ndarray  # int64, > 0


def _dont_know_counts(
    question_stats: pd.DataFrame, framework: Framework, teams: _Teams
) -> _DontKnow:
    """Return the don't-know counts of ``question_stats`` (already limited to asked rows)."""
    empty = np.array([], dtype=np.int64)
    if question_stats.empty or DONT_KNOW_COLUMN not in question_stats.columns:
        return _DontKnow(empty, empty, empty, empty, empty, empty)
    count = question_stats[DONT_KNOW_COLUMN].fillna(0).to_numpy(dtype=np.int64)
    if (count < 0).any():
        raise ValueError("dont_know counts must be non-negative")
    present = count > 0
    lookups = framework.lookups
    team = question_stats["team"].to_numpy()[present]
    question_number = lookups.question_numbers.get_indexer(question_stats["question"][present])
    if (question_number < 0).any():
        raise ValueError("question_stats has questions not in the framework")
    team_code = teams.codes(team)
    if (team_code < 0).any():
        missing_teams = sorted(set(pd.Series(team[team_code < 0]).astype(str)))
        raise ValueError(f"teams with answers are missing from respondents: {missing_teams}")
    order = np.argsort(team_code * len(lookups.question_numbers) + question_number, kind="stable")
    question_number = question_number[order]
    return _DontKnow(
        team=team[order],
        team_code=team_code[order],
        question=question_stats["question"].to_numpy()[present][order],
        question_number=question_number,
        dimension=lookups.question_dimension[question_number],
        count=count[present][order],
    )


def _dont_know_per_dimension(
    gaps: _DontKnow, stats: _QuestionStats | None, framework: Framework
) -> np.ndarray:
    """Return the don't-know answers of each dimension_scores row (its asked questions)."""
    if stats is None:
        return np.array([], dtype=np.int64)
    n_dimensions = len(framework.lookups.dimension_numbers)
    starts = stats.dimension_starts
    row = _positions(
        stats.team_code[starts] * n_dimensions + stats.dimension[starts],
        gaps.team_code * n_dimensions + gaps.dimension,
    )
    defined = row >= 0
    counts: np.ndarray = np.bincount(
        row[defined], gaps.count[defined], minlength=len(starts)
    ).astype(np.int64)
    return counts


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
    """Raise ValueError naming a cycle if the prerequisite links form one (graphlib)."""
    graph: dict[str, set[str]] = {}
    for question, prerequisite in zip(edges["question"], edges["prerequisite"], strict=True):
        graph.setdefault(str(question), set()).add(str(prerequisite))
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        cycle = error.args[1]
        raise ValueError(f"prerequisites form a cycle: {' -> '.join(cycle)}") from None


@dataclass(frozen=True, eq=False)
class _Lookups:
    """A validated framework as arrays indexed by dimension or question number.

    Dimensions are numbered by (order, key) and questions by (dimension number, order, key),
    which is the order every output follows: rows sorted by (team, question number) are in
    output order with each (team, dimension) one contiguous run, and comparing dimension
    numbers compares (dimension order, dimension key). Scoring looks framework data up in
    these arrays instead of merging framework tables into every run.
    """

    dimension_numbers: pd.Index  # dimension keys by number; get_indexer maps keys to numbers
    dimension_weight: np.ndarray  # W_d
    dimension_questions: np.ndarray  # number of framework questions in the dimension
    question_numbers: pd.Index  # question keys by number
    question_dimension: np.ndarray  # dimension number of each question
    question_dimension_key: np.ndarray  # its dimension key, as the questions table spells it
    question_weight: np.ndarray  # w_q
    max_score: np.ndarray  # S_q
    key_rank: np.ndarray  # rank of the question key among all keys (ties break by key)
    # The prerequisites of question q, in requires order, are the entries
    # prerequisite_starts[q] : prerequisite_starts[q] + prerequisite_counts[q] of these two.
    prerequisite_starts: np.ndarray
    prerequisite_counts: np.ndarray
    prerequisite_numbers: np.ndarray
    prerequisite_keys: np.ndarray  # as the requires lists spell them
    # Choice (q, score) has key q * choice_span + score - choice_low; next_steps is by choice.
    choice_keys: np.ndarray
    choice_low: int
    choice_span: int
    next_steps: np.ndarray  # None where a choice has no next step
    # Ascending thresholds, with the highest level and its name reached at each of them.
    thresholds: np.ndarray
    threshold_levels: np.ndarray
    threshold_names: np.ndarray

    def reached_levels(self, scores: np.ndarray) -> tuple[pd.arrays.IntegerArray, np.ndarray]:
        """Return the level (Int64, <NA> below every threshold) and level name of scores."""
        position = _threshold_positions(scores, self.thresholds)
        reached = position >= 0
        level = np.zeros(len(scores), dtype=np.int64)
        level[reached] = self.threshold_levels[position[reached]]
        name = np.full(len(scores), None, dtype=object)
        name[reached] = self.threshold_names[position[reached]]
        return pd.arrays.IntegerArray(level, ~reached), name

    def next_step_texts(self, question_number: np.ndarray, score: np.ndarray) -> np.ndarray:
        """Return the next_step of choice (question, score), None where there is none."""
        offset = score - self.choice_low
        known = (offset >= 0) & (offset < self.choice_span)
        choice = _positions(
            self.choice_keys, np.where(known, question_number * self.choice_span + offset, -1)
        )
        text = np.full(len(score), None, dtype=object)
        text[choice >= 0] = self.next_steps[choice[choice >= 0]]
        return text


def _lookups(framework: Framework) -> _Lookups:
    """Build the lookup arrays of a validated framework (see _Lookups)."""
    dimensions = framework.dimensions.sort_values(["order", "dimension"], kind="mergesort")
    dimension_numbers = pd.Index(dimensions["dimension"].to_numpy())
    questions = framework.questions.assign(
        dimension_number=dimension_numbers.get_indexer(framework.questions["dimension"])
    ).sort_values(["dimension_number", "order", "question"], kind="mergesort")
    question_numbers = pd.Index(questions["question"].to_numpy())
    question_dimension = questions["dimension_number"].to_numpy()

    edges = framework.prerequisite_edges
    edge_questions = question_numbers.get_indexer(edges["question"])
    prerequisite_counts = np.bincount(edge_questions, minlength=len(question_numbers))
    edges = edges.iloc[np.lexsort((edges["position"].to_numpy(), edge_questions))]

    choice_scores = framework.choices["score"].astype(np.int64).to_numpy()
    choice_low = int(choice_scores.min(initial=0))
    choice_span = int(choice_scores.max(initial=0)) - choice_low + 1
    choice_questions = question_numbers.get_indexer(framework.choices["question"])
    next_steps = framework.choices["next_step"].astype(object)

    thresholds, best_level = _level_steps(framework.levels)
    names = dict(zip(framework.levels["level"].astype(int), framework.levels["name"], strict=True))
    return _Lookups(
        dimension_numbers=dimension_numbers,
        dimension_weight=dimensions["weight"].astype(float).to_numpy(),
        dimension_questions=np.bincount(question_dimension, minlength=len(dimension_numbers)),
        question_numbers=question_numbers,
        question_dimension=question_dimension,
        question_dimension_key=questions["dimension"].to_numpy(),
        question_weight=questions["weight"].astype(float).to_numpy(),
        max_score=questions["max_score"].astype(np.int64).to_numpy(),
        # An ordered Categorical's codes are the ranks sort_values gives the keys.
        key_rank=pd.Categorical(questions["question"], ordered=True).codes.astype(np.int64),
        prerequisite_starts=np.cumsum(prerequisite_counts) - prerequisite_counts,
        prerequisite_counts=prerequisite_counts,
        prerequisite_numbers=question_numbers.get_indexer(edges["prerequisite"]),
        prerequisite_keys=edges["prerequisite"].to_numpy(),
        choice_keys=choice_questions * choice_span + choice_scores - choice_low,
        choice_low=choice_low,
        choice_span=choice_span,
        next_steps=next_steps.where(next_steps.notna(), None).to_numpy(),
        thresholds=thresholds,
        threshold_levels=best_level,
        threshold_names=pd.Series(best_level).map(names).to_numpy(dtype=object),
    )


def _level_steps(levels: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return the thresholds in ascending order and the level reached at each of them."""
    by_threshold = levels.sort_values(["threshold", "level"], kind="mergesort")
    thresholds = by_threshold["threshold"].to_numpy(dtype=float)
    # Highest level among all levels up to each threshold position (usually the level itself).
    best_level = np.maximum.accumulate(by_threshold["level"].to_numpy(dtype=np.int64))
    return thresholds, best_level


def _threshold_positions(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Return the highest threshold position each score reaches (1e-9 tolerance), else -1."""
    position = np.searchsorted(thresholds, scores + LEVEL_TOLERANCE, side="right") - 1
    return np.where(np.isnan(scores), -1, position)


@dataclass(frozen=True, eq=False)
class _Teams:
    """The teams of ``respondents`` sorted by id; a team's code is its position here."""

    ids: np.ndarray
    respondents: np.ndarray  # counted respondents (int64)

    @cached_property
    def index(self) -> pd.Index:
        return pd.Index(self.ids)

    def codes(self, teams: pd.Series | np.ndarray) -> np.ndarray:
        """Return the code of each team id, -1 for ids that are not in respondents."""
        codes: np.ndarray = self.index.get_indexer(teams)
        return codes


def _teams(respondents: pd.Series) -> _Teams:
    """Return the teams of ``respondents`` (team -> counted respondents), checked."""
    if not respondents.index.is_unique:
        raise ValueError("respondents must have one entry per team")
    counts = respondents.to_numpy()
    if pd.isna(counts).any() or (counts < 0).any():
        raise ValueError("respondent counts must be non-negative integers")
    ids = respondents.index.to_numpy()
    by_id = np.argsort(ids, kind="stable")
    return _Teams(ids=ids[by_id], respondents=counts[by_id].astype(np.int64))


@dataclass(frozen=True, eq=False)
class _QuestionStats:
    """The answered (team, question) rows as arrays, sorted by team, then framework order.

    In that order the rows of one (team, dimension) form a contiguous run, and the runs come
    in the order of the dimension_scores rows.
    """

    team: np.ndarray  # team ids as given
    team_code: np.ndarray  # see _Teams
    question: np.ndarray  # question keys as given
    question_number: np.ndarray  # see _Lookups
    dimension: np.ndarray  # dimension number
    n: np.ndarray
    mean_v: np.ndarray
    mean_v2: np.ndarray

    @cached_property
    def std(self) -> np.ndarray:
        """Population std of v from the aggregates, sqrt(max(mean_v2 - mean_v**2, 0)).

        The clamp absorbs the tiny negative variance float cancellation can produce. It is
        NaN when n < 2: a single answer has no spread to speak of.
        """
        variance = np.maximum(self.mean_v2 - self.mean_v * self.mean_v, 0.0)
        return np.where(self.n >= 2, np.sqrt(variance), np.nan)

    @cached_property
    def contested(self) -> np.ndarray:
        # NaN std is never contested.
        return self.std >= CONTESTED_STD - CONTESTED_TOLERANCE

    @cached_property
    def dimension_starts(self) -> np.ndarray:
        """First row of each (team, dimension) run, i.e. of each dimension_scores row."""
        return _run_starts(self.team_code, self.dimension)

    @cached_property
    def dimension_run(self) -> np.ndarray:
        """The (team, dimension) run, i.e. the dimension_scores row, of each row."""
        starts = self.dimension_starts
        return np.repeat(np.arange(len(starts)), np.diff(starts, append=len(self.n)))


def _prepare_question_stats(
    question_stats: pd.DataFrame, framework: Framework, teams: _Teams
) -> _QuestionStats | None:
    """Return the answered (n > 0) stats sorted by team, then framework order; None if none.

    Raise ValueError for inconsistent input (see score_teams).
    """
    missing = [c for c in QUESTION_STATS_COLUMNS if c not in question_stats.columns]
    if missing and not question_stats.empty:
        raise ValueError(f"question_stats lacks columns {missing}")
    if question_stats.empty:
        return None
    lookups = framework.lookups
    question_numbers = lookups.question_numbers.get_indexer(question_stats["question"])
    unknown = question_numbers < 0
    if unknown.any():
        keys = sorted(set(question_stats.loc[unknown, "question"].astype(str)))
        raise ValueError(f"question_stats has questions not in the framework: {keys}")
    n = question_stats["n"].fillna(0)
    answered = (n > 0).to_numpy()
    if not answered.any():
        return None
    team = question_stats["team"].to_numpy()[answered]
    question_number = question_numbers[answered]
    n_questions = len(lookups.question_numbers)
    # Repeats are reported before unknown teams, so teams are told apart without respondents.
    pair = pd.factorize(team)[0] * n_questions + question_number
    if len(np.unique(pair)) < len(pair):
        raise ValueError("question_stats repeats a (team, question) row")
    team_code = teams.codes(team)
    if (team_code < 0).any():
        missing_teams = sorted(set(pd.Series(team[team_code < 0]).astype(str)))
        raise ValueError(f"teams with answers are missing from respondents: {missing_teams}")
    n = n.to_numpy()[answered]
    if (n > teams.respondents[team_code]).any():
        raise ValueError("question_stats counts more answers than the team has respondents")
    mean_v = question_stats["mean_v"].to_numpy()[answered].astype(float)
    mean_v2 = question_stats["mean_v2"].to_numpy()[answered].astype(float)
    means = np.stack([mean_v, mean_v2])
    if not ((means >= -FULL_SCORE_TOLERANCE) & (means <= 1 + FULL_SCORE_TOLERANCE)).all():
        raise ValueError("mean_v and mean_v2 must be within [0, 1] when n > 0")
    order = np.argsort(team_code * n_questions + question_number, kind="stable")
    question_number = question_number[order]
    return _QuestionStats(
        team=team[order],
        team_code=team_code[order],
        question=question_stats["question"].to_numpy()[answered][order],
        question_number=question_number,
        dimension=lookups.question_dimension[question_number],
        n=n[order].astype(np.int64),
        mean_v=mean_v[order],
        mean_v2=mean_v2[order],
    )


def _question_scores(
    stats: _QuestionStats | None, gaps: _DontKnow, framework: Framework
) -> pd.DataFrame:
    """Return a row per question answered with a choice or "don't know", sorted by team,
    then framework order; rows with only don't-know answers have n = 0 and NaN mean."""
    lookups = framework.lookups
    n_questions = len(lookups.question_numbers)
    gap_keys = gaps.team_code * n_questions + gaps.question_number
    if stats is None:
        answered_keys = np.array([], dtype=np.int64)
        frame = _empty_frame(QUESTION_SCORE_COLUMNS)
    else:
        answered_keys = stats.team_code * n_questions + stats.question_number
        gap_row = _positions(gap_keys, answered_keys)
        frame = pd.DataFrame(
            {
                "team": stats.team,
                "question": stats.question,
                "dimension": lookups.question_dimension_key[stats.question_number],
                "n": stats.n,
                "mean": stats.mean_v,
                "std": stats.std,
                "contested": stats.contested,
                # -1 (no don't-know answers) picks the appended 0.
                "dont_know": np.append(gaps.count, 0)[gap_row].astype(np.int64),
            }
        )
    only_dont_know = _positions(answered_keys, gap_keys) < 0
    if not only_dont_know.any():
        return frame
    extra = pd.DataFrame(
        {
            "team": gaps.team[only_dont_know],
            "question": gaps.question[only_dont_know],
            "dimension": lookups.question_dimension_key[gaps.question_number[only_dont_know]],
            "n": np.zeros(int(only_dont_know.sum()), dtype=np.int64),
            "mean": np.nan,
            "std": np.nan,
            "contested": False,
            "dont_know": gaps.count[only_dont_know],
        }
    )
    keys = np.concatenate([answered_keys, gap_keys[only_dont_know]])
    combined = pd.concat([frame, extra], ignore_index=True) if len(frame) else extra
    return combined.iloc[np.argsort(keys, kind="stable")].reset_index(drop=True)


def _dimension_scores(
    stats: _QuestionStats | None,
    framework: Framework,
    teams: _Teams,
    respondent_summary: pd.DataFrame | None,
    asked_per_dimension: np.ndarray | None = None,
) -> pd.DataFrame:
    """Return one row per defined (team, dimension), sorted by team then dimension order.

    Each row aggregates one (team, dimension) run of ``stats``. ``asked_per_dimension``
    (see _asked_per_dimension) gives the questions each team is asked per dimension; None
    means all of the dimension's questions.
    """
    if stats is None:
        return _empty_frame(DIMENSION_SCORE_COLUMNS)
    lookups = framework.lookups
    starts = stats.dimension_starts
    team_code, dimension = stats.team_code[starts], stats.dimension[starts]
    weight = lookups.question_weight[stats.question_number]
    weighted_sum = _run_sums(weight * stats.mean_v, starts)[0]
    weight_sum = _run_sums(weight, starts)[0]
    score = 100.0 * weighted_sum / weight_sum
    level, level_name = lookups.reached_levels(score)
    # NaN std is skipped, so only questions with n >= 2 count; NaN when there are none.
    std_sum, std_count = _run_sums(stats.std, starts)
    with np.errstate(invalid="ignore"):
        disagreement = std_sum / std_count
    n_answers = np.add.reduceat(stats.n, starts)
    if asked_per_dimension is None:
        questions = lookups.dimension_questions[dimension]
    else:
        questions = asked_per_dimension[team_code * len(lookups.dimension_numbers) + dimension]
    answered_ratio = n_answers / (teams.respondents[team_code] * questions)

    interval_low = interval_high = np.full(len(starts), np.nan)
    if respondent_summary is not None and not respondent_summary.empty:
        low, high = _dimension_intervals(respondent_summary)
        summary_row = _row_per_dimension(respondent_summary, stats, framework, teams)
        interval_low = np.where(summary_row >= 0, low[summary_row], np.nan)
        interval_high = np.where(summary_row >= 0, high[summary_row], np.nan)
    return pd.DataFrame(
        {
            "team": stats.team[starts],
            "dimension": lookups.question_dimension_key[stats.question_number[starts]],
            "score": score,
            "level": level,
            "level_name": level_name,
            "disagreement": disagreement,
            "answered_ratio": answered_ratio,
            "interval_low": interval_low,
            "interval_high": interval_high,
            "n_answers": n_answers,
        }
    )


def _row_per_dimension(
    frame: pd.DataFrame, stats: _QuestionStats, framework: Framework, teams: _Teams
) -> np.ndarray:
    """Return, for each dimension_scores row, the ``frame`` row with its (team, dimension).

    -1 where ``frame`` has none; if ``frame`` repeats a pair, its first row is used.
    """
    dimension_numbers = framework.lookups.dimension_numbers
    team = teams.codes(frame["team"])
    dimension = dimension_numbers.get_indexer(frame["dimension"])
    pairs = np.where((team >= 0) & (dimension >= 0), team * len(dimension_numbers) + dimension, -1)
    starts = stats.dimension_starts
    wanted = stats.team_code[starts] * len(dimension_numbers) + stats.dimension[starts]
    return _positions(pairs, wanted)


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


def _dimension_intervals(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return interval_low, interval_high of each summary row (90% t-interval, 0-100).

    Only (team, dimension) pairs with at least 3 defined per-respondent scores get bounds;
    the others are NaN. A zero spread gives a zero-width interval at the mean.
    """
    count = summary["count"].to_numpy(dtype=float)
    enough = count >= MIN_INTERVAL_RESPONDENTS
    # Degrees of freedom only matter where there are enough respondents; 1 avoids NaN warnings.
    degrees_of_freedom = np.where(enough, count - 1, 1.0)
    # The quantile is costly and teams share a few respondent counts: one per distinct count.
    distinct, per_row = np.unique(degrees_of_freedom, return_inverse=True)
    critical = scipy_stats.t.ppf(1 - (1 - INTERVAL_CONFIDENCE) / 2, distinct)[per_row]
    half_width = critical * summary["std"].to_numpy(dtype=float) / np.sqrt(count)
    mean = summary["mean"].to_numpy(dtype=float)
    low = np.where(enough, np.clip(mean - half_width, 0.0, 100.0), np.nan)
    high = np.where(enough, np.clip(mean + half_width, 0.0, 100.0), np.nan)
    return low, high


def _tie_key(values: np.ndarray) -> np.ndarray:
    return np.round(values, TIE_DECIMALS)


def _team_scores(
    dimension_scores: pd.DataFrame,
    stats: _QuestionStats | None,
    framework: Framework,
    teams: _Teams,
) -> pd.DataFrame:
    """Return one row per team in ``teams``, sorted by team."""
    n_teams = len(teams.ids)
    score = np.full(n_teams, np.nan)
    level = np.zeros(n_teams, dtype=np.int64)
    no_level = np.ones(n_teams, dtype=bool)
    level_name = np.full(n_teams, None, dtype=object)
    weakest_dimension = np.full(n_teams, None, dtype=object)
    if stats is not None:
        # dimension_scores rows are the (team, dimension) runs of stats, sorted by team.
        starts = stats.dimension_starts
        team_code = stats.team_code[starts]
        dimension_weight = framework.lookups.dimension_weight[stats.dimension[starts]]
        dimension_score = dimension_scores["score"].to_numpy()
        team_starts = _run_starts(team_code)
        scored = team_code[team_starts]
        weighted_sum = _run_sums(dimension_weight * dimension_score, team_starts)[0]
        score[scored] = weighted_sum / _run_sums(dimension_weight, team_starts)[0]

        # Weakest link: a <NA> level (below every threshold) sorts first, i.e. is the weakest.
        # lexsort is stable and a team's rows are in dimension order, which breaks last ties.
        dimension_level = dimension_scores["level"]
        by_weakness = np.lexsort(
            (
                _tie_key(dimension_score),
                dimension_level.to_numpy(dtype=float, na_value=-np.inf),
                team_code,
            )
        )
        weakest = by_weakness[team_starts]
        level[scored] = dimension_level.to_numpy(dtype=np.int64, na_value=0)[weakest]
        no_level[scored] = dimension_level.isna().to_numpy()[weakest]
        level_name[scored] = dimension_scores["level_name"].to_numpy()[weakest]
        weakest_dimension[scored] = dimension_scores["dimension"].to_numpy()[weakest]

    defined = ~np.isnan(score)
    percentile = np.full(n_teams, np.nan)
    percentile[defined] = 100.0 * (
        pd.Series(_tie_key(score[defined])).rank(pct=True, method="average").to_numpy()
    )
    return pd.DataFrame(
        {
            "team": teams.ids,
            "score": score,
            "level": pd.arrays.IntegerArray(level, no_level),
            "level_name": level_name,
            "weakest_dimension": weakest_dimension,
            "n_respondents": teams.respondents,
            "percentile": percentile,
        }
    )


TARGET_COLUMNS = ["team", "dimension", "target_level"]


def _target_factors(
    dimension_scores: pd.DataFrame,
    stats: _QuestionStats | None,
    framework: Framework,
    teams: _Teams,
    targets: pd.DataFrame | None,
) -> np.ndarray | None:
    """Return, per dimension_scores row, 1 + the levels the dimension lies below its target.

    A team's target level for a dimension multiplies the priority of that dimension's
    recommendations by (1 + max(0, target level − current level)): one level short doubles
    it, two triple it; at or above target (or without a target or level) nothing changes.
    None when there are no targets.
    """
    if targets is None or targets.empty or stats is None:
        return None
    target_row = _row_per_dimension(targets, stats, framework, teams)
    target_level = targets["target_level"].to_numpy(dtype=float, na_value=np.nan)
    target_level = np.where(target_row >= 0, target_level[target_row], np.nan)
    gap = target_level - dimension_scores["level"].to_numpy(dtype=float, na_value=np.nan)
    factor = 1.0 + np.maximum(gap, 0.0)
    return np.where(np.isnan(factor), 1.0, factor)


class _Edges(NamedTuple):
    """Recommended prerequisite links between recommendation rows."""

    row: np.ndarray  # the dependent recommendation
    prerequisite_row: np.ndarray  # the prerequisite's recommendation (same team)
    prerequisite: np.ndarray  # the prerequisite's key, as its requires list spells it


def _recommendations(
    stats: _QuestionStats | None,
    framework: Framework,
    target_factors: np.ndarray | None,
    contradicted: np.ndarray | None = None,
) -> pd.DataFrame:
    """Return the ranked recommendations of every team, sorted by team then rank.

    Ordering: sort by (team, -priority, contradicted first, question) and take that as the
    provisional rank. If
    every recommended prerequisite already ranks before its dependent, that sort *is* the
    greedy order. Otherwise, for the affected teams only, replay the greedy choice in steps:
    each step takes, for all those teams at once, the best-ranked recommendation whose
    recommended prerequisites are all taken. Steps are bounded by the number of
    recommendations per team (at most the number of questions), never by teams x questions.
    """
    if stats is None:
        return _empty_frame(RECOMMENDATION_COLUMNS)
    rows = np.flatnonzero(stats.mean_v < 1 - FULL_SCORE_TOLERANCE)
    if not len(rows):
        return _empty_frame(RECOMMENDATION_COLUMNS)
    lookups = framework.lookups
    question_number = stats.question_number[rows]
    priority = (
        lookups.dimension_weight[stats.dimension[rows]]
        * lookups.question_weight[question_number]
        * (1.0 - stats.mean_v[rows])
    )
    if target_factors is not None:
        priority = priority * target_factors[stats.dimension_run[rows]]

    not_contradicted = (
        np.ones(len(rows), dtype=bool) if contradicted is None else ~contradicted[rows]
    )
    provisional = np.lexsort(
        (
            lookups.key_rank[question_number],
            not_contradicted,
            -_tie_key(priority),
            stats.team_code[rows],
        )
    )
    rows, priority = rows[provisional], priority[provisional]
    team_code, question_number = stats.team_code[rows], stats.question_number[rows]
    team_starts = _run_starts(team_code)
    team_start = np.repeat(team_starts, np.diff(team_starts, append=len(rows)))
    rank = np.arange(len(rows)) - team_start + 1

    edges = _recommended_prerequisite_edges(team_code, question_number, lookups)
    out_of_order = rank[edges.prerequisite_row] > rank[edges.row]
    if out_of_order.any():
        affected = np.isin(team_code, team_code[edges.row[out_of_order]])
        rank[affected] = _greedy_ranks(team_code, edges, affected)

    # Ranks are 1..k within each team, so a row's final position is its team start + rank - 1.
    position = team_start + rank - 1
    by_rank = np.empty_like(position)
    by_rank[position] = np.arange(len(position))
    edge_position = position[edges.row]
    edge_order = np.argsort(edge_position, kind="stable")  # keeps requires order per row
    requires = _lists_per_row(edge_position[edge_order], edges.prerequisite[edge_order], len(rows))

    rows, question_number = rows[by_rank], question_number[by_rank]
    # The choice the team sits on: +1e-9 keeps e.g. Q*S = 2.9999999999 on choice 3.
    current_score = np.floor(
        stats.mean_v[rows] * lookups.max_score[question_number] + FULL_SCORE_TOLERANCE
    ).astype(np.int64)
    return pd.DataFrame(
        {
            "team": stats.team[rows],
            "rank": rank[by_rank],
            "question": stats.question[rows],
            "dimension": lookups.question_dimension_key[question_number],
            "priority": priority[by_rank],
            "current_score": current_score,
            "next_score": current_score + 1,
            "text": lookups.next_step_texts(question_number, current_score),
            "requires": requires,
        }
    )


def _recommended_prerequisite_edges(
    team_code: np.ndarray, question_number: np.ndarray, lookups: _Lookups
) -> _Edges:
    """Return the links to prerequisites that are recommended to the same team.

    Rows are positions in the given recommendation arrays; edges are sorted by row, then
    framework requires order.
    """
    counts = lookups.prerequisite_counts[question_number]
    row = np.repeat(np.arange(len(question_number)), counts)
    # Each edge's entry in the framework's flat prerequisite arrays.
    first_edge = np.cumsum(counts) - counts
    entry = np.repeat(lookups.prerequisite_starts[question_number] - first_edge, counts)
    entry += np.arange(len(row))
    n_questions = len(lookups.question_numbers)
    prerequisite_row = _positions(
        team_code * n_questions + question_number,
        team_code[row] * n_questions + lookups.prerequisite_numbers[entry],
    )
    recommended = prerequisite_row >= 0
    return _Edges(
        row=row[recommended],
        prerequisite_row=prerequisite_row[recommended],
        prerequisite=lookups.prerequisite_keys[entry[recommended]],
    )


def _lists_per_row(rows: np.ndarray, values: np.ndarray, n_rows: int) -> list[list[object]]:
    """Return, for each row 0..n_rows-1, the list of ``values`` whose ``rows`` entry is it.

    ``rows`` must be sorted. This slices one flat list at the row boundaries instead of
    groupby(...).agg(list) or np.split, which build a pandas/numpy object per group and are
    10-50x slower; one list object per row is unavoidable for a list column.
    """
    ends = np.cumsum(np.bincount(rows, minlength=n_rows)).tolist()
    starts = [0, *ends[:-1]]
    flat = values.tolist()
    return [flat[start:end] for start, end in zip(starts, ends, strict=True)]


def _greedy_ranks(team_code: np.ndarray, edges: _Edges, in_scope: np.ndarray) -> np.ndarray:
    """Return greedy ranks for the recommendations in ``in_scope`` (whole teams), in order.

    Recommendations must be in provisional order (team, -priority, question) so that the
    first available row of a team is its best choice. Each loop step ranks one
    recommendation per team, for all teams at once, with plain numpy arrays (a step costs
    microseconds).
    """
    pending = np.flatnonzero(in_scope)  # row positions, in provisional order
    team_codes = team_code[pending]
    scoped = in_scope[edges.row]
    edge_rows, edge_prerequisites = edges.row[scoped], edges.prerequisite_row[scoped]

    taken = np.zeros(len(in_scope), dtype=bool)
    ranks = np.zeros(len(pending), dtype=np.int64)
    steps = int(np.bincount(team_codes).max())
    for step in range(1, steps + 1):
        blocked = np.zeros(len(in_scope), dtype=bool)
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
    return ranks


def _run_starts(*keys: np.ndarray) -> np.ndarray:
    """Return the first position of each run of consecutive rows with equal ``keys``."""
    new_run = np.zeros(len(keys[0]), dtype=bool)
    new_run[:1] = True
    for key in keys:
        new_run[1:] |= key[1:] != key[:-1]
    return np.flatnonzero(new_run)


def _run_sums(values: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the sum and count of the non-NaN ``values`` in each run starting at ``starts``.

    Sums are Kahan-compensated and taken in row order, exactly as pandas' groupby sum and
    mean do, so results stay bit-identical to them (np.add.reduceat can differ in the last
    bit, which would move scores off exact ties). One step per position within a run: runs
    are a dimension's questions or a team's dimensions.
    """
    sizes = np.diff(starts, append=len(values))
    total = np.zeros(len(starts))
    compensation = np.zeros(len(starts))
    count = np.zeros(len(starts), dtype=np.int64)
    for offset in range(int(sizes.max(initial=0))):
        runs = np.flatnonzero(sizes > offset)
        value = values[starts[runs] + offset]
        present = ~np.isnan(value)
        runs, value = runs[present], value[present]
        adjusted = value - compensation[runs]
        new_total = total[runs] + adjusted
        lost = (new_total - total[runs]) - adjusted
        # An infinite value makes the compensation NaN; pandas then resets it to 0.
        compensation[runs] = np.where(np.isnan(lost), 0.0, lost)
        total[runs] = new_total
        count[runs] += 1
    return total, count


def _positions(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Return the position in ``keys`` of each ``wanted`` integer key, -1 where absent.

    Keys encode pairs such as (team code, dimension number); a sorted search replaces a
    merge. A repeated key resolves to its first position.
    """
    if not len(keys):
        return np.full(len(wanted), -1)
    by_key = np.argsort(keys, kind="stable")
    sorted_keys = keys[by_key]
    found = np.minimum(np.searchsorted(sorted_keys, wanted), len(keys) - 1)
    return np.where(sorted_keys[found] == wanted, by_key[found], -1)


def _empty_frame(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {column: pd.Series(dtype=_COLUMN_DTYPES.get(column, object)) for column in columns}
    )
