"""Who may upload evidence: a team's evidence token for its team only (and for nothing
else), the team's members, managers and admins; the spec endpoint; create_evidence_token."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from evidence.models import EvidenceToken, Snapshot
from evidence.services import evidence_token_create, evidence_token_revoke
from maturity.evidence.snapshot import KEPT_PATTERNS, MAX_KEPT_BYTES
from reports.authentication import api_token_create
from tests.evidence.conftest import stored_counts, token_client, upload, upload_url

pytestmark = pytest.mark.django_db


def test_an_evidence_token_uploads_for_its_team_and_is_recorded(evidence_client, team):
    response = upload(evidence_client, team.slug)
    assert response.status_code == 202
    snapshot = Snapshot.objects.get()
    assert snapshot.team == team
    assert snapshot.token == EvidenceToken.objects.get(team=team)
    assert snapshot.uploaded_by is None
    assert snapshot.token.last_used_at is not None


def test_an_evidence_token_is_refused_for_another_teams_slug(evidence_client, other_team):
    before = stored_counts()
    response = upload(evidence_client, other_team.slug)
    assert response.status_code == 403
    assert response.json() == {
        "detail": "This evidence token uploads for team 'recsys' only.",
        "code": "permission_denied",
    }
    assert evidence_client.get(upload_url(other_team.slug)).status_code == 403
    assert stored_counts() == before


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/surveys/",
        "/api/v1/teams/",
        "/api/v1/exports/scores/",
        "/api/v1/exports/answers/",
    ],
)
def test_an_evidence_token_reads_nothing_else(evidence_client, url):
    response = evidence_client.get(url)
    assert response.status_code == 401
    # Said plainly: a valid evidence token in the wrong place is not an "invalid token".
    assert response.json()["code"] == "evidence_token"
    assert "can only upload evidence" in response.json()["detail"]


def test_a_revoked_token_is_refused_with_its_code(team):
    token, key = evidence_token_create(team=team)
    evidence_token_revoke(token=token)
    response = upload(token_client(key), team.slug)
    assert response.status_code == 401
    assert response.json() == {"detail": "This token has been revoked.", "code": "token_revoked"}
    assert response["WWW-Authenticate"] == 'Token realm="api"'


def test_an_expired_token_is_refused_with_its_code(team):
    _, key = evidence_token_create(team=team, expires_in=timedelta(seconds=-1))
    response = upload(token_client(key), team.slug)
    assert response.status_code == 401
    assert response.json() == {"detail": "This token has expired.", "code": "token_expired"}


def test_a_token_of_an_archived_team_is_refused(team, evidence_key):
    team.archived_at = timezone.now()
    team.save(update_fields=["archived_at"])
    response = upload(token_client(evidence_key), team.slug)
    assert response.status_code == 401
    assert response.json()["code"] == "token_revoked"


@pytest.mark.parametrize(
    "key",
    ["mte_deadbeef.not-the-secret", "mte_", "mte_deadbeef", "mte_toolongprefix.x"],
)
def test_a_wrong_evidence_key_is_an_invalid_token(team, evidence_key, key):
    if key.startswith("mte_deadbeef."):  # a real prefix with the wrong secret
        key = evidence_key.split(".")[0] + ".not-the-secret"
    response = upload(token_client(key), team.slug)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token.", "code": "invalid_token"}


def test_a_member_may_upload_with_a_session(member_client, member, team):
    response = upload(member_client, team.slug)
    assert response.status_code == 202
    snapshot = Snapshot.objects.get()
    assert snapshot.uploaded_by == member and snapshot.token is None


def test_a_manager_may_upload_with_an_api_token(manager, team):
    _, key = api_token_create(user=manager, name="laptop")
    response = upload(token_client(key), team.slug)
    assert response.status_code == 202
    assert Snapshot.objects.get().uploaded_by == manager


def test_an_admin_may_upload_for_any_team(admin_user, other_team):
    _, key = api_token_create(user=admin_user)
    assert upload(token_client(key), other_team.slug).status_code == 202


def test_a_user_of_another_team_gets_not_found(other_member, team):
    api = APIClient()
    api.force_login(other_member)
    before = stored_counts()
    response = upload(api, team.slug)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert api.get(upload_url(team.slug)).status_code == 404
    assert stored_counts() == before


def test_an_unknown_team_is_not_found_for_a_member(member_client):
    assert upload(member_client, "no-such-team").status_code == 404


def test_anonymous_uploads_are_refused(team):
    before = stored_counts()
    response = upload(APIClient(), team.slug)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert stored_counts() == before


# --- the spec --------------------------------------------------------------------------------


def test_the_spec_lists_the_kept_patterns_and_the_limits_in_force(evidence_client, settings):
    settings.EVIDENCE_MAX_ENTRIES = 1234
    settings.EVIDENCE_MAX_COMPRESSED_BYTES = 5 * 1024 * 1024
    response = evidence_client.get("/api/v1/evidence/spec/")
    assert response.status_code == 200
    body = response.json()
    assert body["format"] == "maturity-evidence/1"
    assert body["kept_patterns"] == list(KEPT_PATTERNS)
    assert body["max_kept_bytes"] == MAX_KEPT_BYTES
    assert body["limits"]["max_entries"] == 1234
    assert body["limits"]["max_compressed"] == 5 * 1024 * 1024
    assert body["limits"]["max_expanded"] == settings.EVIDENCE_MAX_EXPANDED_BYTES


def test_the_spec_needs_a_credential():
    assert APIClient().get("/api/v1/evidence/spec/").status_code == 401


# --- manage.py create_evidence_token ---------------------------------------------------------


def create_token(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_evidence_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_evidence_token_prints_a_key_that_uploads_for_the_team(team, other_team):
    out, err = create_token("--team", "recsys", "--name", "github", "--expires-in", "30")
    key = out.strip()
    assert key.startswith("mte_") and "\n" not in key
    assert "Evidence token 'github' for team recsys, expires" in err
    token = EvidenceToken.objects.get()
    assert (token.team, token.name) == (team, "github")
    assert abs(token.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert key not in str(EvidenceToken.objects.values_list())  # only its hash is stored

    assert upload(token_client(key), "recsys").status_code == 202
    assert upload(token_client(key), other_team.slug).status_code == 403


def test_create_evidence_token_refuses_an_unknown_or_archived_team(team):
    with pytest.raises(CommandError, match="No team 'nope'"):
        create_token("--team", "nope")
    with pytest.raises(CommandError, match="--expires-in must be between 1 and 36500 days"):
        create_token("--team", "recsys", "--expires-in", "0")
    team.archived_at = timezone.now()
    team.save(update_fields=["archived_at"])
    with pytest.raises(CommandError, match="Team 'recsys' is archived"):
        create_token("--team", "recsys")
    assert not EvidenceToken.objects.exists()
