"""Evidence writes: receive snapshots, collect facts, evaluate checks, exemptions, tokens.

The pipeline (issue 16): an upload is validated and normalised in the request
(``maturity.evidence.snapshot``: hostile archives and manifests are refused with a 400 and
nothing is written), stored as a ``Snapshot`` of a content-addressed ``SnapshotContent``,
and the worker runs ``collect_facts`` -> ``evaluate_checks`` -> the team's existing
aggregation (``surveys.services.score_after_commit``), which turns check results and answers
into verdicts. Each step is idempotent per (content sha256, collector version, framework
version and checks): facts and results already stored are reused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import orjson
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from common.db import insert_rows
from common.errors import ApplicationError
from common.tokens import key_digest, new_key, revoke
from evidence.models import (
    CheckResult,
    EvidenceToken,
    Exemption,
    FactSet,
    Snapshot,
    SnapshotContent,
)
from evidence.selectors import FrameworkChecks, current_snapshots
from evidence.selectors import round_outcomes as read_round_outcomes
from maturity.evidence import rules
from maturity.evidence.collectors import collect_all, registry
from maturity.evidence.rules import CheckOutcome
from maturity.evidence.snapshot import Limits, Manifest, manifest_from_json
from maturity.models import Framework, Question
from maturity.schema import CheckSpec
from surveys.models import Survey, Team
from surveys.services import score_after_commit, user_can_answer, user_manages_team

if TYPE_CHECKING:
    from django.contrib.auth.models import User


logger = logging.getLogger(__name__)


class EvidenceError(ApplicationError):
    """An evidence rule violation: a refused upload (400, the snapshot's error code),
    a team or question that does not exist, a permission."""

    STATUS: ClassVar[dict[str, int]] = {"permission_denied": 403, "not_found": 404}


def upload_limits() -> Limits:
    """The upload limits from settings (EVIDENCE_MAX_* , see config.settings.base)."""
    return Limits(
        max_compressed=settings.EVIDENCE_MAX_COMPRESSED_BYTES,
        max_expanded=settings.EVIDENCE_MAX_EXPANDED_BYTES,
        max_entries=settings.EVIDENCE_MAX_ENTRIES,
    )


# --- snapshots ---------------------------------------------------------------------------


@transaction.atomic
def snapshot_store(
    *,
    team: Team,
    manifest: Manifest,
    kind: str,
    source: str = "",
    uploaded_by: User | None = None,
    token: EvidenceToken | None = None,
    received_at: datetime | None = None,
    defer: bool = False,
) -> Snapshot:
    """Store one upload of ``manifest`` for ``team`` and have the worker process it.

    ``source`` names the repository (default: the manifest's, else "default"); a team's
    verdicts read its newest snapshot of each source. The content is stored once per sha256.
    Raise EvidenceError("archived") for an archived team, ("empty_snapshot") for a snapshot
    without files. ``defer``: leave processing to
    the caller (snapshot_process) instead of the worker.
    """
    if team.archived_at is not None:
        raise EvidenceError(f"Team '{team.slug}' is archived.", code="archived")
    if manifest.n_files == 0:
        # An empty snapshot would "show" that nothing exists and contradict answers.
        raise EvidenceError(
            "The snapshot lists no files: upload the repository's files (or its manifest).",
            code="empty_snapshot",
        )
    source = (source or manifest.repository or "default").strip()[:100] or "default"
    if any(ord(char) < 32 or ord(char) == 127 for char in source):
        raise EvidenceError(
            "The repository name may not contain control characters.",
            code="invalid",
            field="repository",
        )
    content = _content_for(manifest)
    snapshot = Snapshot.objects.create(
        team=team,
        source=source,
        content=content,
        kind=kind,
        commit=(manifest.commit or "")[:64],
        received_at=received_at or timezone.now(),
        uploaded_by=uploaded_by,
        token=token,
    )
    if not defer:
        transaction.on_commit(lambda: _enqueue_processing(snapshot.pk))
    return snapshot


def _content_for(manifest: Manifest) -> SnapshotContent:
    sha256 = manifest.sha256
    existing = SnapshotContent.objects.filter(sha256=sha256).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return SnapshotContent.objects.create(
                sha256=sha256,
                manifest=manifest.to_json(),
                n_files=manifest.n_files,
                n_kept=manifest.n_kept,
                total_size=manifest.total_size,
            )
    except IntegrityError:  # the same content stored concurrently
        return SnapshotContent.objects.get(sha256=sha256)


def _enqueue_processing(snapshot_id: int) -> None:
    """Queue the worker's steps for a stored snapshot; never raises (the upload is stored
    and answered 202 either way). A snapshot left pending by a broker outage is queued
    again by beat (evidence.tasks.process_pending_snapshots)."""
    from evidence.tasks import collect_facts

    try:
        collect_facts.delay(snapshot_id)
    except Exception:  # broker down; or, eager, a failure of the steps themselves
        logger.exception("evidence snapshot %s not processed now; beat will retry", snapshot_id)


def pending_snapshot_ids(older_than: timedelta) -> list[int]:
    """Snapshots still pending ``older_than`` after they were received (a lost message or
    a broker outage), oldest first."""
    cutoff = timezone.now() - older_than
    return list(
        Snapshot.objects.filter(status=Snapshot.Status.PENDING, received_at__lt=cutoff)
        .order_by("received_at")
        .values_list("pk", flat=True)[:500]
    )


def snapshot_collect(snapshot_id: int) -> Snapshot:
    """Collect the facts of a snapshot's content (the worker's ``collect_facts``).

    Idempotent: facts stored for a collector's current version are reused. A collector that
    raises or breaks its declaration fails the snapshot (status "failed", error kept) and
    nothing of it is stored.
    """
    snapshot = Snapshot.objects.select_related("team", "content").get(pk=snapshot_id)
    try:
        facts_for_content(snapshot.content)
    except CollectorFailed as error:
        snapshot.status = Snapshot.Status.FAILED
        snapshot.error = str(error)
        snapshot.processed_at = timezone.now()
        snapshot.save(update_fields=["status", "error", "processed_at"])
    return snapshot


def snapshot_evaluate(snapshot_id: int) -> Snapshot:
    """Evaluate the checks of the frameworks the snapshot's team is surveyed with, mark it
    collected and have the team's open rounds re-scored (the worker's ``evaluate_checks``).
    """
    snapshot = Snapshot.objects.select_related("team", "content").get(pk=snapshot_id)
    if snapshot.status == Snapshot.Status.FAILED:
        return snapshot
    for framework in frameworks_for_team(snapshot.team):
        evaluate_contents([snapshot.content], framework)
    with transaction.atomic():
        snapshot.status = Snapshot.Status.COLLECTED
        snapshot.error = ""
        snapshot.processed_at = timezone.now()
        snapshot.save(update_fields=["status", "error", "processed_at"])
        rescore_team(snapshot.team)
    return snapshot


def snapshot_process(snapshot_id: int) -> Snapshot:
    """Run both steps in this process (``manage.py evidence_collect --now``, tests)."""
    snapshot = snapshot_collect(snapshot_id)
    return snapshot if snapshot.status == Snapshot.Status.FAILED else snapshot_evaluate(snapshot_id)


def open_survey_ids(team: Team) -> list[int]:
    """The team's surveys whose verdicts new evidence can change (not closed)."""
    return list(
        Survey.objects.filter(teams=team)
        .exclude(status=Survey.Status.CLOSED)
        .values_list("pk", flat=True)
    )


