"""Persisted results of aggregation: one snapshot per (survey, team), replaced as a whole.

Reports and exports read these rows; nothing recomputes scores on a page view.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.db import models
from django.db.models import Q

from maturity.models import Dimension, Question
from surveys.models import Survey, Team


class TeamScore(models.Model):
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="team_scores")
    # PROTECT: published scores are history; a team that was scored is archived, not deleted.
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="team_scores")
    score = models.FloatField(null=True, help_text="Overall 0-100; null when nothing answered.")
    level = models.PositiveSmallIntegerField(null=True, help_text="Weakest dimension's level.")
    weakest_dimension = models.ForeignKey(
        Dimension, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    n_respondents = models.PositiveIntegerField(default=0)
    # A parent team's roll-up: its children's answers pooled (it takes no survey itself).
    is_rollup = models.BooleanField(default=False)
    computed_at = models.DateTimeField()
    # Input watermark: what the run read of the counted responses: the newest submission,
    # their number and the sum of their ids (so a withdrawal or a deletion, which can lower
    # the other two, still changes it). A run persists only if the input it read is still
    # the current input (see reports.services._persist).
    watermark_at = models.DateTimeField(null=True)
    watermark_count = models.PositiveIntegerField(default=0)
    watermark_checksum = models.BigIntegerField(default=0)
    # Bumped by every write of the snapshot: the version of cached API pages of scores.
    revision = models.PositiveBigIntegerField(default=0)
    # Framework v2 (issue 15): questions the team's profile puts out of scope, and the
    # don't-know answers to the questions it is asked (knowledge gaps; never scored). The
    # count columns have database defaults, so that code that does not know them (a worker
    # of the previous release during a deploy) can still write snapshots.
    out_of_scope_count = models.PositiveIntegerField(default=0, db_default=0)
    dont_know_count = models.PositiveIntegerField(default=0, db_default=0)
    # Hash of the question ids the team is asked that its responses' per-response dimension
    # scores (surveys.ResponseDimensionScore) were recorded for; when the team's plan
    # changes (a profile change mid-round), aggregation records them again. Null: unknown.
    asked_fingerprint = models.BigIntegerField(null=True, blank=True)
    # Evidence (issue 16): questions with checks the team answered, and how many of those
    # its repositories confirm or contradict; how many scores the cap policy lowered.
    evidence_checked = models.PositiveIntegerField(default=0, db_default=0)
    evidence_confirmed = models.PositiveIntegerField(default=0, db_default=0)
    evidence_contradicted = models.PositiveIntegerField(default=0, db_default=0)
    evidence_capped = models.PositiveIntegerField(default=0, db_default=0)

    class Meta:
        ordering = ["survey", "team"]
        constraints = [
            models.UniqueConstraint(fields=["survey", "team"], name="teamscore_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.team} in {self.survey}: {self.score}"


class DimensionScore(models.Model):
    # db_index=False on team_score: the unique constraint below starts with it.
    team_score = models.ForeignKey(
        TeamScore, on_delete=models.CASCADE, related_name="dimensions", db_index=False
    )
    # No database constraint: snapshot rows are written in bulk by one writer and point at
    # framework rows that never change once answered; the check costs a third of a
    # survey-wide run (BENCHMARKS.md).
    dimension = models.ForeignKey(
        Dimension, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    score = models.FloatField()
    level = models.PositiveSmallIntegerField()
    disagreement = models.FloatField(null=True)
    answered_ratio = models.FloatField()
    interval_low = models.FloatField(null=True)
    interval_high = models.FloatField(null=True)
    n_answers = models.PositiveIntegerField()
    # Don't-know answers to the dimension's questions that the team is asked.
    dont_know_count = models.PositiveIntegerField(default=0, db_default=0)

    class Meta:
        ordering = ["team_score", "dimension__order"]
        constraints = [
            models.UniqueConstraint(fields=["team_score", "dimension"], name="dimscore_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.dimension_id}: {self.score:.1f}"


class QuestionScore(models.Model):
    team_score = models.ForeignKey(
        TeamScore, on_delete=models.CASCADE, related_name="questions", db_index=False
    )
    question = models.ForeignKey(  # no database constraint: see DimensionScore.dimension
        Question, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    n = models.PositiveIntegerField()
    # Null when n = 0: a question answered only "don't know" (its row counts the gap).
    mean = models.FloatField(null=True, help_text="Q(t,q) in [0, 1]; null when n = 0.")
    std = models.FloatField(null=True, help_text="Population std of v; null when n < 2.")
    contested = models.BooleanField(default=False)
    na_count = models.PositiveIntegerField(default=0)
    dont_know_count = models.PositiveIntegerField(default=0, db_default=0)
    distribution = models.JSONField(default=list, help_text="Answer count per choice score.")
    # Evidence (issue 16): confirmed | contradicted | unverified | stale | exempt; empty for
    # a question without checks. ``evidence`` lists the check outcomes behind it (id, title,
    # passed, source, collected_at, fresh, details, facts); ``capped_at`` the choice the
    # framework's cap policy limited the score to (null: not capped).
    verdict = models.CharField(max_length=16, blank=True, default="", db_default="")
    evidence = models.JSONField(default=list, blank=True)
    capped_at = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["team_score", "question__order"]
        constraints = [
            models.UniqueConstraint(fields=["team_score", "question"], name="qscore_unique"),
        ]

    def __str__(self) -> str:
        mean = "no score" if self.mean is None else f"{self.mean:.3f}"
        return f"{self.question_id}: {mean} (n={self.n}, don't know {self.dont_know_count})"


class TeamRecommendation(models.Model):
    team_score = models.ForeignKey(
        TeamScore, on_delete=models.CASCADE, related_name="recommendations", db_index=False
    )
    rank = models.PositiveIntegerField()
    question = models.ForeignKey(  # no database constraint: see DimensionScore.dimension
        Question, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    priority = models.FloatField()
    current_score = models.PositiveSmallIntegerField()
    next_score = models.PositiveSmallIntegerField()
    text = models.TextField()
    requires = models.JSONField(default=list, help_text="Recommended prerequisites (keys).")

    class Meta:
        ordering = ["team_score", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["team_score", "rank"], name="recommendation_rank"),
        ]

    def __str__(self) -> str:
        return f"#{self.rank}: {self.text[:60]}"


class SurveyFigures(models.Model):
    """Survey-wide figures the report pages show beside a team, stored once per change.

    Computed from the survey's snapshots by the aggregation worker after each run that
    wrote scores (reports.services.survey_figures_refresh), and by the first page that
    finds them out of date; pages only read them. ``version`` is the digest of what they
    were computed from (the snapshots' version and the survey's anonymity settings:
    reports.selectors.figures_version), so a page can tell whether they are current.
    Withheld teams and roll-ups are never counted.
    """

    survey = models.OneToOneField(
        Survey, on_delete=models.CASCADE, primary_key=True, related_name="figures"
    )
    version = models.CharField(max_length=64)
    computed_at = models.DateTimeField()
    # {dimension key: median dimension score 0-100}
    dimension_medians = models.JSONField(default=dict)
    # {team id (as text, JSON keys are text): percentile 0-100 of the overall score}
    percentiles = models.JSONField(default=dict)
    # [{"dimension": key, "counts": [teams at level 0, 1, ...]}] in dimension order
    level_counts = models.JSONField(default=list)
    teams_scored = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"Figures of {self.survey_id} ({self.teams_scored} teams)"


class AggregationRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped (newer scores already stored)"
        FAILED = "failed", "Failed"

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="aggregation_runs")
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=32, default="submission")
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    load_ms = models.FloatField(null=True, blank=True)
    score_ms = models.FloatField(null=True, blank=True)
    persist_ms = models.FloatField(null=True, blank=True)
    teams_scored = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-queued_at"]
        indexes = [models.Index(fields=["survey", "team", "-queued_at"], name="run_lookup")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "skipped", "failed"]),
                name="run_status_valid",
            ),
        ]

    def __str__(self) -> str:
        scope = self.team.slug if self.team is not None else "all teams"
        return f"Run {self.pk} of {self.survey_id} ({scope}): {self.status}"


class ApiToken(models.Model):
    """A named API key of one user: only a prefix (for lookup) and a sha256 hash are stored.

    The key is ``<prefix>.<secret>`` with 256 random bits in the secret, so a plain sha256
    is enough (no slow password hash): the key is shown once, by ``create_api_token``.
    """

    name = models.CharField(max_length=100)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) of {self.user}"


class ExportAudit(models.Model):
    """One export, by the API or the command line: who, when, what and how many rows."""

    class Kind(models.TextChoices):
        ANSWERS = "answers", "Answers"
        SCORES = "scores", "Scores"

    class Status(models.TextChoices):
        STARTED = "started", "Started"
        COMPLETED = "completed", "Completed"
        ABORTED = "aborted", "Aborted (client went away or an error)"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Kept when the user is deleted; "cli:<os user>" for the export command.
    actor = models.CharField(max_length=200)
    token = models.ForeignKey(
        ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    via = models.CharField(max_length=8, default="api")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    format = models.CharField(max_length=16)
    filters = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.STARTED)
    row_count = models.PositiveBigIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.kind} export ({self.format}) by {self.actor}"


def export_storage() -> Storage:
    """Return the storage export job files are written to: ``STORAGES["exports"]``
    (the local media directory by default, an S3-compatible bucket when configured)."""
    return storages["exports"]


def export_file_name(instance: ExportJob, filename: str) -> str:
    """Return where a job's file is stored: ``exports/<job id>/<file name>``."""
    return f"exports/{instance.pk}/{filename}"


