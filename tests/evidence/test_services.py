"""The evidence services on the database: stored check results are each check's rule over
the content's stored facts, and a round's outcomes read them back unchanged."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from evidence import services
from evidence.models import CheckResult, FactSet, Snapshot
from evidence.selectors import FrameworkChecks
from maturity.evidence import rules
from maturity.evidence.collectors import collect_all
from maturity.evidence.snapshot import FileEntry, Manifest
from tests.maturity.test_evidence_collectors import KEPT, PATHS_ONLY

pytestmark = pytest.mark.django_db


def fixture_manifest(drop: tuple[str, ...] = ()) -> Manifest:
    """The collectors' fixture repository (its kept files, minus ``drop``) as a manifest."""
    from maturity.evidence.snapshot import is_kept

    contents = {path: text for path, text in KEPT.items() if is_kept(path) and path not in drop}
    files = {path: FileEntry(hashlib.sha256(path.encode()).hexdigest(), 10) for path in PATHS_ONLY}
    for path, text in contents.items():
        files[path] = FileEntry(hashlib.sha256(text.encode()).hexdigest(), len(text.encode()))
    return Manifest("recsys", None, None, files, contents)


def reference_facts(manifest: Manifest) -> dict[str, object]:
    facts: dict[str, object] = {}
    for result in collect_all(manifest.reader()):
        facts.update(result.facts)
    return facts


def stored_snapshot(team, manifest: Manifest, days_ago: int = 1) -> Snapshot:
    snapshot = services.snapshot_store(
        team=team,
        manifest=manifest,
        kind=Snapshot.Kind.MANIFEST,
        received_at=timezone.now() - timedelta(days=days_ago),
        defer=True,
    )
    services.snapshot_collect(snapshot.pk)
    Snapshot.objects.filter(pk=snapshot.pk).update(status=Snapshot.Status.COLLECTED)
    return snapshot


def test_each_stored_result_is_the_checks_rule_over_the_stored_facts(v2_survey, team):
    framework = v2_survey.framework
    manifests = [fixture_manifest(), fixture_manifest(drop=("Dockerfile", "dvc.yaml"))]
    snapshots = [stored_snapshot(team, manifest) for manifest in manifests]

    assert services.evaluate_contents([s.content for s in snapshots], framework) == 2
    assert services.evaluate_contents([s.content for s in snapshots], framework) == 0

    checks = FrameworkChecks.of(framework).by_question
    signature = services.collectors_signature(framework)
    for snapshot, manifest in zip(snapshots, manifests, strict=True):
        facts = reference_facts(manifest)
        stored = {
            (r.question_key, r.check_id): r
            for r in CheckResult.objects.filter(content=snapshot.content, framework=framework)
        }
        expected = {
            (key, check.id): rules.evaluate(check.rule, facts)
            for key, question_checks in checks.items()
            for check in question_checks
        }
        assert set(stored) == set(expected)
        for pair, outcome in expected.items():
            row = stored[pair]
            assert (row.passed, row.details, row.facts) == (
                outcome.passed,
                outcome.details,
                outcome.facts,
            ), pair
            assert row.signature == signature
    # The two snapshots differ where the dropped files decide.
    passed = {
        content_id: dict(
            CheckResult.objects.filter(content_id=content_id).values_list("check_id", "passed")
        )
        for content_id in (snapshots[0].content_id, snapshots[1].content_id)
    }
    assert passed[snapshots[0].content_id] != passed[snapshots[1].content_id]


def test_round_outcomes_collect_missing_facts_and_read_the_current_snapshot(v2_survey, team):
    framework = v2_survey.framework
    older = stored_snapshot(team, fixture_manifest(drop=("Dockerfile",)), days_ago=3)
    newest = stored_snapshot(team, fixture_manifest())
    FactSet.objects.filter(content=newest.content).delete()  # as after a collector upgrade

    outcomes = services.round_outcomes(framework, [team.pk], timezone.now())

    assert FactSet.objects.filter(content=newest.content).count() == 5
    assert not CheckResult.objects.filter(content=older.content).exists()
    facts = reference_facts(fixture_manifest())
    checks = FrameworkChecks.of(framework).by_question
    assert {key for _, key in outcomes} == set(checks)
    for (team_id, key), found in outcomes.items():
        assert team_id == team.pk
        assert [o.id for o in found] == [check.id for check in checks[key]]
        for outcome, check in zip(found, checks[key], strict=True):
            expected = rules.evaluate(check.rule, facts)
            assert (outcome.passed, outcome.details, outcome.facts) == (
                expected.passed,
                expected.details,
                expected.facts,
            )
            assert (outcome.collected_at, outcome.source) == (newest.received_at, "recsys")
            assert (outcome.supports, outcome.contradicts) == (check.supports, check.contradicts)