def frameworks_for_team(team: Team) -> list[Framework]:
    """The framework versions of the team's rounds that are not closed.

    One subquery over the team's rounds: ``exclude(surveys__status=...)`` across the
    relation would drop a version as soon as any of its rounds, of any team, is closed.
    """
    rounds = Survey.objects.filter(teams=team).exclude(status=Survey.Status.CLOSED)
    return list(Framework.objects.filter(pk__in=rounds.values("framework_id")))


class CollectorFailed(Exception):
    """A collector returned facts that break its declaration, or raised."""


def facts_for_content(content: SnapshotContent) -> dict[str, object]:
    """Return the merged facts of ``content`` from every registered collector, collecting
    (and storing) those not yet stored for the collector's current version."""
    return facts_for_contents([content])[content.pk]


def facts_for_contents(contents: list[SnapshotContent]) -> dict[int, dict[str, object]]:
    """Return, per content id, the merged facts of every registered collector; stored
    facts are read in one query, missing ones collected (from the stored manifest) and
    stored. Raise CollectorFailed when a collector fails on a content."""
    collectors = registry()
    stored: dict[tuple[int, str, str], dict[str, object]] = {
        (content_id, name, version): facts
        for content_id, name, version, facts in FactSet.objects.filter(
            content__in=contents, collector__in=list(collectors)
        ).values_list("content_id", "collector", "version", "facts")
    }
    lacking = [
        content
        for content in contents
        if any((content.pk, name, c.version) not in stored for name, c in collectors.items())
    ]
    # Contents read without their manifest (round_outcomes defers it) get it in one query.
    deferred = [content.pk for content in lacking if "manifest" in content.get_deferred_fields()]
    manifests = dict(
        SnapshotContent.objects.filter(pk__in=deferred).values_list("pk", "manifest")
        if deferred
        else []
    )
    merged: dict[int, dict[str, object]] = {}
    for content in contents:
        missing = [
            c for name, c in collectors.items() if (content.pk, name, c.version) not in stored
        ]
        if missing:
            if content.pk in manifests:
                content.manifest = manifests[content.pk]
            for result in collect_all(stored_manifest(content).reader(), missing):
                if result.error:
                    raise CollectorFailed(
                        f"collector {result.name} {result.version}: {result.error}"
                    )
                FactSet.objects.get_or_create(
                    content=content,
                    collector=result.name,
                    version=result.version,
                    defaults={"facts": result.facts, "problems": result.problems},
                )
                stored[(content.pk, result.name, result.version)] = result.facts
        facts: dict[str, object] = {}
        for name, collector in collectors.items():
            facts.update(stored.get((content.pk, name, collector.version), {}))
        merged[content.pk] = facts
    return merged


