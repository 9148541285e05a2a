"""The team's answer to a question, from per-choice counts: the scoring run's vectorised
reports.evidence.answer_choices and the report/API's scalar answered_choice must agree."""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from reports.evidence import answer_choices, answered_choice

counts = st.lists(st.integers(min_value=0, max_value=40), min_size=2, max_size=6)


@given(st.lists(counts, min_size=1, max_size=20))
def test_the_vectorised_and_the_scalar_answer_agree(rows):
    width = max(len(row) for row in rows)
    padded = [row + [0] * (width - len(row)) for row in rows]
    frame = pd.DataFrame(padded, columns=[f"n{k}" for k in range(width)])
    frame.insert(0, "question", [f"q{i}" for i in range(len(rows))])
    frame.insert(0, "team", 1)
    vectorised = dict(
        zip(*answer_choices(frame)[["question", "choice"]].to_dict("list").values(), strict=True)
    )
    for i, row in enumerate(padded):
        assert vectorised.get(f"q{i}") == answered_choice(row)


def test_an_even_split_sits_on_the_lower_choice_and_float_noise_does_not_drop_a_level():
    assert answered_choice([0, 1, 0, 1]) == 2  # mean 2.0 of scores 1 and 3
    assert answered_choice([0, 0, 1, 1]) == 2  # mean 2.5
    assert answered_choice([0, 0, 0, 0]) is None
    assert answered_choice([0, 0, 0, 3]) == 3  # 9 / 3 exactly, floor without noise
