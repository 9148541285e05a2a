"""Questions matched across versions and explained change (maturity.trends): pure, no database.

The property test scores two rounds with the engine (maturity.scoring) on two framework
versions related by renames, splits, merges, moves and new or dropped questions, and checks
that the explained change of every dimension adds up to the engine's change of its score.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maturity.scoring import ScoringResult
from maturity.trends import (
    FRAMEWORK_CHANGE_TEXT,
    QuestionTerm,
    explained_change,
    matched_keys,
    previous_mean,
)
from tests.maturity.test_scoring import WEIGHTS, question, run, spec

# --- matching ------------------------------------------------------------------------------

V1 = {"schema": [], "skew": [], "canary": [], "cost-a": [], "cost-b": [], "gone": []}
V2 = {
    "schema": [],  # kept
    "data-contract": ["skew"],  # renamed
    "canary-release": ["canary"],  # split in two ...
    "rollback": ["canary"],  # ... both continue canary
    "cost": ["cost-a", "cost-b"],  # merged
    "tokens": [],  # new
}


def test_kept_renamed_split_merged_and_new_questions_match_their_old_keys():
    assert matched_keys({1: V1, 2: V2}, current=2, previous=1) == {
        "schema": ("schema",),
        "data-contract": ("skew",),
        "canary-release": ("canary",),
        "rollback": ("canary",),
        "cost": ("cost-a", "cost-b"),
        "tokens": (),
    }


def test_a_split_that_keeps_the_old_key_compares_both_parts_to_it():
    v2 = {"storage": [], "feature-consistency": ["storage"]}
    assert matched_keys({1: {"storage": []}, 2: v2}, 2, 1) == {
        "storage": ("storage",),
        "feature-consistency": ("storage",),
    }


def test_matching_follows_replaces_through_the_versions_between():
    v3 = {"contract": ["data-contract"], "cost": [], "revived": ["gone"]}
    versions = {1: V1, 2: V2, 3: v3}
    assert matched_keys(versions, current=3, previous=1) == {
        "contract": ("skew",),
        "cost": ("cost-a", "cost-b"),
        "revived": ("gone",),  # replaces may name a key of any earlier version
    }
    assert matched_keys(versions, current=3, previous=2)["contract"] == ("data-contract",)


def test_an_older_round_after_a_newer_one_reads_the_relation_the_other_way():
    back = matched_keys({1: V1, 2: V2}, current=1, previous=2)
    assert back["skew"] == ("data-contract",)
    assert back["canary"] == ("canary-release", "rollback")  # split later: both
    assert back["cost-a"] == back["cost-b"] == ("cost",)
    assert back["gone"] == ()


def test_the_same_version_matches_every_key_to_itself():
    assert matched_keys({1: V1}, 1, 1) == {key: (key,) for key in V1}


# --- values compared and explained change --------------------------------------------------


def term(dimension: str, mean: float | None, weight: float = 1.0) -> QuestionTerm:
    return QuestionTerm(dimension, weight, mean, text=f"text {dimension} {mean}")


def test_a_merged_question_compares_to_the_weighted_mean_of_the_old_ones():
    before = {"a": term("d", 0.25, weight=1.0), "b": term("d", 1.0, weight=3.0)}
    assert previous_mean(("a", "b"), before) == pytest.approx((0.25 + 3.0) / 4)
    assert previous_mean(("a", "missing"), before) == 0.25
    assert previous_mean(("a",), {"a": term("d", None)}) is None


def test_a_renamed_question_with_the_same_answer_explains_no_change_in_one_row():
    """The bug of issue 15: 'skew' renamed 'data-contract' showed as -18.8 and +18.8."""
    before = {"schema": term("data", 0.5), "skew": term("data", 0.75)}
    now = {"schema": term("data", 0.5), "data-contract": term("data", 0.75)}
    matches = {"schema": ("schema",), "data-contract": ("skew",)}
    rows = explained_change(now, before, matches)["data"]
    assert [(row.question_key, row.points) for row in rows] == [
        ("data-contract", 0.0),
        ("schema", 0.0),
    ]
    renamed = rows[0]
    assert (renamed.mean_now, renamed.mean_then, renamed.renamed_from) == (0.75, 0.75, ("skew",))
    assert rows[1].renamed_from == ()


def test_without_the_match_a_renamed_question_reads_as_new_and_moves_points():
    before = {"schema": term("data", 0.5), "skew": term("data", 0.75)}
    now = {"schema": term("data", 0.5), "data-contract": term("data", 0.75)}
    rows = explained_change(now, before, {"schema": ("schema",)})["data"]
    points = {row.question_key: row.points for row in rows}
    assert points["data-contract"] == pytest.approx(37.5)  # all of its share, as if new
    assert sum(points.values()) == pytest.approx(0.0)


def test_split_questions_each_compare_to_the_old_value_and_share_its_points():
    # Old: canary 0.5 (w 2) and schema 1.0 (w 2): D = 75. New: canary-release 1.0 and
    # rollback 0.5 (w 1 each) and schema 1.0 (w 2): D = 100 * (1 + 0.5 + 2) / 4 = 87.5.
    before = {"canary": term("deploy", 0.5, 2.0), "schema": term("deploy", 1.0, 2.0)}
    now = {
        "canary-release": term("deploy", 1.0),
        "rollback": term("deploy", 0.5),
        "schema": term("deploy", 1.0, 2.0),
    }
    matches = {"canary-release": ("canary",), "rollback": ("canary",), "schema": ("schema",)}
    rows = {row.question_key: row for row in explained_change(now, before, matches)["deploy"]}
    assert set(rows) == {"canary-release", "rollback", "schema"}
    assert rows["canary-release"].points == pytest.approx(25.0 - 12.5)
    assert rows["rollback"].points == pytest.approx(12.5 - 12.5)
    assert rows["schema"].points == pytest.approx(0.0)
    assert rows["canary-release"].mean_then == rows["rollback"].mean_then == 0.5
    assert sum(row.points for row in rows.values()) == pytest.approx(87.5 - 75.0)


def test_a_merged_question_takes_over_the_old_shares():
    before = {"cost-a": term("cost", 0.0), "cost-b": term("cost", 1.0)}
    now = {"cost": term("cost", 0.75, 2.0)}
    rows = explained_change(now, before, {"cost": ("cost-a", "cost-b")})["cost"]
    assert len(rows) == 1
    assert rows[0].points == pytest.approx(75.0 - 50.0)
    assert rows[0].mean_then == 0.5 and rows[0].renamed_from == ("cost-a", "cost-b")


def test_a_moved_question_keeps_its_value_and_the_framework_row_moves_its_points():
    before = {
        "gpu": term("scale", 1.0),
        "autoscale": term("scale", 0.5),
        "spend": term("cost", 0.0),
    }
    now = {"gpu": term("cost", 1.0), "autoscale": term("scale", 0.5), "spend": term("cost", 0.0)}
    matches = {key: (key,) for key in now}
    change = explained_change(now, before, matches)
    scale = {row.question_key: row.points for row in change["scale"]}
    cost = {row.question_key: row.points for row in change["cost"]}
    # scale: 75 -> 50, all of it because gpu left; cost: 0 -> 50 because gpu joined.
    assert scale == {"autoscale": pytest.approx(0.0), "": pytest.approx(-25.0)}
    assert cost == {"gpu": pytest.approx(0.0), "spend": 0.0, "": pytest.approx(50.0)}
    framework_row = change["cost"][0]
    assert framework_row.framework_change and framework_row.question_text == FRAMEWORK_CHANGE_TEXT


def test_a_merge_that_lost_weight_is_no_change_of_practice():
    """Shipped v2: skills-strategy continues skills-strategy and ml-devops-training."""
    before = {
        "skills-strategy": term("skills", 0.0),
        "ml-devops-training": term("skills", 1.0),
        "technical-leadership": term("skills", 0.5),
        "mlops-adoption": term("skills", 0.5),
    }
    now = {
        "skills-strategy": term("skills", 0.5),
        "technical-leadership": term("skills", 0.5),
        "mlops-adoption": term("skills", 0.5),
    }
    matches = {
        "skills-strategy": ("skills-strategy", "ml-devops-training"),
        "technical-leadership": ("technical-leadership",),
        "mlops-adoption": ("mlops-adoption",),
    }
    rows = explained_change(now, before, matches)["skills"]
    assert [row.points for row in rows] == [pytest.approx(0.0)] * 3  # no framework row
    assert {row.mean_then for row in rows} == {0.5}


def test_a_question_answered_now_only_or_then_only_and_unscored_dimensions():
    before = {"a": term("d", 1.0), "b": term("d", None), "x": term("only-then", 1.0)}
    now = {"a": term("d", None), "b": term("d", 0.5), "y": term("only-now", 1.0)}
    change = explained_change(now, before, {"a": ("a",), "b": ("b",), "y": ()})
    assert set(change) == {"d"}
    points = {row.question_key: row.points for row in change["d"]}
    assert points == {"a": pytest.approx(-100.0), "b": pytest.approx(50.0)}


# --- property: explained change adds up to the engine's change -----------------------------

OLD_KEYS = [f"old-{letter}" for letter in "abcdefghij"]
DIMENSIONS = ["data", "deploy", "monitor"]


@st.composite
def versions(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], dict[str, tuple]]:
    """Draw a version 1 and a version 2 related by kept, renamed, split, merged, moved, new
    and dropped questions, with changed weights; return both and the matches 2 -> 1."""
    old_keys = OLD_KEYS[: draw(st.integers(1, len(OLD_KEYS)))]
    old = [
        question(key, draw(st.sampled_from(DIMENSIONS)), order, draw(st.sampled_from(WEIGHTS)))
        for order, key in enumerate(old_keys)
    ]
    new: list[dict[str, Any]] = []
    matches: dict[str, tuple[str, ...]] = {}
    for key in old_keys:
        fate = draw(st.sampled_from(["kept", "renamed", "split", "merged", "dropped"]))
        count = {"split": 2, "dropped": 0}.get(fate, 1)
        for part in range(count):
            new_key = key if fate == "kept" else f"new-{key}-{part}"
            matches[new_key] = (key,)
            if fate == "merged":
                partner = draw(st.sampled_from(old_keys))
                matches[new_key] = tuple(sorted({key, partner}, key=old_keys.index))
            new.append(
                question(
                    new_key,
                    draw(st.sampled_from(DIMENSIONS)),
                    len(new),
                    draw(st.sampled_from(WEIGHTS)),
                    max_score=draw(st.integers(2, 4)),
                )
            )
    for index in range(draw(st.integers(0, 2))):
        new.append(question(f"brand-new-{index}", draw(st.sampled_from(DIMENSIONS)), len(new)))
        matches[f"brand-new-{index}"] = ()
    if not new:
        new.append(question("brand-new-x", "data", 0))
        matches["brand-new-x"] = ()
    dimensions = [(key, 1.0) for key in DIMENSIONS]
    return spec(dimensions, old), spec(dimensions, new), matches


def answers(draw: st.DrawFn, plain: dict[str, Any]) -> list[tuple[Hashable, str, str, Any]]:
    rows = []
    for respondent in range(draw(st.integers(1, 3))):
        for q in plain["questions"]:
            choice = draw(st.integers(-1, q["max_score"]))  # -1: N/A
            rows.append(("team", f"r{respondent}", q["key"], None if choice < 0 else choice))
    return rows


def terms(plain: dict[str, Any], result: ScoringResult) -> dict[str, QuestionTerm]:
    means = result.question_scores.set_index("question")["mean"].to_dict()
    return {
        q["key"]: QuestionTerm(q["dimension"], q["weight"], means.get(q["key"]))
        for q in plain["questions"]
    }


def dimension_scores(result: ScoringResult) -> dict[str, float]:
    frame: pd.DataFrame = result.dimension_scores
    return dict(zip(frame["dimension"], frame["score"], strict=True))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_explained_change_adds_up_to_the_engines_change_of_every_dimension(data):
    old_plain, new_plain, matches = data.draw(versions())
    old_answers = answers(data.draw, old_plain)
    new_answers = answers(data.draw, new_plain)
    old_result = run(old_plain, old_answers, {"team": 3}, with_intervals=False)
    new_result = run(new_plain, new_answers, {"team": 3}, with_intervals=False)
    before, after = dimension_scores(old_result), dimension_scores(new_result)

    old_terms = terms(old_plain, old_result)
    change = explained_change(terms(new_plain, new_result), old_terms, matches)

    assert set(change) == before.keys() & after.keys()
    for dimension, rows in change.items():
        total = sum(row.points for row in rows)
        assert total == pytest.approx(after[dimension] - before[dimension], abs=1e-9)
        assert len({row.question_key for row in rows}) == len(rows)
        assert sum(row.framework_change for row in rows) <= 1
        for row in rows:  # renamed or split: compared with the old key's value
            if len(matches.get(row.question_key, ())) == 1:
                assert row.mean_then == old_terms[matches[row.question_key][0]].mean


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_renaming_every_question_with_the_same_answers_explains_no_change(data):
    old_plain, _, _ = data.draw(versions())
    renamed = {q["key"]: f"renamed-{q['key']}" for q in old_plain["questions"]}
    new_plain = spec(
        [(d["key"], d["weight"]) for d in old_plain["dimensions"]],
        [{**q, "key": renamed[q["key"]]} for q in old_plain["questions"]],
    )
    old_answers = answers(data.draw, old_plain)
    new_answers = [(t, r, renamed[q], s) for t, r, q, s in old_answers]
    old_result = run(old_plain, old_answers, {"team": 3}, with_intervals=False)
    new_result = run(new_plain, new_answers, {"team": 3}, with_intervals=False)
    matches = matched_keys(
        {1: {q: [] for q in renamed}, 2: {new: [old] for old, new in renamed.items()}}, 2, 1
    )

    change = explained_change(terms(new_plain, new_result), terms(old_plain, old_result), matches)

    for rows in change.values():
        assert all(row.question_key.startswith("renamed-") for row in rows)  # no framework row
        assert all(row.points == pytest.approx(0.0, abs=1e-9) for row in rows)
        assert all(row.mean_now == row.mean_then for row in rows)
