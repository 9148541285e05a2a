"""Evidence behind the answers: snapshots of a team's repositories, the facts collectors
derived from them, check results, exemptions and team-scoped upload tokens.

Content is addressed by the sha256 of its normalised manifest (maturity.evidence.snapshot):
facts (per collector version) and check results (per framework version and checks hash)
are stored once per content, however many times or by whichever team it is uploaded, which
makes collection and evaluation idempotent per (snapshot sha256, collector version,
framework version). A ``Snapshot`` is one upload: which team, which repository ("source"),
when; the verdicts of a round read, per source, the team's newest snapshot received by the
round's reference time (its close, or now while it is open).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from maturity.models import Framework
from surveys.models import Team


class SnapshotContent(models.Model):
    """A normalised manifest: every path with its sha256 and size, and the contents of the
    small configuration files that are kept (never source code)."""

    sha256 = models.CharField(max_length=64, unique=True)
    manifest = models.JSONField(help_text="maturity-evidence/1 manifest, canonical form.")
    n_files = models.PositiveIntegerField()
    n_kept = models.PositiveIntegerField()
    total_size = models.PositiveBigIntegerField(help_text="Bytes of all files listed.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.sha256[:12]


class EvidenceToken(models.Model):
    """A team-scoped token: it can upload evidence for its team and nothing else.

    The key is ``mte_<prefix>.<secret>``; only the prefix and the sha256 of the key are
    stored, the key is shown once (as reports.models.ApiToken).
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="evidence_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["team", "name"]

    def __str__(self) -> str:
        return f"{self.team.slug}: {self.name} (mte_{self.prefix}…)"


class Snapshot(models.Model):
    """One upload of one repository's evidence for a team."""

    class Kind(models.TextChoices):
        ARCHIVE = "archive", "git archive (tar.gz)"
        MANIFEST = "manifest", "manifest (JSON)"
        CHECKOUT = "checkout", "local checkout (manage.py evidence_collect)"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        COLLECTED = "collected", "Collected"
        FAILED = "failed", "Failed"

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="evidence_snapshots")
    source = models.CharField(
        max_length=100, default="default", help_text="The repository this snapshot is of."
    )
    content = models.ForeignKey(SnapshotContent, on_delete=models.PROTECT, related_name="snapshots")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    commit = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField(db_index=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    token = models.ForeignKey(
        EvidenceToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="snapshots"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["team", "source", "-received_at"])]

    def __str__(self) -> str:
        return f"{self.team.slug}/{self.source} {self.received_at:%Y-%m-%d %H:%M}"


class FactSet(models.Model):
    """The facts one collector (at one version) derived from one content."""

    content = models.ForeignKey(SnapshotContent, on_delete=models.CASCADE, related_name="fact_sets")
    collector = models.CharField(max_length=64)
    version = models.CharField(max_length=32)
    facts = models.JSONField(default=dict)
    problems = models.JSONField(default=list, help_text="Files the collector could not read.")
    collected_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["content", "collector", "version"], name="evidence_factset_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.collector} {self.version} on {self.content}"


class CheckResult(models.Model):
    """The outcome of one check of one framework version on one content.

    ``passed`` is None when the rule could not be decided (a fact it reads is absent).
    ``signature`` identifies the collector versions and the checks the result came from;
    results are replaced when either changes.
    """

    content = models.ForeignKey(
        SnapshotContent, on_delete=models.CASCADE, related_name="check_results"
    )
    framework = models.ForeignKey(Framework, on_delete=models.CASCADE, related_name="+")
    question_key = models.CharField(max_length=64)
    check_id = models.CharField(max_length=64)
    passed = models.BooleanField(null=True)
    details = models.JSONField(default=list)
    facts = models.JSONField(default=dict)
    signature = models.CharField(max_length=64)
    evaluated_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["content", "framework", "question_key", "check_id"],
                name="evidence_checkresult_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.question_key}/{self.check_id} on {self.content}: {self.passed}"


class Exemption(models.Model):
    """A team is exempt from the checks of one question until ``expires_at``, with a reason
    and an approver; every change is in the audit log (django-auditlog)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="evidence_exemptions")
    question_key = models.CharField(
        max_length=64, help_text="Question key; keys are stable across framework versions."
    )
    reason = models.TextField()
    # Null once the approver's personal data is erased (manage.py erase_person); the audit
    # log keeps the grant itself.
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["team", "question_key", "-expires_at"]

    def __str__(self) -> str:
        return f"{self.team.slug}: {self.question_key} until {self.expires_at:%Y-%m-%d}"
