"""Writes to the maturity model: loading framework files."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import transaction

from maturity.models import Choice, Dimension, Framework, Level, Question
from maturity.schema import FrameworkSpec, QuestionSpec
from maturity.signals import framework_checks_updated


class FrameworkError(Exception):
    """A framework load that breaks a rule (e.g. changing a version that has answers)."""


class LoadOutcome(enum.Enum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    # Same content, different checks or evidence policy: updated in place (issue 16).
    CHECKS_UPDATED = "checks updated"


@dataclass(frozen=True)
class LoadResult:
    framework: Framework
    outcome: LoadOutcome

    def describe(self) -> str:
        fw = self.framework
        counts = f"{fw.dimensions.count()} dimensions, {fw.questions.count()} questions"
        if self.outcome is LoadOutcome.UNCHANGED:
            return f"{fw.slug} v{fw.version} is already loaded with this content; nothing changed."
        checked = fw.questions.exclude(checks=[]).count()
        evidence = f"{checked} with evidence checks, evidence policy {fw.evidence_policy}"
        if self.outcome is LoadOutcome.CHECKS_UPDATED:
            return (
                f"Checks updated for {fw.slug} v{fw.version}: content unchanged, so answers are "
                f"kept ({evidence})."
            )
        described = f"{self.outcome.value.capitalize()} {fw.slug} v{fw.version} ({counts})."
        return f"{described} {evidence.capitalize()}." if checked else described


def framework_has_answers(framework: Framework) -> bool:
    """Tell whether any answer (draft or submitted) refers to this framework's questions."""
    answer_model = apps.get_model("surveys", "Answer")  # surveys is the layer above
    has_answers: bool = answer_model.objects.filter(question__framework=framework).exists()
    return has_answers


@transaction.atomic
def framework_load(*, spec: FrameworkSpec, source: str = "") -> LoadResult:
    """Create or update the framework version described by a validated spec.

    Loading the same content again changes nothing. Changed content replaces a version that
    has no answers yet; a version with answers is never mutated: bump ``version`` instead,
    keeping question keys stable so that trends compare across versions. Checks and the
    evidence policy are not content (see FrameworkSpec.content_hash): when only they differ,
    they are updated in place, answers or not (CHECKS_UPDATED).
    """
    content_hash = spec.content_hash()
    framework = (
        Framework.objects.select_for_update().filter(slug=spec.slug, version=spec.version).first()
    )
    if framework is not None and framework.content_hash == content_hash:
        _fill_version_2_columns(framework, spec)
        if framework.checks_hash == spec.checks_hash():
            return LoadResult(framework, LoadOutcome.UNCHANGED)
        _update_checks(framework, spec)
        transaction.on_commit(
            lambda: framework_checks_updated.send(sender=Framework, framework=framework)
        )
        return LoadResult(framework, LoadOutcome.CHECKS_UPDATED)
    if framework is not None and framework_has_answers(framework):
        raise FrameworkError(
            f"{spec.slug} v{spec.version} already has answers and its content differs from "
            f"{source or 'this file'}. Published versions are never changed in place: set "
            f"`version: {spec.version + 1}` in the file (keep question keys stable) and load it."
        )

    outcome = LoadOutcome.CREATED if framework is None else LoadOutcome.UPDATED
    if framework is None:
        framework = Framework(slug=spec.slug, version=spec.version)
    else:
        framework.levels.all().delete()
        framework.dimensions.all().delete()  # cascades to questions and choices
    framework.title = spec.title
    framework.description = spec.description
    framework.published = spec.published
    framework.content_hash = content_hash
    framework.evidence_policy = spec.evidence_policy
    framework.checks_hash = spec.checks_hash()
    framework.source = source
    framework.save()
    _create_content(framework, spec)
    return LoadResult(framework, outcome)


def _stored_applies_when(question: QuestionSpec) -> dict[str, Any]:
    if question.applies_when is None:
        return {}
    return question.applies_when.model_dump(exclude_none=True)


