"""Settings refuse unsafe production values; probes report what is down."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from tests.conftest import require

ROOT = Path(__file__).resolve().parent.parent
GOOD_KEY = "k3y-" + "x7Qm9vLp2R" * 6


def run_deploy_check(**env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "SECRET_KEY",
            "ALLOWED_HOSTS",
            "DJANGO_SETTINGS_MODULE",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    environment.update(DJANGO_SETTINGS_MODULE="config.settings.production", **env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_secret_key():
    result = run_deploy_check(ALLOWED_HOSTS="maturity.example.com")
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set in production." in result.stderr


def test_production_refuses_an_insecure_secret_key():
    result = run_deploy_check(SECRET_KEY="short", ALLOWED_HOSTS="maturity.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY is unsafe" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts():
    result = run_deploy_check(SECRET_KEY=GOOD_KEY)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must be set in production." in result.stderr


def test_production_refuses_wildcard_allowed_hosts():
    result = run_deploy_check(SECRET_KEY=GOOD_KEY, ALLOWED_HOSTS="*")
    assert result.returncode != 0
    assert "not '*'" in result.stderr


def test_check_deploy_is_clean_with_production_settings():
    # Without a tracker key the check warns (trackers.W001, tests/trackers/test_crypto.py).
    result = run_deploy_check(
        SECRET_KEY=GOOD_KEY,
        ALLOWED_HOSTS="maturity.example.com",
        TRACKER_ENCRYPTION_KEY="x7Qm9vLp2Rk3y4x7Qm9vLp2Rk3y4x7Qm9vLp2Rk3y4A=",
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_ok_when_database_is_up_and_tasks_run_eagerly(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "eager"}


@pytest.mark.django_db
@override_settings(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL="redis://127.0.0.1:9/0")
def test_readyz_reports_a_down_broker_with_503(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"] == {"database": "ok", "broker": "down"}
    assert "broker" in body["errors"]


@pytest.mark.django_db
def test_readyz_is_ok_with_a_reachable_broker(client, settings):
    redis_url = os.environ.get("REDIS_URL", "")
    require(bool(redis_url), "needs a real Redis (set REDIS_URL)")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = redis_url
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


def _production_shell(code: str, **env: str) -> str:
    """Run ``code`` in `manage.py shell` under production settings; return its last line."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    environment.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=GOOD_KEY,
        ALLOWED_HOSTS="maturity.example.com",
        **env,
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[-1]


def test_export_files_go_to_an_s3_bucket_when_one_is_configured():
    show = (
        "from django.core.files.storage import storages; s = storages['exports'];"
        "print(type(s).__module__, type(s).__name__, s.bucket_name, s.endpoint_url,"
        " s.location, s.default_acl, s.querystring_auth)"
    )
    shown = _production_shell(
        show,
        EXPORT_S3_BUCKET="maturity-exports",
        EXPORT_S3_ENDPOINT_URL="http://127.0.0.1:9000",
        EXPORT_S3_PREFIX="prod",
    )
    assert shown.split() == [
        "storages.backends.s3",
        "S3Storage",
        "maturity-exports",
        "http://127.0.0.1:9000",
        "prod",
        "private",
        "True",
    ]


def test_postgresql_connections_persist_and_are_checked_before_reuse():
    """A connection per request forked a PostgreSQL backend per request (issue 17: the
    autosave's p50 under load fell from 62-245 ms to 44-58 ms without it); CONN_MAX_AGE
    still overrides it, and SQLite keeps Django's default."""
    show = (
        "from django.conf import settings; d = settings.DATABASES['default'];"
        "print(d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])"
    )
    postgres = "postgres://postgres@127.0.0.1:5432/unused"
    assert _production_shell(show, DATABASE_URL=postgres) == "60 True"
    assert _production_shell(show, DATABASE_URL=postgres, CONN_MAX_AGE="0") == "0 True"
    assert _production_shell(show, DATABASE_URL="sqlite:///unused.sqlite3") == "0 True"


def test_passwords_are_hashed_with_argon2id_and_older_hashes_still_verify():
    show = "from django.conf import settings; print(' '.join(settings.PASSWORD_HASHERS))"
    hashers = _production_shell(show).split()
    assert hashers[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    assert "django.contrib.auth.hashers.PBKDF2PasswordHasher" in hashers


def test_importing_the_wsgi_application_opens_no_database_connection():
    """config.wsgi builds the URL resolver (every view imported) in gunicorn's master,
    before the workers fork: a connection opened there would be shared by the forks."""
    code = (
        "import sys; before = 'reports.views' in sys.modules; import config.wsgi;"
        "from django.db import connections;"
        "print(before, 'reports.views' in sys.modules,"
        " [c.alias for c in connections.all(initialized_only=True) if c.connection])"
    )
    assert _production_shell(code) == "False True []"


@pytest.mark.django_db
def test_signing_in_rehashes_an_older_password_hash_with_argon2(client):
    from django.contrib.auth.models import User

    with override_settings(
        PASSWORD_HASHERS=[
            "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        ]
    ):
        user = User.objects.create_user("legacy", password="an-old-passphrase-2019")
    assert user.password.startswith("pbkdf2_sha256$")
    with override_settings(
        PASSWORD_HASHERS=[
            "django.contrib.auth.hashers.Argon2PasswordHasher",
            "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        ]
    ):
        response = client.post(
            "/accounts/login/", {"username": "legacy", "password": "an-old-passphrase-2019"}
        )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$")
