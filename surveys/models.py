"""Teams, survey campaigns, invitations, responses and answers.

A respondent is identified by ``Response.respondent_key``:

- ``u:<user id>``: a signed-in member in a named survey;
- ``h:<keyed hash>``: a signed-in member in an anonymous (confidential) survey, a keyed hash of
  (survey, user) that nobody without the server's secret can link to the user;
- ``l:<keyed hash>``: a person answering through an administrator's personal invitation link
  in an anonymous survey, a keyed hash of (survey, team, invitee address);
- ``x:<keyed hash>``: an admin's import on behalf of an external id in an anonymous survey;
- ``a:<random>``: a respondent of an anonymous shareable link (links no longer offered; kept
  for responses made before);
- ``e:<random>``: a response whose respondent was erased (``manage.py erase_person``).

Each respondent has at most one draft and one submitted (counted) response per survey and
team; a resubmission marks the earlier one ``superseded``. A counted response is never
deleted: an admin withdraws it (``withdrawn``, with who, when and why), and the team is
re-scored.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from maturity.models import Dimension, Framework, Question

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class Team(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    members: models.ManyToManyField[User, Membership] = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="teams"
    )
    # Changes with a rename or a move. The newest of all teams' is part of the version of
    # cached score pages (indexed: read on every page view, see reports.selectors).
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    members_track_actions = models.BooleanField(
        default=False,
        db_default=False,
        help_text="Members (not only managers) may create and change the team's actions.",
    )
    # A team that took part in a round is archived, never deleted (its responses and scores
    # are history); archived teams cannot join new surveys.
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        # The programme lead's role (surveys.selectors.runs_programme): the console without
        # being Django staff. Granted to a user or a group in the admin.
        permissions = [
            ("run_programme", "Can run the programme from the console (teams, memberships)")
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        MANAGER = "manager", "Manager"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")

    class Source(models.TextChoices):
        MANUAL = "manual", "Added by a lead, an import or an invitation"
        SSO = "sso", "From a single sign-on group"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)
    # sso: made by the group -> team mapping at sign-in (accounts.oidc), which also removes
    # it when the group is gone; it never touches the others.
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.MANUAL)

    class Meta:
        ordering = ["team", "user"]
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="membership_unique"),
            models.CheckConstraint(
                condition=Q(role__in=["member", "manager"]), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class Survey(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    framework = models.ForeignKey(Framework, on_delete=models.PROTECT, related_name="surveys")
    teams = models.ManyToManyField(Team, related_name="surveys")
    opens_at = models.DateTimeField(default=timezone.now)
    closes_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    anonymous = models.BooleanField(
        default=False, help_text="Respondents are not identified; small groups are withheld."
    )
    min_group_size = models.PositiveSmallIntegerField(
        default=3, help_text="In anonymous surveys, teams with fewer respondents are withheld."
    )
    members_see_results = models.BooleanField(
        default=True, help_text="Team members (not only managers) may read their team's report."
    )
    # Named rounds: a respondent's new draft starts from their previous round's submitted
    # answers (surveys.services.carry_forward), each page to confirm.
    carry_forward = models.BooleanField(
        default=True,
        help_text="Prefill each respondent's answers from their previous submitted response "
        "(named rounds); they confirm each page.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # When the survey was actually closed (by hand, or by beat at closes_at); cleared when
    # it reopens. A survey closed early shows this, not a closes_at still in the future.
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opens_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["draft", "open", "closed"]), name="survey_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(closes_at__isnull=True) | Q(closes_at__gt=F("opens_at")),
                name="survey_closes_after_opening",
            ),
            models.CheckConstraint(condition=Q(min_group_size__gte=1), name="survey_min_group"),
        ]

    def __str__(self) -> str:
        return self.title

    def accepts_answers(self, now: datetime | None = None) -> bool:
        """Tell whether answers may be saved: open, and within opens_at/closes_at."""
        now = now or timezone.now()
        return (
            self.status == self.Status.OPEN
            and self.opens_at <= now
            and (self.closes_at is None or now < self.closes_at)
        )

    @property
    def ended_at(self) -> datetime | None:
        """Return when the survey stopped taking answers, if known: when it was closed, else
        its closes_at once that has passed. None while it takes answers, and for a survey
        closed without a record of when (never a closes_at still in the future)."""
        planned_end_passed = self.closes_at is not None and self.closes_at <= timezone.now()
        if self.status == self.Status.CLOSED and self.closed_at is not None:
            return self.closed_at
        return self.closes_at if planned_end_passed else None


class Invitation(models.Model):
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="invitations")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    # sha256 of the secret token; the token itself is shown once and never stored.
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    max_uses = models.PositiveIntegerField(null=True, blank=True)
    uses = models.PositiveIntegerField(default=0)
    revoked = models.BooleanField(default=False)
    # Anonymous surveys only: the respondent key this personal invitation answers as, a keyed
    # hash of (survey, team, invitee address); the address itself is not stored. Every
    # invitation to one address shares it, so one address is one respondent.
    invitee_key = models.CharField(max_length=80, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_uses__isnull=True) | Q(uses__lte=F("max_uses")),
                name="invitation_uses_within_limit",
            ),
        ]

    def __str__(self) -> str:
        return f"Invitation to {self.survey} for {self.team}"


class Response(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted"
        SUPERSEDED = "superseded", "Superseded"
        WITHDRAWN = "withdrawn", "Withdrawn"

    # No index of its own: response_survey_team_status and the constraints' indexes lead
    # with survey_id, and every submission would update one more index. PROTECT: a round's
    # responses are history; deleting its survey or team must not remove them (archive the
    # team, withdraw a response).
    survey = models.ForeignKey(
        Survey, on_delete=models.PROTECT, related_name="responses", db_index=False
    )
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="responses")
    respondent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="responses",
    )
    respondent_key = models.CharField(max_length=80)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    started_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    # sha256 of the request the idempotency key came with: the same key with another body
    # is refused (422 idempotency_key_reused), not answered with the first result.
    idempotency_fingerprint = models.CharField(max_length=64, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    withdrawn_reason = models.TextField(blank=True)
    # Where the respondent stopped (dimension key), so they resume there on any device.
    last_dimension = models.CharField(max_length=64, blank=True)

    # Not a column: how many answers a submission just stored, set on the response it
    # returns (surveys.services) so that the API need not count them again. Other Response
    # instances lack it: read it with getattr and a default.
    answer_count: int

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["survey", "team", "status"], name="response_survey_team_status"),
            models.Index(fields=["survey", "submitted_at"], name="response_survey_submitted"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["draft", "submitted", "superseded", "withdrawn"]),
                name="response_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status="withdrawn", withdrawn_at__isnull=False)
                | (~Q(status="withdrawn") & Q(withdrawn_at__isnull=True)),
                name="response_withdrawn_at_iff_withdrawn",
            ),
            models.CheckConstraint(
                condition=Q(status="draft", submitted_at__isnull=True)
                | (~Q(status="draft") & Q(submitted_at__isnull=False)),
                name="response_submitted_at_iff_submitted",
            ),
            models.UniqueConstraint(
                fields=["survey", "team", "respondent_key"],
                condition=Q(status="submitted"),
                name="response_one_counted_per_respondent",
            ),
            models.UniqueConstraint(
                fields=["survey", "team", "respondent_key"],
                condition=Q(status="draft"),
                name="response_one_draft_per_respondent",
            ),
            models.UniqueConstraint(
                fields=["survey", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="response_unique_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"Response {self.pk} ({self.status}) to {self.survey} for {self.team}"


class Answer(models.Model):
    """One answer: a choice score, or N/A. The choice is (question, score) of maturity.Choice.

    A draft may hold a comment before a choice is made (score null, na false); submission
    requires every question to have a score or N/A.

    The database enforces that the score is one of the question's choices (a composite
    foreign key on PostgreSQL, triggers on SQLite; see migration 0002).
    """

    # No index of its own: answer_unique leads with response_id, and a submission inserts
    # 50 answers into every index.
    response = models.ForeignKey(
        Response, on_delete=models.CASCADE, related_name="answers", db_index=False
    )
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="answers")
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    na = models.BooleanField(default=False)
    # "Don't know": the respondent cannot see what the question asks. Not scored, counted as
    # a knowledge gap (distinct from N/A, which says the practice does not apply).
    # db_default: the single-statement PostgreSQL write (COPY) may leave the column out.
    dont_know = models.BooleanField(default=False, db_default=False)
    comment = models.TextField(blank=True, max_length=5000)
    updated_at = models.DateTimeField(auto_now=True)
    # Carry-forward: ``carried`` while the answer is the one copied from the respondent's
    # previous round (cleared when they change it); ``prefilled`` until they confirm its
    # page. A draft with prefilled answers cannot be submitted.
    carried = models.BooleanField(default=False, db_default=False)
    prefilled = models.BooleanField(default=False, db_default=False)

    class Meta:
        ordering = ["response", "question__order"]
        constraints = [
            models.UniqueConstraint(fields=["response", "question"], name="answer_unique"),
            # N/A has no score; neither N/A nor a score is a draft note still unanswered.
            models.CheckConstraint(
                condition=~Q(na=True, score__isnull=False), name="answer_na_has_no_score"
            ),
            # "Don't know" is neither a score nor N/A.
            models.CheckConstraint(
                condition=~Q(dont_know=True, score__isnull=False) & ~Q(dont_know=True, na=True),
                name="answer_dont_know_alone",
            ),
        ]

    def __str__(self) -> str:
        if self.dont_know:
            return f"{self.question.key}: don't know"
        return f"{self.question.key}: {'N/A' if self.na else self.score}"


class ResponseDimensionScore(models.Model):
    """A counted response's score in one dimension: 100 x the weighted mean of its answered
    questions there (``v = score / max_score``, question weights); N/A answers never count.
    Every counted response has a row in every dimension it was asked (see
    ``reports.services.record_response_dimension_scores``).

    These per-respondent scores feed the 90% intervals. Aggregation writes them the first
    time it reads a submitted response (a submitted response never changes), so a run reads
    one row per (response, dimension) instead of reducing every answer again.
    """

    pk = models.CompositePrimaryKey("response", "dimension")
    # db_index=False: the primary key starts with the response. No database constraints
    # (issue 17): rows are derived data written in bulk by one statement that reads the
    # responses and dimensions it points at, which are never deleted while a round has
    # answers (a deleted response still takes its rows along: Django cascades). Checking
    # both keys of every row cost as much as computing the rows in a cold survey-wide run
    # (BENCHMARKS.md, "Cold start").
    response = models.ForeignKey(
        Response,
        on_delete=models.CASCADE,
        related_name="dimension_scores",
        db_index=False,
        db_constraint=False,
    )
    dimension = models.ForeignKey(
        Dimension, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    # Null when the response answered every question of the dimension N/A.
    score = models.FloatField(null=True)

    def __str__(self) -> str:
        return f"{self.response_id} {self.dimension_id}: {self.score}"


class TeamProfile(models.Model):
    """What a team declares about its ML work in one round; a question's ``applies_when``
    is matched against it (``maturity.schema.AppliesWhen.matches``), so questions that do
    not apply are neither shown nor scored.

    Set by a manager of the team (or an admin), or proposed by its first respondent and then
    confirmed by a manager: ``confirmed_at`` is null while it is only a proposal. Field
    values are those of ``maturity.schema.TeamProfile`` (issue 15).
    """

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="profiles")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="profiles")
    serving = models.JSONField(
        default=list, blank=True, help_text="Any of none, batch, online, streaming, edge."
    )
    model_kinds = models.JSONField(
        default=list,
        blank=True,
        help_text="Any of classical, deep-learning, llm-api, llm-fine-tuned, agents.",
    )
    gpu = models.BooleanField(default=False, help_text="Trains or serves on accelerators.")
    regulated = models.BooleanField(default=False, help_text="A regulated or high-risk domain.")
    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["survey", "team"]
        constraints = [
            models.UniqueConstraint(fields=["survey", "team"], name="profile_unique"),
        ]

    def __str__(self) -> str:
        return f"Profile of {self.team} in {self.survey}"


class DimensionTarget(models.Model):
    """The maturity level a team aims for in a dimension; it lifts that dimension's
    recommendations in the team's roadmap while the team is below it.

    Keyed by dimension key, so a target carries over to later framework versions.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="targets")
    dimension_key = models.SlugField(max_length=64)
    target_level = models.PositiveSmallIntegerField()
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["team", "dimension_key"]
        constraints = [
            models.UniqueConstraint(fields=["team", "dimension_key"], name="target_unique"),
            models.CheckConstraint(condition=Q(target_level__lte=10), name="target_level_range"),
        ]

    def __str__(self) -> str:
        return f"{self.team}: {self.dimension_key} -> {self.target_level}"


