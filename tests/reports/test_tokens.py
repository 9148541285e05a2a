"""API tokens: created once by a command, stored hashed, expiring, revocable, throttled."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient, APIRequestFactory

from common.api import TokenRateThrottle
from reports.authentication import api_token_create, api_token_revoke
from reports.models import ApiToken

pytestmark = pytest.mark.django_db


def client_with(key: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def test_command_prints_the_key_once_and_stores_only_its_hash(admin_user):
    out, err = StringIO(), StringIO()
    call_command(
        "create_api_token",
        "admin",
        "--name",
        "nightly",
        "--expires-in",
        "30",
        stdout=out,
        stderr=err,
    )
    key = out.getvalue().strip()
    token = ApiToken.objects.get()
    assert token.name == "nightly"
    assert token.user == admin_user
    assert key.startswith(token.prefix + ".")
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in str(ApiToken.objects.values().get())
    assert abs(token.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert "shown only once" in err.getvalue()
    assert client_with(key).get("/api/v1/teams/").status_code == 200


def test_command_refuses_unknown_users_and_bad_expiry(admin_user):
    with pytest.raises(CommandError, match="No user 'ghost'"):
        call_command("create_api_token", "ghost", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="between 1 and 36500"):
        call_command(
            "create_api_token", "admin", "--expires-in", "0", stdout=StringIO(), stderr=StringIO()
        )
    assert not ApiToken.objects.exists()


def test_token_authenticates_as_its_user_and_records_last_use(member, team):
    token, key = api_token_create(user=member, name="ci")
    assert token.last_used_at is None
    response = client_with(key).get("/api/v1/teams/")
    assert response.status_code == 200
    assert [t["slug"] for t in response.json()["results"]] == [team.slug]
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_an_unexpired_token_works_and_its_last_use_is_written_once_a_minute(member):
    token, key = api_token_create(user=member, expires_in=timedelta(hours=1))
    client = client_with(key)
    assert client.get("/api/v1/teams/").status_code == 200
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    assert client.get("/api/v1/teams/").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at == first  # used again within the minute: not rewritten
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    assert client.get("/api/v1/teams/").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at >= first


@pytest.mark.parametrize(
    ("make_key", "code"),
    [
        (lambda key: key[:-1] + ("A" if key[-1] != "A" else "B"), "invalid_token"),
        (lambda key: "deadbeef.nothing", "invalid_token"),
        (lambda key: "no-dot-at-all", "invalid_token"),
        (lambda key: key + " extra", "invalid_token"),
    ],
)
def test_wrong_keys_are_401_json(member, make_key, code):
    _, key = api_token_create(user=member)
    response = client_with(make_key(key)).get("/api/v1/teams/")
    assert response.status_code == 401
    assert response.json()["code"] == code
    assert response["WWW-Authenticate"].startswith("Token")


def test_expired_and_revoked_tokens_are_401_json(member):
    expired, expired_key = api_token_create(user=member, expires_in=timedelta(seconds=-1))
    revoked, revoked_key = api_token_create(user=member)
    api_token_revoke(token=revoked)
    for key, code in [(expired_key, "token_expired"), (revoked_key, "token_revoked")]:
        response = client_with(key).get("/api/v1/surveys/")
        assert response.status_code == 401, response.content
        assert response.json()["code"] == code
    assert not ApiToken.objects.filter(last_used_at__isnull=False).exists()


def test_inactive_users_tokens_are_refused(member):
    _, key = api_token_create(user=member)
    member.is_active = False
    member.save()
    response = client_with(key).get("/api/v1/teams/")
    assert response.status_code == 401
    assert response.json()["code"] == "user_inactive"


def test_no_credentials_is_403_not_authenticated():
    response = APIClient().get("/api/v1/teams/")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
    }


def test_tokens_of_non_admins_cannot_export(member, survey):
    _, key = api_token_create(user=member)
    response = client_with(key).get(f"/api/v1/exports/answers/?survey={survey.pk}")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_token_throttle_counts_each_token_separately(member, settings):
    first, _ = api_token_create(user=member, name="a")
    second, _ = api_token_create(user=member, name="b")
    throttle = TokenRateThrottle()
    throttle.rate = "2/min"
    throttle.num_requests, throttle.duration = throttle.parse_rate(throttle.rate)

    def request_with(token):
        request = APIRequestFactory().get("/api/v1/teams/")
        request.auth = token
        request.user = member
        return request

    from django.core.cache import cache

    cache.clear()
    clock = [6_000_000.0]  # the start of a one-minute window
    throttle.timer = lambda: clock[0]
    assert throttle.allow_request(request_with(first), None)
    clock[0] += 30
    assert throttle.allow_request(request_with(first), None)
    assert not throttle.allow_request(request_with(first), None)
    assert throttle.wait() == 30  # until the window ends
    assert throttle.allow_request(request_with(second), None)
    clock[0] += 30  # the next window counts afresh
    assert throttle.allow_request(request_with(first), None)
    # session requests (no token) are left to the per-user throttle
    assert throttle.get_cache_key(request_with(None), None) is None


@pytest.mark.parametrize(
    ("rates", "limited_by"),
    [
        ({"user": "2/hour", "anon": "2/hour", "token": "100/hour"}, "user"),
        ({"user": "100/hour", "anon": "2/hour", "token": "2/hour"}, "token"),
    ],
)
def test_throttled_requests_get_429_with_retry_after(member, monkeypatch, rates, limited_by):
    from django.core.cache import cache
    from rest_framework.throttling import SimpleRateThrottle
    from rest_framework.views import APIView

    from common.api import ApiRateThrottle

    cache.clear()
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    # the test settings switch throttling off; switch on what production configures
    monkeypatch.setattr(APIView, "throttle_classes", [ApiRateThrottle])
    _, key = api_token_create(user=member)
    client = client_with(key)
    assert client.get("/api/v1/teams/").status_code == 200
    assert client.get("/api/v1/teams/").status_code == 200
    response = client.get("/api/v1/teams/")
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= 3600
    if limited_by == "token":  # another token of the same user has its own count
        _, other_key = api_token_create(user=member)
        assert client_with(other_key).get("/api/v1/teams/").status_code == 200
    cache.clear()


def test_throttle_lets_requests_through_when_redis_is_down(member, settings):
    from common.api import ApiRateThrottle

    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    throttle = TokenRateThrottle()
    throttle.rate = "1/min"
    throttle.num_requests, throttle.duration = throttle.parse_rate(throttle.rate)
    token, _ = api_token_create(user=member)
    request = APIRequestFactory().get("/api/v1/teams/")
    request.auth, request.user = token, member
    assert throttle.allow_request(request, None)
    assert throttle.allow_request(request, None)
    combined = ApiRateThrottle()
    combined.throttles[-1] = throttle
    assert combined.allow_request(request, None)


def test_admin_revoke_action_revokes_tokens(admin_user, member):
    token, key = api_token_create(user=member)
    browser = Client()
    browser.force_login(admin_user)
    response = browser.post(
        "/admin/reports/apitoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
        follow=True,
    )
    assert response.status_code == 200
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert client_with(key).get("/api/v1/teams/").status_code == 401
    assert browser.get(f"/admin/reports/apitoken/{token.pk}/change/").status_code == 200
    assert browser.get("/admin/reports/apitoken/add/").status_code == 403
