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
    assert group_teams(" a=recsys:manager, b=fraud ,, c=ops:member, a=fraud, cn=x=ops") == {
        "a": [("recsys", "manager"), ("fraud", "member")],
        "b": [("fraud", "member")],
        "c": [("ops", "member")],
        "cn=x": [("ops", "member")],
    }
    for bad in ("a", "a=", "=recsys", "a=recsys:owner", "a=b c", "a=b=c d"):
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
    # archived team are skipped (an archived team takes no new member).
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


def test_an_archived_team_keeps_its_sso_members(settings, member, other_team):
    settings.OIDC_GROUP_TEAMS = "g=fraud"
    sso_memberships_sync(user=member, groups=["g"])
    other_team.archived_at = "2026-01-01T00:00:00Z"
    other_team.save()
    sso_memberships_sync(user=member, groups=["g"])
    assert Membership.objects.filter(user=member, team=other_team, source="sso").exists()


def test_an_unreadable_mapping_at_sign_in_is_logged_not_a_500(settings, member, caplog):
    from surveys.services import sso_signed_in

    settings.OIDC_GROUP_TEAMS = "broken"
    sso_signed_in(None, user=member, claims={"groups": ["x"]})
    assert "single sign-on groups not applied" in caplog.text


def test_single_sign_on_takes_the_place_of_an_unconfirmed_sign_up_not_a_deactivated_account(
    settings, db
):
    from django.contrib.auth import get_user_model

    from accounts.services import account_create

    settings.OIDC_ALLOWED_DOMAINS = []
    backend = OIDCBackend()
    squatter = account_create(email="cto@example.com", password="a long pass phrase 9")
    assert list(backend.filter_users_by_claims({"email": "CTO@example.com"})) == []
    owner = backend.create_user({"email": "CTO@example.com", "given_name": "C"})
    assert owner.is_active and not get_user_model().objects.filter(pk=squatter.pk).exists()
    owner.is_active = False  # deactivated by an admin
    owner.save()
    assert not backend.verify_claims({"email": "cto@example.com"})


def test_refused_single_sign_ons_are_not_counted_as_password_failures(rf):
    from accounts.backends import lockout_username, not_a_password_login

    assert not_a_password_login(rf.get("/accounts/oidc/callback/?code=x"), None)
    assert not not_a_password_login(rf.post("/accounts/login/"), {"username": "a"})
    assert lockout_username(None, {"username": " Mia@Example.COM"}) == "mia@example.com"
    assert lockout_username(None, {"username": "Ben"}) == "Ben"


def test_a_code_on_the_login_page_is_not_a_sign_in(client, settings, member):
    settings.OIDC_ISSUER = "http://127.0.0.1:9/o"  # nothing listens: a try would fail loudly
    settings.OIDC_RP_CLIENT_ID = "client"
    response = client.post(
        "/accounts/login/?code=x&state=y", {"username": "alice", "password": "wrong"}
    )
    # A wrong password, and no token exchange tried with the (unreachable) provider.
    assert response.status_code == 200 and "didn" in response.content.decode()