class Reminder(models.Model):
    """A reminder e-mail sent to a member who had not submitted.

    ``automatic``: beat's, N days before the close, at most one per person and survey;
    ``manual``: a lead's "send a reminder now" (``sent_by``), at most one round of them per
    survey in REMINDER_MANUAL_INTERVAL_HOURS (surveys.services.reminders_send_now).
    """

    class Kind(models.TextChoices):
        AUTOMATIC = "automatic", "Automatic"
        MANUAL = "manual", "Sent by a lead"

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="reminders")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    sent_at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.AUTOMATIC)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "user"],
                condition=Q(kind="automatic"),
                name="reminder_automatic_once_per_survey",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["automatic", "manual"]), name="reminder_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Reminder to {self.user} for {self.survey}"


class ResultsNotice(models.Model):
    """The e-mail telling a person their team's results of a round are ready: once per
    person and round (surveys.services.results_notify)."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="results_notices")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["survey", "user"], name="results_notice_once"),
        ]

    def __str__(self) -> str:
        return f"Results of {self.survey} to {self.user}"


class Erasure(models.Model):
    """A personal-data erasure (GDPR art. 17) carried out by ``surveys.services.person_erase``.

    Records what was done without naming the person: their account is gone, their
    responses keep their numbers under a random respondent key, unless withdrawn.
    """

    performed_by = models.CharField(max_length=200, help_text="Who ran it (username or cli:).")
    performed_at = models.DateTimeField(default=timezone.now)
    responses_unlinked = models.PositiveIntegerField(default=0)
    responses_withdrawn = models.PositiveIntegerField(default=0)
    drafts_deleted = models.PositiveIntegerField(default=0)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-performed_at"]

    def __str__(self) -> str:
        return f"Erasure {self.pk} by {self.performed_by} at {self.performed_at:%Y-%m-%d %H:%M}"
