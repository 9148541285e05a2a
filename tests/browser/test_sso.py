"""Single sign-on (issue 18) against a real OpenID Connect provider: django-oauth-toolkit
with OIDC on, in a second Django process (tests/oidc_provider). No token is mocked: the
browser signs in at the provider, which signs the ID token; the app checks it against the
provider's published keys, creates the account and maps the groups claim to teams."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from surveys.models import Membership
from tests.factories import MembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID, CLIENT_SECRET = "mlops-maturity", "a client secret for tests"


@dataclass
class Provider:
    issuer: str
    env: dict[str, str]
    redirect_uri: str

    def provision(self, *groups: str, email: str = "mia@example.com") -> None:
        """(Re)create the provider's user mia (password "idp-pass") with these groups."""
        subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.oidc_provider.provision",
                self.redirect_uri,
                CLIENT_ID,
                CLIENT_SECRET,
                "mia",
                "idp-pass",
                email,
                *groups,
            ],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def provider(live_server, tmp_path) -> Iterator[Provider]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.oidc_provider.settings",
        "OIDC_PROVIDER_DB": str(tmp_path / "provider.sqlite3"),
        "OIDC_PROVIDER_KEY": pem,
        "PYTHONPATH": str(ROOT),
    }
    found = Provider(
        f"http://127.0.0.1:{port}/o", env, f"{live_server.url}/accounts/oidc/callback/"
    )
    found.provision("mlops-recsys-managers")
    server = subprocess.Popen(
        [sys.executable, "-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(server.stderr.read().decode() if server.stderr else "") from None
            time.sleep(0.2)
    yield found
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def sso(settings, provider):
    from django.core.cache import cache

    cache.clear()  # the discovery document of an earlier provider
    settings.OIDC_ISSUER = provider.issuer
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_PROVIDER_NAME = "Test IdP"
    settings.OIDC_ALLOWED_DOMAINS = ["example.com"]
    settings.OIDC_GROUP_TEAMS = "mlops-recsys-managers=recsys:manager, mlops-fraud=fraud"
    return provider


def sign_in(page, live_server) -> None:
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    page.get_by_label("IdP username").fill("mia")
    page.get_by_label("IdP password").fill("idp-pass")
    page.get_by_role("button", name="Sign in to the provider").click()


def test_sign_in_through_the_provider_creates_the_account_and_maps_groups(
    new_page, live_server, sso, team, other_team
):
    page = new_page()
    sign_in(page, live_server)
    expect(page.get_by_role("heading", name="My surveys")).to_be_visible()
    expect(page.locator("header")).to_contain_text("Log out mia@example.com")
    mia = get_user_model().objects.get(username="mia@example.com")
    assert not mia.has_usable_password()
    assert list(
        Membership.objects.filter(user=mia).values_list("team__slug", "role", "source")
    ) == [("recsys", "manager", "sso")]
    # A membership added by a lead is never touched by the mapping.
    MembershipFactory(user=mia, team=other_team, role="member")

    # At the provider, mia leaves the managers' group and joins the fraud group.
    sso.provision("mlops-fraud")
    page.context.clear_cookies()
    sign_in(page, live_server)
    expect(page.get_by_role("heading", name="My surveys")).to_be_visible()
    assert set(Membership.objects.filter(user=mia).values_list("team__slug", "role", "source")) == {
        ("fraud", "member", "manual")
    }


def test_an_address_outside_the_allowed_domains_is_refused(new_page, live_server, sso, team):
    sso.provision("mlops-recsys-managers", email="mia@elsewhere.org")
    page = new_page()
    sign_in(page, live_server)
    expect(page.get_by_text("Single sign-on did not sign you in")).to_be_visible()
    assert not get_user_model().objects.filter(email="mia@elsewhere.org").exists()


def test_password_login_can_be_turned_off(new_page, live_server, sso, member, settings):
    settings.PASSWORD_LOGIN = False
    page = new_page()
    page.goto("/accounts/login/")
    expect(page.get_by_text("Password login is off here")).to_be_visible()
    assert page.get_by_label("Password").count() == 0
    sign_in(page, live_server)
    expect(page.get_by_role("heading", name="My surveys")).to_be_visible()
