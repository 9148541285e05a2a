"""Read-side helpers over loaded frameworks, cached per framework version.

A framework version's content only changes by being re-loaded, which writes a new
``content_hash`` and ``loaded_at``; keying a cache on (pk, content_hash, loaded_at) means a
cached copy is never stale, and each process reads a version from the database once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import TypeVar

from maturity.models import Choice, Dimension, Framework, Level, Question
from maturity.scope import QuestionRule
from maturity.trends import matched_keys

T = TypeVar("T")
_MAX_VERSIONS = 32


def per_framework_version(read: Callable[[Framework], T]) -> Callable[[Framework], T]:
    """Cache ``read(framework)`` per framework version, in this process."""
    cached: dict[tuple[object, ...], T] = {}

    @wraps(read)
    def wrapper(framework: Framework) -> T:
        key = (framework.pk, framework.content_hash, framework.loaded_at)
        value = cached.get(key)
        if value is None:
            if len(cached) >= _MAX_VERSIONS:
                cached.clear()
            value = cached[key] = read(framework)
        return value

    # A function attribute, as functools.lru_cache gives its wrappers (mypy knows none).
    wrapper.cache_clear = cached.clear  # type: ignore[attr-defined]
    return wrapper


@dataclass(frozen=True)
class AnswerRules:
    """What a complete, valid set of answers to a framework looks like."""

    questions: dict[str, Question]  # by key, in order
    offered: dict[int, frozenset[int]]  # question id -> the scores of its choices

    def missing(self, answered_ids: set[int]) -> list[Question]:
        """Return the questions, in order, whose ids are not in ``answered_ids``."""
        return [q for q in self.questions.values() if q.pk not in answered_ids]


@per_framework_version
def answer_rules(framework: Framework) -> AnswerRules:
    """Return the framework's questions by key and the scores each one offers."""
    questions = {
        question.key: question
        for question in Question.objects.filter(framework=framework)
        .select_related("dimension")
        .order_by("order")
    }
    offered: dict[int, set[int]] = {question.pk: set() for question in questions.values()}
    for question_id, score in Choice.objects.filter(question__framework=framework).values_list(
        "question_id", "score"
    ):
        offered[question_id].add(score)
    return AnswerRules(
        questions=questions,
        offered={pk: frozenset(scores) for pk, scores in offered.items()},
    )


def question_matches(current: Framework, previous: Framework) -> dict[str, tuple[str, ...]]:
    """Return, per question key of ``current``, the keys of ``previous`` it compares to.

    The one matching of questions across rounds (trends, explained change): through
    ``replaces`` along the versions of the same framework (maturity.trends.matched_keys, which
    states the rule for renamed, split and merged questions). Two different frameworks (slugs)
    share no history: a question matches the one with the same key, as before versions had
    ``replaces``.
    """
    if current.slug != previous.slug:
        previous_keys = set(previous.questions.values_list("key", flat=True))
        return {
            key: (key,) if key in previous_keys else ()
            for key in current.questions.order_by("order").values_list("key", flat=True)
        }
    low, high = sorted((current.version, previous.version))
    versions: dict[int, dict[str, list[str]]] = {}
    for version, key, replaces in (
        Question.objects.filter(framework__slug=current.slug, framework__version__range=(low, high))
        .order_by("framework__version", "order")
        .values_list("framework__version", "key", "replaces")
    ):
        versions.setdefault(version, {})[key] = list(replaces or [])
    versions.setdefault(current.version, {})
    versions.setdefault(previous.version, {})
    return matched_keys(versions, current.version, previous.version)


@dataclass(frozen=True)
class QuestionRules:
    """What decides who answers each question of a framework (see maturity.scope)."""

    rules: tuple[QuestionRule, ...]

    @property
    def unconditional(self) -> bool:
        """Tell whether every question is team-scope and applies to every profile: then
        every team of a round is asked every question, whatever its place or profile."""
        return all(rule.scope == "team" and not rule.applies_when for rule in self.rules)

    @property
    def uses_profiles(self) -> bool:
        """Tell whether any question depends on the team profile (``applies_when``)."""
        return any(rule.applies_when for rule in self.rules)


@per_framework_version
def question_rules(framework: Framework) -> QuestionRules:
    """Return the scope and applies_when of every question of the framework."""
    return QuestionRules(
        tuple(
            QuestionRule(id=pk, scope=scope, applies_when=applies_when or {})
            for pk, scope, applies_when in Question.objects.filter(framework=framework)
            .order_by("order")
            .values_list("pk", "scope", "applies_when")
        )
    )


@dataclass(frozen=True)
class Scale:
    """A framework's dimensions (by ``order``) and maturity levels (by ``number``)."""

    dimensions: tuple[Dimension, ...]
    levels: tuple[Level, ...]


@per_framework_version
def framework_scale(framework: Framework) -> Scale:
    """Return the framework's dimensions and levels, read once per version and process
    (pages offer them in their sort and filter fields on every view)."""
    return Scale(
        tuple(framework.dimensions.order_by("order")),
        tuple(framework.levels.order_by("number")),
    )