# Stored manifests were checked against the limits in force at upload; reading one again
# must not fail because the limits have been lowered since.
_STORED = Limits(
    max_compressed=2**62,
    max_expanded=2**62,
    max_entries=2**62,
    max_path_length=2**62,
    max_manifest_bytes=2**62,
    max_kept_total=2**62,
)


def stored_manifest(content: SnapshotContent) -> Manifest:
    """The content's manifest, read back from its canonical JSON."""
    return manifest_from_json(orjson.dumps(content.manifest), _STORED)


def collectors_signature(framework: Framework) -> str:
    """A hash of what check results depend on: collector versions and the framework's
    checks (its checks hash). Results with another signature are re-evaluated."""
    versions = sorted(f"{name}:{c.version}" for name, c in registry().items())
    text = json.dumps([versions, framework.pk, framework.checks_hash])
    return hashlib.sha256(text.encode()).hexdigest()


def evaluate_contents(contents: Iterable[SnapshotContent], framework: Framework) -> int:
    """Evaluate the framework's checks on each content lacking results under the current
    checks and collectors; return how many contents were (re-)evaluated.

    Set-based: one read of the stored facts, one delete and one bulk insert of the results
    of all those contents, in one transaction.
    """
    contents = list(contents)
    checks = FrameworkChecks.of(framework)
    if not checks.by_question or not contents:
        return 0
    signature = collectors_signature(framework)
    current = set(
        CheckResult.objects.filter(content__in=contents, framework=framework, signature=signature)
        .values_list("content_id", flat=True)
        .distinct()
    )
    stale = [content for content in contents if content.pk not in current]
    if not stale:
        return 0
    facts = facts_for_contents(stale)
    # Each rule is parsed once per pass, not once per content (rules.evaluate would parse
    # the plain data each time).
    parsed = [
        (key, check, rules.parse_rule(check.rule, None))
        for key, question_checks in checks.by_question.items()
        for check in question_checks
    ]
    now = timezone.now()
    rows = [
        (
            *_outcome_values(content.pk, framework.pk, key, check, rule, facts[content.pk]),
            signature,
            now,
        )
        for content in stale
        for key, check, rule in parsed
    ]
    with transaction.atomic():
        CheckResult.objects.filter(content__in=stale, framework=framework).delete()
        # One COPY, not bulk_create: see BENCHMARKS.md, "Evidence (issue 16)".
        insert_rows(CheckResult, RESULT_COLUMNS, rows)
    return len(stale)


RESULT_COLUMNS = [
    "content_id",
    "framework_id",
    "question_key",
    "check_id",
    "passed",
    "details",
    "facts",
    "signature",
    "evaluated_at",
]


def _outcome_values(
    content_id: int,
    framework_id: int,
    question_key: str,
    check: CheckSpec,
    rule: rules.Rule,
    facts: dict[str, object],
) -> tuple[object, ...]:
    """The RESULT_COLUMNS values of one check on one content, up to the signature."""
    outcome = rules.evaluate(rule, facts)
    return (
        content_id,
        framework_id,
        question_key,
        check.id,
        outcome.passed,
        outcome.details,
        outcome.facts,
    )


def round_outcomes(
    framework: Framework, team_ids: list[int], at: datetime
) -> dict[tuple[int, str], list[CheckOutcome]]:
    """The check outcomes of a round (see evidence.selectors.round_outcomes), after
    evaluating the team's current snapshots that lack results under the framework's current
    checks and collectors (after a checks update or an upgrade of a collector)."""
    # Contents without their manifests: the facts are stored (facts_for_contents reads the
    # manifests it needs itself); 1,000 teams' manifests are megabytes of JSON to decode.
    snapshots = current_snapshots(team_ids, at).select_related("content").defer("content__manifest")
    evaluate_contents({s.content_id: s.content for s in snapshots}.values(), framework)
    return read_round_outcomes(framework, team_ids, at)


def on_checks_updated(sender: object, framework: Framework, **kwargs: object) -> None:
    """Have every round of ``framework`` that is not closed re-scored: its verdicts are
    computed from the framework's new checks (evaluated on demand by round_outcomes)."""
    for survey_id in (
        Survey.objects.filter(framework=framework)
        .exclude(status=Survey.Status.CLOSED)
        .values_list("pk", flat=True)
    ):
        with transaction.atomic():
            score_after_commit(survey_id, None, "checks updated")


