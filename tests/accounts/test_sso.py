"""Single sign-on's parts that need no provider: the group mapping, claims, the views when
it is off or the provider is down (the sign-in itself: tests/browser/test_sso.py)."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks

from accounts.oidc import OIDCBackend
from surveys.models import Membership
from surveys.services import group_teams, sso_memberships_sync
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db


def test_group_teams_reads_the_mapping_and_refuses_what_it_cannot_read():
    assert group_teams(" a=recsys:manager, b=fraud ,, c=ops:member") == {
        "a": ("recsys", "manager"),
        "b": ("fraud", "member"),
        "c": ("ops", "member"),
    }
    for bad in ("a", "a=", "=recsys", "a=recsys:owner"):
        with pytest.raises(ValueError, match="cannot read"):
            group_teams(bad)


def test_a_bad_mapping_fails_the_system_check(settings):
    settings.OIDC_GROUP_TEAMS = "mlops=recsys:boss"
    assert [m.id for m in run_checks() if m.id == "surveys.E001"] == ["surveys.E001"]


def test_sync_creates_updates_and_removes_only_sso_memberships(settings, member, team, other_team):
    settings.OIDC_GROUP_TEAMS = "g1=recsys:manager,g2=fraud,g3=gone,g4=fraud:manager"
    archived = TeamFactory(slug="old", archived_at="2026-01-01T00:00:00Z")
    settings.OIDC_GROUP_TEAMS += ",g5=old"
    sso_memberships_sync(user=member, groups=["g2", "g3", "g5"])
    rows = set(Membership.objects.filter(user=member).values_list("team__slug", "role", "source"))
    # alice's own recsys membership (manual) stays; fraud comes from g2; "gone" and the
    # archived team are skipped.
    assert rows == {("recsys", "member", "manual"), ("fraud", "member", "sso")}
    sso_memberships_sync(user=member, groups=["g1", "g2", "g4"])  # manager wins; manual untouched
    rows = set(Membership.objects.filter(user=member).values_list("team__slug", "role", "source"))
    assert rows == {("recsys", "member", "manual"), ("fraud", "manager", "sso")}
    sso_memberships_sync(user=member, groups=[])
    rows = set(Membership.objects.filter(user=member).values_list("team__slug", "role", "source"))
    assert rows == {("recsys", "member", "manual")}
    assert archived.memberships.count() == 0


def test_claims_need_a_verified_address_of_an_allowed_domain(settings):
    backend = OIDCBackend()
    settings.OIDC_ALLOWED_DOMAINS = []
    assert backend.verify_claims({"email": "a@x.org"})
    assert not backend.verify_claims({"email": "a@x.org", "email_verified": False})
    assert not backend.verify_claims({"sub": "1"})
    settings.OIDC_ALLOWED_DOMAINS = ["Example.com"]
    assert backend.verify_claims({"email": "a@EXAMPLE.com", "email_verified": True})
    assert not backend.verify_claims({"email": "a@example.com.evil.org"})


def test_sign_in_is_404_when_off_and_a_clear_503_when_the_provider_is_down(client, settings):
    settings.OIDC_ISSUER = ""
    assert client.get("/accounts/oidc/authenticate/").status_code == 404
    assert client.get("/accounts/oidc/callback/?code=x&state=y").status_code == 404
    assert "Sign in with" not in client.get("/accounts/login/").content.decode()
    settings.OIDC_ISSUER = "http://127.0.0.1:9/o"  # nothing listens on the discard port
    settings.OIDC_RP_CLIENT_ID = "client"
    response = client.get("/accounts/oidc/authenticate/")
    assert response.status_code == 503
    assert "Single sign-on is unavailable" in response.content.decode()
    assert "Sign in with single sign-on" in client.get("/accounts/login/").content.decode()


def test_a_password_posted_while_password_login_is_off_is_refused(client, settings, member):
    settings.PASSWORD_LOGIN = False
    response = client.post("/accounts/login/", {"username": "alice", "password": "pass-word-123"})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session