class ExportJob(models.Model):
    """An export run by a worker into a file (``POST /api/v1/exports/``, issue 17).

    The request is stored as the synchronous endpoints take it (``kind`` and ``params``:
    survey id, team slug, since, format, bom) and validated again by the worker; the file
    is kept until ``expires_at``, then beat deletes it (``status`` becomes ``expired``).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired (file deleted)"

    # Kept when the user is deleted (the job is then an admin's to read, until it expires).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    token = models.ForeignKey(
        ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=ExportAudit.Kind.choices)
    format = models.CharField(max_length=16)
    params = models.JSONField(default=dict, help_text="The export's filters, as requested.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    rows_estimated = models.PositiveBigIntegerField(null=True, blank=True)
    rows_written = models.PositiveBigIntegerField(default=0)
    file = models.FileField(
        storage=export_storage, upload_to=export_file_name, max_length=300, blank=True
    )
    size = models.PositiveBigIntegerField(null=True, blank=True, help_text="Bytes.")
    audit = models.ForeignKey(
        ExportAudit, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # beat's cleanup: done jobs past their expiry
            models.Index(
                fields=["expires_at"], name="exportjob_done_expiry", condition=Q(status="done")
            ),
        ]

    def __str__(self) -> str:
        return f"Export job {self.pk} ({self.kind}, {self.format}): {self.status}"


class QuestionHealth(models.Model):
    """How one question behaved in a survey's counted answers (``maturity.quality``).

    Written by the aggregation worker (``reports.health``), replaced per survey as a whole;
    read by the question-health page and API. ``computed_at`` is when the answers were read.
    """

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="question_health")
    # No database constraint: see DimensionScore.dimension.
    question = models.ForeignKey(
        Question, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    n_answers = models.PositiveIntegerField(help_text="Answers with a choice.")
    na_rate = models.FloatField(help_text="Share of N/A among choice, N/A and don't-know answers.")
    dont_know_rate = models.FloatField(help_text="Share of don't know, likewise.")
    agreement = models.FloatField(
        null=True, help_text="Krippendorff's ordinal alpha within teams; null when undefined."
    )
    agreement_teams = models.PositiveIntegerField(
        default=0, help_text="Teams with at least two choice answers (the alpha's units)."
    )
    top_share = models.FloatField(null=True, help_text="Share of the most chosen choice.")
    item_rest = models.FloatField(
        null=True, help_text="Pearson's r with the mean of the dimension's other questions."
    )
    flags = models.JSONField(default=list, help_text="Any of ambiguous, uninformative, unknown.")
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["survey", "question__order"]
        constraints = [
            models.UniqueConstraint(fields=["survey", "question"], name="qhealth_unique"),
        ]
        verbose_name_plural = "question health"

    def __str__(self) -> str:
        return f"{self.question_id} in {self.survey_id}: {', '.join(self.flags) or 'ok'}"


class DimensionHealth(models.Model):
    """A dimension's internal consistency in a survey's counted answers: Cronbach's alpha
    over the respondents who answered all its questions with a choice (``maturity.quality``).
    """

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="dimension_health")
    dimension = models.ForeignKey(
        Dimension, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    questions = models.PositiveIntegerField(help_text="Questions of the dimension answered.")
    n_complete = models.PositiveIntegerField(
        help_text="Respondents who answered every one of them with a choice."
    )
    cronbach_alpha = models.FloatField(null=True, help_text="Null when undefined.")
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["survey", "dimension__order"]
        constraints = [
            models.UniqueConstraint(fields=["survey", "dimension"], name="dhealth_unique"),
        ]
        verbose_name_plural = "dimension health"

    def __str__(self) -> str:
        return f"{self.dimension_id} in {self.survey_id}: alpha {self.cronbach_alpha}"