def _stored_checks(question: QuestionSpec) -> list[dict[str, Any]]:
    return [check.model_dump(mode="json") for check in question.checks]


def _update_checks(framework: Framework, spec: FrameworkSpec) -> None:
    """Store the checks and evidence policy of ``spec`` on its unchanged loaded version."""
    questions = {q.key: q for q in framework.questions.all()}
    changed = []
    for _, question_spec in spec.questions():
        question = questions[question_spec.key]
        wanted = _stored_checks(question_spec)
        if question.checks != wanted:
            question.checks = wanted
            changed.append(question)
    Question.objects.bulk_update(changed, ["checks"])
    framework.evidence_policy = spec.evidence_policy
    framework.checks_hash = spec.checks_hash()
    framework.save(update_fields=["evidence_policy", "checks_hash", "loaded_at"])


def _fill_version_2_columns(framework: Framework, spec: FrameworkSpec) -> None:
    """Store scope, applies_when, refs, why, replaces and evidence of an unchanged version.

    A version loaded before these columns existed (maturity migration 0002) holds their
    defaults; they are part of its content hash, so re-loading the same file fills them in
    without touching anything that answers refer to.
    """
    questions = {q.key: q for q in framework.questions.all()}
    choices = {
        (c.question_id, c.score): c for c in Choice.objects.filter(question__framework=framework)
    }
    changed_questions, changed_choices = [], []
    for _, question_spec in spec.questions():
        question = questions[question_spec.key]
        wanted = {
            "scope": question_spec.scope,
            "applies_when": _stored_applies_when(question_spec),
            "refs": question_spec.refs,
            "why": question_spec.why,
            "replaces": question_spec.replaces,
        }
        if any(getattr(question, name) != value for name, value in wanted.items()):
            for name, value in wanted.items():
                setattr(question, name, value)
            changed_questions.append(question)
        for choice_spec in question_spec.choices:
            choice = choices[(question.pk, choice_spec.score)]
            if choice.evidence != choice_spec.evidence:
                choice.evidence = choice_spec.evidence
                changed_choices.append(choice)
    Question.objects.bulk_update(
        changed_questions, ["scope", "applies_when", "refs", "why", "replaces"]
    )
    Choice.objects.bulk_update(changed_choices, ["evidence"])


def _create_content(framework: Framework, spec: FrameworkSpec) -> None:
    Level.objects.bulk_create(
        Level(
            framework=framework,
            number=level.number,
            name=level.name,
            threshold=level.threshold,
            description=level.description,
        )
        for level in spec.levels
    )
    dimensions = Dimension.objects.bulk_create(
        Dimension(
            framework=framework,
            key=dimension.key,
            name=dimension.name,
            description=dimension.description,
            weight=dimension.weight,
            order=order,
            seed_refs=dimension.seed_refs,
        )
        for order, dimension in enumerate(spec.dimensions, start=1)
    )
    question_rows: list[Question] = []
    for dimension, dimension_spec in zip(dimensions, spec.dimensions, strict=True):
        for question in dimension_spec.questions:
            question_rows.append(
                Question(
                    framework=framework,
                    dimension=dimension,
                    key=question.key,
                    text=question.text,
                    guidance=question.guidance,
                    weight=question.weight,
                    allow_na=question.allow_na,
                    order=len(question_rows) + 1,
                    max_score=question.max_score,
                    requires=question.requires,
                    seed_refs=question.seed_refs,
                    scope=question.scope,
                    applies_when=_stored_applies_when(question),
                    refs=question.refs,
                    why=question.why,
                    replaces=question.replaces,
                    checks=_stored_checks(question),
                )
            )
    questions = Question.objects.bulk_create(question_rows)
    question_specs = [question for _, question in spec.questions()]
    Choice.objects.bulk_create(
        Choice(
            question=question,
            score=choice.score,
            label=choice.label,
            description=choice.description,
            next_step=choice.next_step or "",
            evidence=choice.evidence,
        )
        for question, question_spec in zip(questions, question_specs, strict=True)
        for choice in sorted(question_spec.choices, key=lambda c: c.score)
    )