# --- exemptions --------------------------------------------------------------------------


def exemption_check(*, question_key: str, reason: str, expires_at: datetime | None) -> None:
    """Raise EvidenceError (with the field) for an empty reason, a missing or past expiry, or
    a question key that no framework has."""
    if not reason.strip():
        raise EvidenceError("Give the reason for the exemption.", code="invalid", field="reason")
    if expires_at is None or expires_at <= timezone.now():
        raise EvidenceError("The expiry must be in the future.", code="invalid", field="expires_at")
    if not Question.objects.filter(key=question_key).exists():
        raise EvidenceError(
            f"No framework has a question '{question_key}'.", code="invalid", field="question_key"
        )


def exemption_grant(
    *,
    team: Team,
    question_key: str,
    reason: str,
    approved_by: User,
    expires_at: datetime,
) -> Exemption:
    """Exempt ``team`` from the checks of ``question_key`` until ``expires_at``; its verdict
    is "exempt" meanwhile. Raise EvidenceError as exemption_check does. The team's open
    rounds are re-scored; the audit log records the grant (django-auditlog)."""
    exemption_check(question_key=question_key, reason=reason, expires_at=expires_at)
    with transaction.atomic():
        exemption = Exemption.objects.create(
            team=team,
            question_key=question_key,
            reason=reason.strip(),
            approved_by=approved_by,
            expires_at=expires_at,
        )
        rescore_team(team)
    return exemption


def exemption_revoke(*, exemption: Exemption) -> Exemption:
    """End an exemption now (kept, with its revocation time, for the record)."""
    if exemption.revoked_at is None:
        with transaction.atomic():
            exemption.revoked_at = timezone.now()
            exemption.save(update_fields=["revoked_at"])
            rescore_team(exemption.team)
    return exemption


def rescore_team(team: Team) -> None:
    """Have the team's open rounds re-scored once the transaction commits."""
    for survey_id in open_survey_ids(team):
        score_after_commit(survey_id, team.pk, "evidence")


# --- team-scoped tokens ------------------------------------------------------------------

TOKEN_KEYWORD_PREFIX = "mte_"  # noqa: S105 - the public prefix of evidence token keys


_digest = key_digest


def evidence_token_create(
    *,
    team: Team,
    name: str = "",
    created_by: User | None = None,
    expires_in: timedelta | None = None,
) -> tuple[EvidenceToken, str]:
    """Create a token that can only upload evidence for ``team``; return it and its key
    (``mte_<prefix>.<secret>``, shown once, only its sha256 stored)."""
    prefix, key = new_key(
        lambda taken: EvidenceToken.objects.filter(prefix=taken).exists(), TOKEN_KEYWORD_PREFIX
    )
    token = EvidenceToken.objects.create(
        team=team,
        name=name or "ci",
        prefix=prefix,
        key_hash=_digest(key),
        created_by=created_by,
        expires_at=timezone.now() + expires_in if expires_in is not None else None,
    )
    return token, key


def evidence_token_revoke(*, token: EvidenceToken) -> EvidenceToken:
    """Revoke a token now; revoking twice keeps the first time."""
    revoke(token)
    return token


def is_evidence_key(key: str) -> bool:
    return key.startswith(TOKEN_KEYWORD_PREFIX)


def evidence_token_check(key: str) -> EvidenceToken:
    """Return the usable token for ``key``; raise EvidenceError("invalid_token", ...) saying
    why not (revoked or expired only to a caller holding the full key)."""
    prefix, dot, _ = key.removeprefix(TOKEN_KEYWORD_PREFIX).partition(".")
    token = (
        EvidenceToken.objects.select_related("team").filter(prefix=prefix).first()
        if dot and len(prefix) == 8
        else None
    )
    if token is None or not hmac.compare_digest(token.key_hash, _digest(key)):
        hmac.compare_digest("0" * 64, _digest(key))
        raise EvidenceError("Invalid token.", code="invalid_token")
    now = timezone.now()
    if token.revoked_at is not None:
        raise EvidenceError("This token has been revoked.", code="token_revoked")
    if token.expires_at is not None and token.expires_at <= now:
        raise EvidenceError("This token has expired.", code="token_expired")
    if token.team.archived_at is not None:
        raise EvidenceError("This token's team is archived.", code="token_revoked")
    if token.last_used_at is None or token.last_used_at < now - timedelta(seconds=60):
        EvidenceToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def user_may_upload(user: Any, team: Team) -> bool:
    """Members and managers of the team (or of a team above it) and admins may upload."""
    return bool(user.is_authenticated) and (
        user_manages_team(user, team) or user_can_answer(user, team)
    )
