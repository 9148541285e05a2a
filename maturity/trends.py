"""Questions matched across framework versions, and a dimension's change explained (pure).

A round's team is compared with its previous round, which may have run on another version
of the framework. Dimensions match by key. Questions match through ``replaces`` (issue 15),
and only through :func:`matched_keys`, which every comparison across rounds uses:

* a question compares to the previous round's question of the same key, and to every
  earlier key it lists in ``replaces`` (followed through the versions in between);
* renamed (one old key): the same question, compared with its old value;
* split (several new questions replace one old key): each new question compares to the old
  key's value;
* merged (one question replaces several old keys): it compares to the mean of the old ones,
  weighted by their question weights (as the old dimension score weighted them; the plain
  mean when the weights are equal).

No Django here: callers pass plain mappings (maturity.selectors.question_matches reads them
from the database).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


def matched_keys(
    versions: Mapping[int, Mapping[str, Sequence[str]]], current: int, previous: int
) -> dict[str, tuple[str, ...]]:
    """Return, per question key of version ``current``, the keys of ``previous`` it compares to.

    ``versions`` maps version numbers of one framework to ``{question key: replaces}``; it must
    hold ``current``, ``previous`` and every version between them that exists. Every key of
    ``current`` is in the result, with an empty tuple when nothing of ``previous`` matches
    it (a new question). Keys are listed in the order of ``previous``'s mapping.

    When ``previous`` is the later version (a round on an older version after one on a newer
    one), the match is the same relation read the other way: a question that was split
    later compares to the mean of its successors, one merged later to their common one.
    """
    if current == previous:
        return {key: (key,) for key in versions[current]}
    if current < previous:
        forward = _older_keys(versions, newer=previous, older=current)
        inverse: dict[str, list[str]] = {key: [] for key in versions[current]}
        for newer_key in versions[previous]:
            for older_key in forward[newer_key]:
                inverse[older_key].append(newer_key)
        return {key: tuple(keys) for key, keys in inverse.items()}
    return _older_keys(versions, newer=current, older=previous)


def _older_keys(
    versions: Mapping[int, Mapping[str, Sequence[str]]], newer: int, older: int
) -> dict[str, tuple[str, ...]]:
    """Follow each key of ``newer`` down to the keys of ``older`` (``replaces`` may name a
    key of any earlier version, so a name not in the version below waits for an older one)."""
    steps = sorted((v for v in versions if older < v <= newer), reverse=True)
    order = {key: position for position, key in enumerate(versions[older])}
    result: dict[str, tuple[str, ...]] = {}
    for key in versions[newer]:
        names = [key]
        for version in steps:
            expanded: list[str] = []
            for name in names:
                if name in versions[version]:
                    expanded += [name, *versions[version][name]]
                else:
                    expanded.append(name)
            names = list(dict.fromkeys(expanded))
        result[key] = tuple(sorted((n for n in names if n in order), key=order.__getitem__))
    return result


@dataclass(frozen=True)
class QuestionTerm:
    """A question of one round for one team: its dimension key, weight and team score.

    ``mean`` is Q(t, q) in [0, 1], None when the team did not answer it (all N/A, out of
    scope, or not asked).
    """

    dimension: str
    weight: float
    mean: float | None
    text: str = ""


@dataclass(frozen=True)
class Contribution:
    """How many points one question contributed to its dimension's change.

    ``mean_now`` and ``mean_then`` (0..1) are the values compared: the question now, and
    its matched question(s) in the previous round (see the module docstring), None when not
    answered. ``previous_keys`` are the keys it is compared to; a kept key lists itself.
    The one row with ``framework_change`` set (no question key) is the part of the change
    that comes from the framework's new version, not from the answers (explained_change).
    """

    question_key: str
    question_text: str
    points: float
    mean_now: float | None = None
    mean_then: float | None = None
    previous_keys: tuple[str, ...] = ()
    framework_change: bool = False

    @property
    def renamed_from(self) -> tuple[str, ...]:
        """The previous keys it is compared to when they are not simply its own key."""
        return () if self.previous_keys in ((), (self.question_key,)) else self.previous_keys


FRAMEWORK_CHANGE_TEXT = (
    "The new framework version: questions added, dropped, merged, split, moved or re-weighted "
    "(scored with last round's answers)"
)


def previous_mean(keys: Sequence[str], previous: Mapping[str, QuestionTerm]) -> float | None:
    """Return the value a question compares to: the weighted mean of its matched previous
    questions that were answered (see the module docstring), or None when none was."""
    answered = [previous[key] for key in keys if key in previous and previous[key].mean is not None]
    total = sum(term.weight for term in answered)
    if not answered or total <= 0:
        return None
    return sum(term.weight * (term.mean or 0.0) for term in answered) / total


def explained_change(
    current: Mapping[str, QuestionTerm],
    previous: Mapping[str, QuestionTerm],
    matches: Mapping[str, Sequence[str]],
) -> dict[str, list[Contribution]]:
    """Return, per dimension key scored in both rounds, each question's share of its change.

    ``current``/``previous``: every question of the round's framework (answered or not) by
    key; ``matches``: :func:`matched_keys` from the current version to the previous one.

    Each current question q carries its previous value forward: P_q = previous_mean of its
    matches. Scoring the dimension's current questions with P instead of Q gives D_carried,
    the previous round's answers on the current version. Then

        D_new - D_old = sum over q of (100 w_q Q_q / W_new - 100 w_q P_q / W_carried)
                        + (D_carried - D_old),

    W_new and W_carried being the total weight of the questions with a Q (resp. a P), and a
    missing Q or P counting 0 in its term. A question's row is its term: a renamed or split
    question with the same answer contributes 0, one row, never -x and +x. The last term is
    one row of its own (``framework_change``): what the new version alone changed (added,
    dropped, moved or re-weighted questions); it is left out when it is 0 within 1e-9, as it
    always is between rounds of the same version. So the rows add up to D_new - D_old.
    Rows are sorted by the size of their contribution, largest first, then by key.

    A dimension answered in only one round has no entry; a question with neither a value
    now nor one then has no row.
    """
    now_totals = _answered_weights(current)
    then_totals = _answered_weights(previous)
    result: dict[str, list[Contribution]] = {}
    for dimension in now_totals.keys() & then_totals.keys():
        carried = {
            key: QuestionTerm(dimension, term.weight, previous_mean(matches.get(key, ()), previous))
            for key, term in current.items()
            if term.dimension == dimension
        }
        carried_total = sum(term.weight for term in carried.values() if term.mean is not None)
        rows = [
            Contribution(
                key,
                current[key].text,
                _share(current[key], now_totals[dimension]) - _share(then, carried_total),
                current[key].mean,
                then.mean,
                tuple(matches.get(key, ())),
            )
            for key, then in carried.items()
            if current[key].mean is not None or then.mean is not None
        ]
        carried_score = sum(_share(term, carried_total) for term in carried.values())
        old_score = sum(
            _share(term, then_totals[dimension])
            for term in previous.values()
            if term.dimension == dimension
        )
        if abs(carried_score - old_score) > 1e-9:
            rows.append(
                Contribution(
                    "", FRAMEWORK_CHANGE_TEXT, carried_score - old_score, framework_change=True
                )
            )
        rows.sort(key=lambda row: (-abs(row.points), row.question_key))
        result[dimension] = rows
    return result


def _answered_weights(terms: Mapping[str, QuestionTerm]) -> dict[str, float]:
    """Return per dimension the total weight W of its answered questions (absent when 0)."""
    totals: dict[str, float] = {}
    for term in terms.values():
        if term.mean is not None:
            totals[term.dimension] = totals.get(term.dimension, 0.0) + term.weight
    return {dimension: total for dimension, total in totals.items() if total > 0}


def _share(term: QuestionTerm, total_weight: float) -> float:
    """Return 100 * w * Q / W, 0 for a missing Q (or no answered question at all)."""
    if term.mean is None or total_weight <= 0:
        return 0.0
    return 100 * term.weight * term.mean / total_weight
