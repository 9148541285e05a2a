"""/api/v1/trackers/: connections for admins and programme leads; credentials write-only."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from tests.trackers.conftest import GITHUB_TOKEN, JIRA_EMAIL, JIRA_TOKEN, WEBHOOK_SECRET
from trackers import services
from trackers.models import TrackerConnection

pytestmark = pytest.mark.django_db

URL = "/api/v1/trackers/"


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def github_body(fake, **overrides) -> dict:
    return {
        "provider": "github",
        "name": "Platform backlog",
        "base_url": fake.github_url,
        "target": "acme/ml-platform",
        "token": GITHUB_TOKEN,
        **overrides,
    }


def test_admins_connect_and_never_read_the_credentials_back(fake, admin_user, team):
    client = api(admin_user)
    created = client.post(URL, github_body(fake, team="recsys"), format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert "token" not in body and "webhook_secret" not in body
    assert body["team"] == "recsys" and body["created_by"] == "admin"
    assert body["webhook_url"].endswith(
        f"/trackers/webhooks/{TrackerConnection.objects.get().public_id}/"
    )
    listed = client.get(URL).content.decode()
    detail = client.get(f"{URL}{body['id']}/").content.decode()
    secret = services.webhook_secret(TrackerConnection.objects.get())
    for text in (json.dumps(body), listed, detail):
        assert GITHUB_TOKEN not in text and secret not in text
        assert "token_encrypted" not in text


def test_programme_leads_manage_connections_and_members_may_not(fake, lead, member):
    assert api(lead).post(URL, github_body(fake), format="json").status_code == 201
    connection = TrackerConnection.objects.get()
    assert api(member).get(URL).status_code == 403
    assert api(member).post(URL, github_body(fake), format="json").status_code == 403
    assert api(member).delete(f"{URL}{connection.pk}/").status_code == 403
    assert api(member).post(f"{URL}{connection.pk}/test/").status_code == 403
    assert APIClient().get(URL).status_code in (401, 403)


def test_defaults_fill_the_github_address_and_the_jira_issue_type(admin_user):
    client = api(admin_user)
    body = {"provider": "github", "name": "GH", "target": "acme/app", "token": "t0ken"}
    assert client.post(URL, body, format="json").json()["base_url"] == "https://api.github.com"
    jira = {
        "provider": "jira",
        "name": "Jira",
        "base_url": "https://acme.atlassian.net/",
        "target": "OPS",
        "email": JIRA_EMAIL,
        "token": JIRA_TOKEN,
        "team": None,
    }
    # One connection for all teams only: the Jira one applies to a team.
    from tests.factories import TeamFactory

    TeamFactory(slug="ops")
    created = client.post(URL, {**jira, "team": "ops"}, format="json").json()
    assert created["issue_type"] == "Task" and created["base_url"] == "https://acme.atlassian.net"


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"base_url": "ftp://example.com"}, "base_url", "http(s)"),
        ({"base_url": "https://user:pass@api.github.com"}, "base_url", "credentials"),
        ({"base_url": "https://api.github.com/?x=1"}, "base_url", "query"),
        ({"base_url": "javascript:alert(1)"}, "base_url", "http(s)"),
        ({"base_url": "https://a\x00b"}, "base_url", "Null"),
        ({"target": "not a repo"}, "target", "owner/repository"),
        ({"target": "../../etc"}, "target", "owner/repository"),
        ({"token": ""}, "token", "API token"),
        ({"token": "has spaces in it"}, "token", "without spaces"),
        ({"token": "line\nbreak"}, "token", "without spaces"),
        ({"webhook_secret": "short"}, "webhook_secret", "16"),
        ({"provider": "bitbucket"}, "provider", "valid choice"),
        ({"team": "no-such-team"}, "team", "not exist"),
        ({"name": "   "}, "name", "blank"),
        ({"name": "a\ud800b"}, "name", "Surrogate"),
        ({"target": "acme/\ud800"}, "target", "Surrogate"),
        ({"base_url": "https://\ud800.example"}, "base_url", "Surrogate"),
        ({"token": "tok\ud800en"}, "token", "Surrogate"),
    ],
)
def test_bad_settings_are_400_with_the_field(fake, admin_user, overrides, field, words):
    # json.dumps escapes lone surrogates (\ud800) as a client's JSON would.
    body = json.dumps(github_body(fake, **overrides))
    response = api(admin_user).post(URL, body, content_type="application/json")
    assert response.status_code == 400, response.json()
    assert field in response.json(), response.json()
    assert words in " ".join(response.json()[field])
    assert not TrackerConnection.objects.exists()


def test_jira_needs_an_email_and_a_project_key(admin_user):
    body = {"provider": "jira", "name": "J", "target": "lowercase", "token": "t"}
    response = api(admin_user).post(URL, body, format="json")
    assert response.status_code == 400
    assert set(response.json()) >= {"email", "target", "base_url"}
    body |= {"email": "not-an-address", "target": "OPS", "base_url": "https://a.atlassian.net"}
    response = api(admin_user).post(URL, body, format="json")
    assert response.status_code == 400 and list(response.json()) == ["email"]


def test_one_connection_per_team_and_one_for_all(fake, admin_user, team):
    client = api(admin_user)
    assert client.post(URL, github_body(fake), format="json").status_code == 201
    again = client.post(URL, github_body(fake), format="json")
    assert again.status_code == 400 and "all teams exists" in again.json()["team"][0]
    assert client.post(URL, github_body(fake, team="recsys"), format="json").status_code == 201
    twice = client.post(URL, github_body(fake, team="recsys"), format="json")
    assert "Recommendations has a connection" in twice.json()["team"][0]


def test_a_partial_update_keeps_the_token_and_cannot_change_the_provider(fake, admin_user):
    client = api(admin_user)
    created = client.post(URL, github_body(fake), format="json").json()
    url = f"{URL}{created['id']}/"
    renamed = client.patch(url, {"name": "Renamed"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed"
    connection = TrackerConnection.objects.get()
    assert services.client_for(connection).session.auth.token == GITHUB_TOKEN
    assert client.patch(url, {"token": "new-token"}, format="json").status_code == 200
    connection.refresh_from_db()
    assert services.client_for(connection).session.auth.token == "new-token"
    moved = client.patch(url, {"provider": "gitlab"}, format="json")
    assert moved.status_code == 400 and "cannot change" in moved.json()["provider"][0]


def test_the_webhook_secret_may_be_set_and_is_kept(fake, admin_user):
    client = api(admin_user)
    created = client.post(
        URL, github_body(fake, webhook_secret=WEBHOOK_SECRET), format="json"
    ).json()
    client.patch(f"{URL}{created['id']}/", {"name": "x"}, format="json")
    assert services.webhook_secret(TrackerConnection.objects.get()) == WEBHOOK_SECRET


def test_a_connection_without_a_webhook_secret_gets_a_random_one(fake, admin_user):
    api(admin_user).post(URL, github_body(fake), format="json")
    assert len(services.webhook_secret(TrackerConnection.objects.get())) >= 32


def test_testing_a_connection_reads_the_repository(fake, admin_user):
    client = api(admin_user)
    created = client.post(URL, github_body(fake), format="json").json()
    tested = client.post(f"{URL}{created['id']}/test/")
    assert tested.status_code == 200
    assert tested.json() == {
        "ok": True,
        "detail": "GitHub repository acme/ml-platform is reachable.",
    }
    assert fake.seen[-1].method == "GET"
    client.patch(f"{URL}{created['id']}/", {"token": "wrong"}, format="json")
    refused = client.post(f"{URL}{created['id']}/test/")
    assert refused.status_code == 502 and refused.json()["code"] == "tracker_auth"
    assert client.get(f"{URL}{created['id']}/").json()["last_error"].startswith("GitHub refused")


def test_a_rate_limited_test_passes_on_retry_after(fake, admin_user):
    client = api(admin_user)
    created = client.post(URL, github_body(fake), format="json").json()
    fake.limit(status=429, retry_after="42")
    response = client.post(f"{URL}{created['id']}/test/")
    assert response.status_code == 503 and response["Retry-After"] == "42"


def test_creating_without_an_encryption_key_is_refused_clearly(fake, admin_user, settings):
    settings.TRACKER_ENCRYPTION_KEY = ""
    response = api(admin_user).post(URL, github_body(fake), format="json")
    assert response.status_code == 409 and response.json()["code"] == "not_configured"
    assert "TRACKER_ENCRYPTION_KEY is not set" in response.json()["detail"]


def test_deleting_a_connection_stops_its_sync_and_keeps_the_actions_link(
    fake, admin_user, action, manager, connect
):
    connection = connect("github")
    services.action_push(action, by=manager)
    assert api(admin_user).delete(f"{URL}{connection.pk}/").status_code == 204
    action.refresh_from_db()
    assert action.external_url.endswith("/issues/1")
    assert not TrackerConnection.objects.exists()


def test_a_new_api_address_needs_the_token_again(fake, lead, connect):
    """A stored token only goes where it was entered for: moving the connection to another
    host (say, one that collects tokens) takes knowing the token."""
    connection = connect("github")
    url = f"{URL}{connection.pk}/"
    moved = api(lead).patch(url, {"base_url": "https://collector.example"}, format="json")
    assert moved.status_code == 400 and "token again" in moved.json()["token"][0]
    connection.refresh_from_db()
    assert connection.base_url == fake.github_url
    same = api(lead).patch(url, {"base_url": fake.github_url + "/"}, format="json")
    assert same.status_code == 200
    with_token = {"base_url": "https://ghe.example/api/v3", "token": "another-token"}
    assert api(lead).patch(url, with_token, format="json").status_code == 200


@pytest.mark.parametrize(
    "address",
    [
        "http://127.0.0.1:8080",
        "http://localhost",
        "http://169.254.169.254",
        "http://[::1]:9000",
        "http://2130706433",
        "http://10.1.2.3/api/v4",
    ],
)
def test_a_trackers_address_must_be_public_unless_allowed(admin_user, settings, address):
    settings.TRACKER_ALLOW_PRIVATE = False
    body = {"provider": "gitlab", "name": "GL", "base_url": address, "target": "1", "token": "t"}
    response = api(admin_user).post(URL, body, format="json")
    assert response.status_code == 400 and "base_url" in response.json()
    assert not TrackerConnection.objects.exists()


def test_a_saved_connection_whose_address_turned_private_is_refused_at_each_request(
    fake, connect, admin_user, settings
):
    connection = connect("github")  # saved while private addresses were allowed
    settings.TRACKER_ALLOW_PRIVATE = False
    response = api(admin_user).post(f"{URL}{connection.pk}/test/")
    assert response.status_code in (400, 409, 502), response.content
    assert "address was refused" in json.dumps(response.json())
    assert fake.requests_to("/github/repos/acme/ml-platform") == []
