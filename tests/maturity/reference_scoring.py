"""A deliberately plain reference for maturity.scoring, used only by the tests.

It takes raw answers and a framework made of plain dicts, loops over everything and applies
the scoring rules literally, with no pandas and no cleverness, so that the vectorised engine
can be checked against it. Means use math.fsum (a correctly rounded sum) so that they do not
depend on the order answers arrive in; the tests aggregate with fsum too, which makes the
engine's inputs bit-identical to the values used here.

Framework dict::

    {
        "dimensions": [{"key", "weight", "order"}],
        "questions": [{"key", "dimension", "weight", "max_score", "requires", "order"}],
        "levels": [{"level", "name", "threshold"}],
        "choices": [{"question", "score", "label", "next_step"}],
    }

An answer is ``(team, respondent, question_key, score)`` with ``score=None`` for N/A and
``score=DONT_KNOW`` for "don't know"; a question a respondent skipped simply has no answer.
``asked`` (team -> set of question keys) limits what counts for each team: answers to any
other question are ignored; None means every question is asked of every team.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

from scipy import stats

Answer = tuple[Hashable, Hashable, str, int | str | None]

DONT_KNOW = "dont-know"

TOLERANCE = 1e-9
TIE_DECIMALS = 9
NAN = float("nan")


def level_of(score: float, levels: list[dict[str, Any]]) -> int | None:
    """Return the highest level whose threshold is <= score (+1e-9), or None."""
    if math.isnan(score):
        return None
    reached = [level["level"] for level in levels if level["threshold"] <= score + TOLERANCE]
    return max(reached) if reached else None


def level_name_of(level: int | None, levels: list[dict[str, Any]]) -> str | None:
    """Return the name of ``level``, or None for no level."""
    for candidate in levels:
        if level is not None and candidate["level"] == level:
            return candidate["name"]
    return None


def mean(values: list[float]) -> float:
    """Return the mean of ``values`` from a correctly rounded sum; NaN when empty."""
    return math.fsum(values) / len(values) if values else NAN


def reference_score(
    framework: dict[str, list[dict[str, Any]]],
    answers: list[Answer],
    respondents: dict[Hashable, int],
    asked: dict[Hashable, set[str]] | None = None,
) -> dict[str, Any]:
    """Score every team in ``respondents`` from raw ``answers``, literally by the rules.

    Return a dict with ``teams`` (team -> row), ``dimensions`` ((team, dimension) -> row, for
    defined dimensions only), ``questions`` ((team, question) -> row, questions answered
    with a choice or "don't know") and ``recommendations`` (team -> list of rows in rank
    order).
    """
    dimensions = {dimension["key"]: dimension for dimension in framework["dimensions"]}
    questions = {question["key"]: question for question in framework["questions"]}
    levels = framework["levels"]
    next_steps = {
        (choice["question"], choice["score"]): choice["next_step"]
        for choice in framework["choices"]
    }

    def is_asked(team: Hashable, question_key: str) -> bool:
        return asked is None or question_key in asked.get(team, set())

    # v values per (team, question) and (weight, v) per (team, respondent, dimension).
    values: dict[tuple[Hashable, str], list[float]] = {}
    respondent_values: dict[tuple[Hashable, Hashable, str], list[tuple[float, float]]] = {}
    dont_know: dict[tuple[Hashable, str], int] = {}
    for team, respondent, question_key, score in answers:
        if score is None or not is_asked(team, question_key):
            continue
        if score == DONT_KNOW:
            dont_know[(team, question_key)] = dont_know.get((team, question_key), 0) + 1
            continue
        assert isinstance(score, int)
        question = questions[question_key]
        v = score / question["max_score"]
        values.setdefault((team, question_key), []).append(v)
        respondent_values.setdefault((team, respondent, question["dimension"]), []).append(
            (question["weight"], v)
        )

    question_rows: dict[tuple[Hashable, str], dict[str, Any]] = {}
    for (team, question_key), vs in values.items():
        n = len(vs)
        mean_v = mean(vs)
        mean_v2 = mean([v * v for v in vs])
        std = math.sqrt(max(mean_v2 - mean_v * mean_v, 0.0)) if n >= 2 else NAN
        question_rows[(team, question_key)] = {
            "dimension": questions[question_key]["dimension"],
            "n": n,
            "mean": mean_v,
            "std": std,
            "contested": (not math.isnan(std)) and std >= 0.25 - TOLERANCE,
            "dont_know": dont_know.get((team, question_key), 0),
        }
    for (team, question_key), count in dont_know.items():
        if (team, question_key) not in question_rows:
            question_rows[(team, question_key)] = {
                "dimension": questions[question_key]["dimension"],
                "n": 0,
                "mean": NAN,
                "std": NAN,
                "contested": False,
                "dont_know": count,
            }
    answered_rows = {key: row for key, row in question_rows.items() if row["n"] > 0}

    dimension_rows: dict[tuple[Hashable, str], dict[str, Any]] = {}
    for team in respondents:
        for dimension_key in dimensions:
            in_dimension = [
                q
                for q in questions.values()
                if q["dimension"] == dimension_key and is_asked(team, q["key"])
            ]
            answered = [q for q in in_dimension if (team, q["key"]) in answered_rows]
            if not answered:
                continue
            weighted = [q["weight"] * answered_rows[(team, q["key"])]["mean"] for q in answered]
            score = 100 * math.fsum(weighted) / math.fsum(q["weight"] for q in answered)
            stds = [
                answered_rows[(team, q["key"])]["std"]
                for q in answered
                if answered_rows[(team, q["key"])]["n"] >= 2
            ]
            n_answers = sum(answered_rows[(team, q["key"])]["n"] for q in answered)
            low, high = _interval(
                [
                    100 * math.fsum(w * v for w, v in pairs) / math.fsum(w for w, _ in pairs)
                    for (t, _, d), pairs in respondent_values.items()
                    if t == team and d == dimension_key
                ]
            )
            level = level_of(score, levels)
            dimension_rows[(team, dimension_key)] = {
                "score": score,
                "level": level,
                "level_name": level_name_of(level, levels),
                "disagreement": mean(stds),
                "answered_ratio": n_answers / (respondents[team] * len(in_dimension)),
                "interval_low": low,
                "interval_high": high,
                "n_answers": n_answers,
                "dont_know": sum(dont_know.get((team, q["key"]), 0) for q in in_dimension),
            }

    team_rows: dict[Hashable, dict[str, Any]] = {}
    for team in respondents:
        defined = [(key, row) for (t, key), row in dimension_rows.items() if t == team]
        row: dict[str, Any] = {
            "score": NAN,
            "level": None,
            "level_name": None,
            "weakest_dimension": None,
            "n_respondents": respondents[team],
            "percentile": NAN,
            "dont_know": sum(count for (t, _), count in dont_know.items() if t == team),
        }
        if defined:
            row["score"] = math.fsum(
                dimensions[key]["weight"] * dimension["score"] for key, dimension in defined
            ) / math.fsum(dimensions[key]["weight"] for key, _ in defined)
            weakest_key, weakest = min(
                defined,
                key=lambda item: (
                    -math.inf if item[1]["level"] is None else item[1]["level"],
                    round(item[1]["score"], TIE_DECIMALS),
                    dimensions[item[0]]["order"],
                    item[0],
                ),
            )
            row["level"] = weakest["level"]
            row["level_name"] = weakest["level_name"]
            row["weakest_dimension"] = weakest_key
        team_rows[team] = row

    scored = {t: round(row["score"], TIE_DECIMALS) for t, row in team_rows.items()}
    scored = {t: score for t, score in scored.items() if not math.isnan(score)}
    for team, score in scored.items():
        below = sum(1 for other in scored.values() if other < score)
        equal = sum(1 for other in scored.values() if other == score)
        average_rank = below + (equal + 1) / 2
        team_rows[team]["percentile"] = 100 * average_rank / len(scored)

    recommendation_rows = {
        team: _recommendations(team, answered_rows, questions, dimensions, next_steps)
        for team in respondents
    }
    return {
        "teams": team_rows,
        "dimensions": dimension_rows,
        "questions": question_rows,
        "recommendations": recommendation_rows,
    }


def _interval(scores: list[float]) -> tuple[float, float]:
    """Return the 90% t-interval of ``scores`` clipped to [0, 100]; NaNs below 3 scores."""
    m = len(scores)
    if m < 3:
        return NAN, NAN
    center = math.fsum(scores) / m
    sample_std = math.sqrt(math.fsum((x - center) ** 2 for x in scores) / (m - 1))
    half = stats.t.ppf(0.95, m - 1) * sample_std / math.sqrt(m)
    return min(max(center - half, 0.0), 100.0), min(max(center + half, 0.0), 100.0)


def _recommendations(
    team: Hashable,
    question_rows: dict[tuple[Hashable, str], dict[str, Any]],
    questions: dict[str, dict[str, Any]],
    dimensions: dict[str, dict[str, Any]],
    next_steps: dict[tuple[str, int], str | None],
) -> list[dict[str, Any]]:
    """Return the team's recommendations in the naive greedy order, ranked from 1."""
    candidates = {}
    for key, question in questions.items():
        row = question_rows.get((team, key))
        if row is None or not row["mean"] < 1 - TOLERANCE:
            continue
        q_mean = row["mean"]
        current = math.floor(q_mean * question["max_score"] + TOLERANCE)
        candidates[key] = {
            "question": key,
            "dimension": question["dimension"],
            "priority": dimensions[question["dimension"]]["weight"]
            * question["weight"]
            * (1 - q_mean),
            "current_score": current,
            "next_score": current + 1,
            "text": next_steps.get((key, current)),
        }
    for key, candidate in candidates.items():
        requires = list(dict.fromkeys(questions[key]["requires"]))
        candidate["requires"] = [required for required in requires if required in candidates]

    ordered: list[dict[str, Any]] = []
    taken: set[str] = set()
    while len(ordered) < len(candidates):
        available = [
            candidate
            for key, candidate in candidates.items()
            if key not in taken and all(required in taken for required in candidate["requires"])
        ]
        if not available:
            raise ValueError("prerequisites form a cycle")
        best = min(
            available,
            key=lambda candidate: (
                -round(candidate["priority"], TIE_DECIMALS),
                candidate["question"],
            ),
        )
        taken.add(best["question"])
        ordered.append({"rank": len(ordered) + 1, **best})
    return ordered
