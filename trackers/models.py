"""Issue trackers (issue 19): where a team's improvement actions become issues, and the
link from each pushed action to its issue.

A connection (GitHub, GitLab or Jira Cloud) applies to its team and every team below it;
one without a team applies to all teams; for a given team the nearest one wins
(selectors.connection_for). Its token and webhook secret are stored encrypted
(trackers.crypto): the ``*_encrypted`` columns never hold a plaintext.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from actions.models import Action
from surveys.models import Team


class TrackerConnection(models.Model):
    class Provider(models.TextChoices):
        GITHUB = "github", "GitHub"
        GITLAB = "gitlab", "GitLab"
        JIRA = "jira", "Jira"

    # In the webhook URL (/trackers/webhooks/<public_id>/): not guessable, unlike the pk.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    provider = models.CharField(max_length=16, choices=Provider.choices)
    name = models.CharField(max_length=100)
    base_url = models.URLField(
        max_length=300,
        help_text="The tracker's API root: https://api.github.com, https://gitlab.com/api/v4 "
        "or https://<site>.atlassian.net.",
    )
    target = models.CharField(
        max_length=200,
        help_text="GitHub: owner/repository. GitLab: the project's id or path "
        "(group/project). Jira: the project key.",
    )
    issue_type = models.CharField(max_length=60, blank=True, help_text="Jira only.")
    email = models.EmailField(blank=True, help_text="Jira only: the API token's account.")
    token_encrypted = models.TextField()
    webhook_secret_encrypted = models.TextField()
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="tracker_connections",
        help_text="Applies to this team and the teams below it; empty: to every team.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # Set from the tracker's Retry-After / rate-limit reset: nothing is sent before it.
    paused_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            # One connection per team, and one for all teams (no team: 0).
            models.UniqueConstraint(
                Coalesce("team", Value(0), output_field=models.BigIntegerField()),
                name="tracker_connection_one_per_team",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_provider_display()})"


class TrackerLink(models.Model):
    """An action pushed to a tracker: the issue it became, and its last known state."""

    class Status(models.TextChoices):
        PENDING = "pending", "Being pushed"
        LINKED = "linked", "Linked"
        BROKEN = "broken", "Broken: the issue is gone"

    action = models.OneToOneField(Action, on_delete=models.CASCADE, related_name="tracker_link")
    connection = models.ForeignKey(
        TrackerConnection, on_delete=models.CASCADE, related_name="links"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # Where the issue lives, as the push found it: GitHub owner/repo, GitLab project id, Jira
    # project key. Reads use it, so editing the connection's target later cannot make a
    # link read another repository's issue of the same number.
    target = models.CharField(max_length=200, blank=True)
    external_id = models.CharField(max_length=64, blank=True)
    # What people call it: the GitHub number or GitLab iid ("12"), the Jira key ("OPS-7").
    external_key = models.CharField(max_length=64, blank=True)
    url = models.URLField(max_length=500, blank=True)
    external_state = models.CharField(max_length=64, blank=True)
    # The action status the sync last set ("" if none): a reopened issue reopens the action
    # only while it still has that status (a person's later decision wins).
    synced_status = models.CharField(max_length=16, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # When the push that made this link started (a pending link is taken over when stale).
    claimed_at = models.DateTimeField(default=timezone.now)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["connection", "status"], name="tracker_link_conn_status")]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "external_id"],
                condition=~Q(external_id=""),
                name="tracker_link_one_per_issue",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action_id} -> {self.display_key or self.get_status_display()}"

    @property
    def display_key(self) -> str:
        """The issue as people write it: "#12" on GitHub and GitLab, "OPS-7" on Jira."""
        if not self.external_key:
            return ""
        return self.external_key if not self.external_key.isdigit() else f"#{self.external_key}"
