"""Improvement actions: a roadmap item a team commits to, tracked until the next round
verifies it.

An action belongs to a team, not to a round: it is created from the roadmap of one round
(``survey``, the question of that round's framework version) and stays on the team's
reports in later rounds until it is closed. When a later round of the team is scored, a
``done`` action is checked against it (reports.action_verification): ``verified`` when the
team's choice on the question (matched across versions by key and ``replaces``) moved up
at least one choice from ``baseline_score``, else ``not_reflected``.
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from maturity.models import Question
from surveys.models import Survey, Team


class Action(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"
        WONT_DO = "wont_do", "Won't do"

    class Verification(models.TextChoices):
        PENDING = "", "Not yet checked"
        VERIFIED = "verified", "Verified by a later round"
        NOT_REFLECTED = "not_reflected", "Not reflected in a later round"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="actions")
    survey = models.ForeignKey(
        Survey,
        on_delete=models.PROTECT,
        related_name="actions",
        help_text="The round whose roadmap the action came from.",
    )
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="actions")
    title = models.CharField(max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_actions",
    )
    due = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    wont_do_reason = models.TextField(blank=True, max_length=2000)
    notes = models.TextField(blank=True, max_length=10000)
    external_url = models.URLField(blank=True, max_length=500)
    baseline_score = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="The team's choice score on the question in the round it came from.",
    )
    verification = models.CharField(
        max_length=16, choices=Verification.choices, blank=True, default=Verification.PENDING
    )
    verified_survey = models.ForeignKey(
        Survey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verified_score = models.PositiveSmallIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    done_at = models.DateTimeField(null=True, blank=True)
    overdue_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["team", "due", "pk"]
        indexes = [
            models.Index(fields=["team", "status"], name="action_team_status"),
            models.Index(fields=["status", "due"], name="action_status_due"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="wont_do") | ~Q(wont_do_reason=""),
                name="action_wont_do_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.team}: {self.title}"

    def is_overdue(self, today: date | None = None) -> bool:
        """Whether the action is still open (or in progress) after its due date."""
        if self.due is None or self.status not in (self.Status.OPEN, self.Status.IN_PROGRESS):
            return False
        return self.due < (today or timezone.localdate())
