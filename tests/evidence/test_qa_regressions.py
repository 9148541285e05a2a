"""Regressions from trying the evidence feature as a new user would (issue 16 QA): each
test is a fault found then, with the right behaviour pinned."""

from __future__ import annotations

import pytest
from django.test import Client

from evidence.models import Snapshot
from reports.services import aggregate
from tests.evidence.conftest import (
    RECSYS_REPO,
    manifest_document,
    manifest_field,
    repo_archive,
    stored_counts,
    upload,
)

pytestmark = pytest.mark.django_db


def test_an_empty_snapshot_is_refused_and_nothing_is_stored(evidence_client, team):
    """An empty manifest or archive "showed" that nothing exists and contradicted answers."""
    before = stored_counts()
    response = upload(evidence_client, team.slug, manifest=manifest_field(manifest_document({})))
    assert response.status_code == 400
    assert response.json()["code"] == "empty_snapshot"
    response = upload(evidence_client, team.slug, repo_archive({}))
    assert response.status_code == 400
    assert response.json()["code"] == "empty_snapshot"
    assert stored_counts() == before


def test_snapshots_cannot_be_deleted_in_the_admin(admin_user, team, evidence_client):
    """Deleting one left verdicts computed from it standing with nothing behind them."""
    assert upload(evidence_client, team.slug).status_code == 202
    snapshot = Snapshot.objects.get()
    client = Client()
    client.force_login(admin_user)
    page = client.get(f"/admin/evidence/snapshot/{snapshot.pk}/delete/")
    assert page.status_code == 403
    assert (
        client.post(f"/admin/evidence/snapshot/{snapshot.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert Snapshot.objects.filter(pk=snapshot.pk).exists()


def test_the_calibration_view_ranks_only_teams_with_evidence(
    v2_round, team, other_team, admin_user, evidence_client, django_capture_on_commit_callbacks
):
    """A team that never uploaded showed "0 contradicted, 0%" and ranked as perfectly
    calibrated; it is now listed apart as having no evidence."""
    with django_capture_on_commit_callbacks(execute=True):
        assert upload(evidence_client, team.slug, repo_archive(RECSYS_REPO)).status_code == 202
    aggregate(survey=v2_round)
    client = Client()
    client.force_login(admin_user)
    page = client.get(f"/reports/?survey={v2_round.pk}").content.decode()
    table = page[page.index('data-testid="calibration"') :]
    table = table[: table.index("</table>")]
    assert team.name in table and other_team.name not in table
    missing = page[page.index('data-testid="without-evidence"') :]
    assert other_team.name in missing[: missing.index("</p>")]


def test_the_evidence_api_says_why_an_answer_is_exempt(
    v2_round, team, admin_user, evidence_client, django_capture_on_commit_callbacks
):
    """The HTML report showed an exemption's reason, expiry and approver; the API only
    said "exempt"."""
    from datetime import timedelta

    from django.utils import timezone
    from rest_framework.test import APIClient

    from evidence.services import exemption_grant

    with django_capture_on_commit_callbacks(execute=True):
        assert upload(evidence_client, team.slug, repo_archive(RECSYS_REPO)).status_code == 202
        exemption_grant(
            team=team,
            question_key="shift-left-security",
            reason="Scans run in the platform's registry, not in this repository",
            approved_by=admin_user,
            expires_at=timezone.now() + timedelta(days=30),
        )
    aggregate(survey=v2_round)
    client = APIClient()
    client.force_authenticate(admin_user)
    body = client.get(f"/api/v1/surveys/{v2_round.pk}/evidence/?team={team.slug}").json()
    rows = {row["question"]: row for row in body["results"][0]["questions"]}
    exempt = rows["shift-left-security"]
    assert exempt["verdict"] == "exempt"
    assert exempt["exemption"]["reason"].startswith("Scans run in the platform's registry")
    assert exempt["exemption"]["approved_by"] == admin_user.username
    assert all(
        row["exemption"] is None for key, row in rows.items() if key != "shift-left-security"
    )


def test_a_repository_name_with_control_characters_is_refused(evidence_client, team):
    """The manifest's repository refused control characters; the form field did not."""
    before = stored_counts()
    response = upload(evidence_client, team.slug, repository="ranker\nfake line")
    assert response.status_code == 400
    assert response.json() == {
        "repository": ["The repository name may not contain control characters."]
    }
    assert stored_counts() == before


def test_files_the_collectors_could_not_read_are_shown_in_the_report_and_the_api(
    v2_round, team, admin_user, evidence_client, django_capture_on_commit_callbacks
):
    """FactSet.problems was stored but shown nowhere: a lead could not tell why CI facts
    were unknown. A workflow that is not valid YAML is now named in both places."""
    from rest_framework.test import APIClient

    files = {**RECSYS_REPO, ".github/workflows/broken.yml": "jobs: [unclosed\n"}
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(evidence_client, team.slug, repo_archive(files))
    assert response.status_code == 202
    aggregate(survey=v2_round)
    client = APIClient()
    client.force_authenticate(admin_user)
    snapshot = client.get(response["Location"]).json()
    assert snapshot["status"] == "collected"
    assert any(p.startswith(".github/workflows/broken.yml: ") for p in snapshot["problems"])
    page = Client()
    page.force_login(admin_user)
    html = page.get(f"/reports/teams/{team.slug}/?survey={v2_round.pk}").content.decode()
    unread = html[html.index('data-testid="unread-files"') :]
    assert "could not be read" in unread and ".github/workflows/broken.yml: " in unread


def test_a_snapshot_left_pending_is_processed_by_beat(team):
    """An upload whose message was lost (or sent while the broker was down) stays pending;
    beat's process_pending_snapshots queues it again (eager here: processed at once)."""
    from datetime import timedelta
    from io import BytesIO

    from django.utils import timezone

    from evidence import services
    from evidence.tasks import process_pending_snapshots
    from maturity.evidence.snapshot import manifest_from_archive

    manifest = manifest_from_archive(BytesIO(repo_archive(RECSYS_REPO)))
    lost = services.snapshot_store(
        team=team,
        manifest=manifest,
        kind=Snapshot.Kind.ARCHIVE,
        received_at=timezone.now() - timedelta(minutes=10),
        defer=True,
    )
    recent = services.snapshot_store(
        team=team, manifest=manifest, kind=Snapshot.Kind.ARCHIVE, source="other", defer=True
    )
    assert process_pending_snapshots() == 1
    lost.refresh_from_db()
    recent.refresh_from_db()
    assert (lost.status, recent.status) == ("collected", "pending")
