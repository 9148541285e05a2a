"""Campaigns: an organisation-wide maturity goal with a deadline, and its stored progress.

A campaign asks every team under a parent team to reach a goal by a due date. The goal is
one of two kinds (a database check constraint holds exactly one):

- a **dimension** (by key) at a minimum maturity level (``dimension_key``, ``min_level``);
- a **question** (by key) at a minimum choice score (``question_key``, ``min_choice``).

``framework`` is the framework version the goal was checked against when it was set: its
levels and the question's choices bound the minimum, and a question goal is matched to the
questions of rounds on other versions from it (``replaces``, maturity.selectors.
question_matches). Dimensions match by key in every version.

Which teams a campaign covers, and what counts as meeting it, is campaigns.selectors'
business (``campaign_team_ids``); progress is computed from the stored scores by
``reports.campaign_progress`` (which the layers put above this app) and stored here:
``CampaignTeamStatus`` (each team's current status) and ``CampaignProgress`` (a snapshot as
of each round, for the burn-up).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from maturity.models import Framework
from surveys.models import Survey, Team


class Campaign(models.Model):
    class GoalKind(models.TextChoices):
        DIMENSION = "dimension", "A dimension at a minimum level"
        QUESTION = "question", "A question at a minimum choice"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=5000)
    parent = models.ForeignKey(
        Team,
        on_delete=models.PROTECT,
        related_name="campaigns",
        help_text="Every team under it takes part (campaigns.selectors.campaign_team_ids).",
    )
    framework = models.ForeignKey(
        Framework,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The framework version the goal's key and minimum were checked against.",
    )
    dimension_key = models.SlugField(max_length=64, blank=True)
    min_level = models.PositiveSmallIntegerField(null=True, blank=True)
    question_key = models.SlugField(max_length=64, blank=True)
    min_choice = models.PositiveSmallIntegerField(null=True, blank=True)
    due = models.DateField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    # When campaign.deadline_near was published (once; a new due date clears it).
    deadline_notified_at = models.DateTimeField(null=True, blank=True)
    # When reports.campaign_progress last stored this campaign's progress (null: never).
    progress_computed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due", "pk"]
        indexes = [models.Index(fields=["archived_at", "due"], name="campaign_active_due")]
        constraints = [
            models.CheckConstraint(
                condition=(
                    ~Q(dimension_key="")
                    & Q(min_level__isnull=False)
                    & Q(question_key="")
                    & Q(min_choice__isnull=True)
                )
                | (
                    Q(dimension_key="")
                    & Q(min_level__isnull=True)
                    & ~Q(question_key="")
                    & Q(min_choice__isnull=False)
                ),
                name="campaign_one_goal_kind",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def goal_kind(self) -> str:
        """``dimension`` or ``question``."""
        return self.GoalKind.DIMENSION if self.dimension_key else self.GoalKind.QUESTION

    @property
    def goal_key(self) -> str:
        """The dimension's or the question's key."""
        return self.dimension_key or self.question_key

    @property
    def goal_minimum(self) -> int:
        """The minimum level (dimension goals) or choice score (question goals)."""
        minimum = self.min_level if self.dimension_key else self.min_choice
        return int(minimum or 0)

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class CampaignTeamStatus(models.Model):
    """A team's current standing in a campaign, from its latest shown scored round that has
    the goal's dimension or question (reports.campaign_progress).

    ``value`` is the team's level in the dimension, or its choice on the question (on the
    goal question's scale), in round ``survey``; ``gap`` how many levels or choices it is
    short (0 when meeting). Both are null unless the status is meeting or not meeting: a
    team whose results are withheld (an anonymous round) never has its level stored here.
    """

    class Status(models.TextChoices):
        MEETING = "meeting", "Meets the goal"
        NOT_MEETING = "not_meeting", "Does not meet the goal yet"
        NOT_ASSESSED = "not_assessed", "Not yet assessed"
        WITHHELD = "withheld", "Not yet assessed (results withheld)"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="team_statuses")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="campaign_statuses")
    status = models.CharField(max_length=16, choices=Status.choices)
    value = models.PositiveSmallIntegerField(null=True, blank=True)
    gap = models.PositiveSmallIntegerField(null=True, blank=True)
    survey = models.ForeignKey(
        Survey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["campaign", "team__name"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "team"], name="campaign_team_unique"),
            models.CheckConstraint(
                condition=Q(status__in=["meeting", "not_meeting", "not_assessed", "withheld"]),
                name="campaign_team_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["meeting", "not_meeting"])
                | (Q(value__isnull=True) & Q(gap__isnull=True)),
                name="campaign_team_value_only_when_assessed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.team_id} in campaign {self.campaign_id}: {self.status}"


class CampaignProgress(models.Model):
    """The campaign as it stood after one round (a point of the burn-up): each team's
    status from its latest shown result in that round or an earlier one.

    ``statuses`` maps each team id (as text: JSON keys are text) to ``[status, survey id
    or null]`` (the round the status comes from), so that a reader who may see only some
    teams gets a burn-up of those. ``not_assessed`` counts every team without a shown
    result, ``withheld`` those of them whose only results are withheld; so ``meeting +
    not_meeting + not_assessed`` is the number of teams.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="progress")
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="+")
    computed_at = models.DateTimeField()
    meeting = models.PositiveIntegerField(default=0)
    not_meeting = models.PositiveIntegerField(default=0)
    not_assessed = models.PositiveIntegerField(default=0)
    withheld = models.PositiveIntegerField(default=0)
    statuses = models.JSONField(default=dict)

    class Meta:
        ordering = ["campaign", "survey__opens_at", "survey_id"]
        verbose_name_plural = "campaign progress"
        constraints = [
            models.UniqueConstraint(fields=["campaign", "survey"], name="campaign_progress_unique"),
        ]

    def __str__(self) -> str:
        return f"Campaign {self.campaign_id} after round {self.survey_id}: {self.meeting} meeting"

    @property
    def total(self) -> int:
        return self.meeting + self.not_meeting + self.not_assessed
