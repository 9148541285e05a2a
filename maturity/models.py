"""The maturity model: a versioned framework of dimensions, questions and scored choices.

Content is code: it comes from YAML files in ``maturity/frameworks/`` through
``manage.py load_framework`` (see ``maturity.services.framework_load``), not from hand edits.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class EvidencePolicy(models.TextChoices):
    """What evidence does to scores (issue 16; docs/evidence-rules.md)."""

    REPORT = "report", "Report verdicts beside answers"
    CAP = "cap", "Also count answers at most at the evidenced level"


class Framework(models.Model):
    slug = models.SlugField(max_length=64)
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    published = models.BooleanField(default=True)
    # sha256 of the validated content: tells an unchanged re-load from a changed one.
    content_hash = models.CharField(max_length=64)
    source = models.CharField(max_length=255, blank=True, help_text="File it was loaded from.")
    # Verification metadata (issue 16), outside content_hash: updatable on a version with
    # answers. checks_hash is "" for a version without checks (see FrameworkSpec.checks_hash).
    evidence_policy = models.CharField(
        max_length=8, choices=EvidencePolicy.choices, default=EvidencePolicy.REPORT
    )
    checks_hash = models.CharField(max_length=64, blank=True)
    loaded_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["slug", "version"], name="framework_unique_version"),
        ]

    def __str__(self) -> str:
        return f"{self.title} v{self.version}"


class Level(models.Model):
    framework = models.ForeignKey(Framework, on_delete=models.CASCADE, related_name="levels")
    number = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=100)
    threshold = models.FloatField(help_text="Lowest 0-100 score that reaches this level.")
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["framework", "number"]
        constraints = [
            models.UniqueConstraint(fields=["framework", "number"], name="level_unique_number"),
            models.CheckConstraint(
                condition=Q(threshold__gte=0) & Q(threshold__lte=100), name="level_threshold_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"


class Dimension(models.Model):
    framework = models.ForeignKey(Framework, on_delete=models.CASCADE, related_name="dimensions")
    key = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    weight = models.FloatField(default=1.0)
    order = models.PositiveIntegerField()
    seed_refs = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["framework", "order"]
        constraints = [
            models.UniqueConstraint(fields=["framework", "key"], name="dimension_unique_key"),
            models.CheckConstraint(condition=Q(weight__gt=0), name="dimension_weight_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class Scope(models.TextChoices):
    """Who answers a question (see ``surveys.selectors.asked_questions``)."""

    TEAM = "team", "Every team"
    PLATFORM = "platform", "The platform (parent) team"
    ORG = "org", "The organisation (root team)"


class Question(models.Model):
    # Denormalised from the dimension so that keys are unique per framework in the database.
    framework = models.ForeignKey(Framework, on_delete=models.CASCADE, related_name="questions")
    dimension = models.ForeignKey(Dimension, on_delete=models.CASCADE, related_name="questions")
    key = models.SlugField(max_length=64, help_text="Stable across versions; trends match on it.")
    text = models.TextField()
    guidance = models.TextField(blank=True)
    weight = models.FloatField(default=1.0)
    allow_na = models.BooleanField(default=False)
    order = models.PositiveIntegerField(help_text="Position within the whole framework.")
    # Highest choice score S_q; answers store their score so v = score / max_score in SQL.
    max_score = models.PositiveSmallIntegerField()
    requires = models.JSONField(default=list, blank=True, help_text="Keys of prerequisites.")
    seed_refs = models.JSONField(default=list, blank=True)
    # Version 2 of the content model (issue 15; names shared by YAML, API and database).
    scope = models.CharField(
        max_length=16,
        choices=Scope.choices,
        default=Scope.TEAM,
        help_text="Who answers: every team, or once per platform (parent) team, or the org.",
    )
    applies_when = models.JSONField(
        default=dict,
        blank=True,
        help_text="Team-profile condition, e.g. {'serving': ['online']}; {} applies always.",
    )
    refs = models.JSONField(default=list, blank=True, help_text="Ids in the anchor standards.")
    why = models.TextField(blank=True, help_text="Why the practice matters, with its source.")
    replaces = models.JSONField(
        default=list, blank=True, help_text="Keys of earlier versions this question continues."
    )
    checks = models.JSONField(
        default=list,
        blank=True,
        help_text="Evidence checks (issue 16): id, title, rule, supports, contradicts, fresh_days.",
    )

    class Meta:
        ordering = ["framework", "order"]
        constraints = [
            models.UniqueConstraint(fields=["framework", "key"], name="question_unique_key"),
            models.CheckConstraint(condition=Q(weight__gt=0), name="question_weight_positive"),
            models.CheckConstraint(condition=Q(max_score__gt=0), name="question_max_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.text[:60]}"


class Choice(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="choices")
    score = models.PositiveSmallIntegerField()
    label = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    next_step = models.TextField(
        blank=True, help_text="The concrete action that moves a team to the next choice."
    )
    evidence = models.TextField(
        blank=True, help_text="What an observer would look at to confirm this level."
    )

    class Meta:
        ordering = ["question", "score"]
        constraints = [
            models.UniqueConstraint(fields=["question", "score"], name="choice_unique_score"),
        ]

    def __str__(self) -> str:
        return f"{self.score} {self.label}"
