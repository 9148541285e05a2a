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
    result = run_deploy_check(SECRET_KEY=GOOD_KEY, ALLOWED_HOSTS="maturity.example.com")
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


def test_export_files_go_to_an_s3_bucket_when_one_is_configured():
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    environment.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=GOOD_KEY,
        ALLOWED_HOSTS="maturity.example.com",
        EXPORT_S3_BUCKET="maturity-exports",
        EXPORT_S3_ENDPOINT_URL="http://127.0.0.1:9000",
        EXPORT_S3_PREFIX="prod",
    )
    show = (
        "from django.core.files.storage import storages; s = storages['exports'];"
        "print(type(s).__module__, type(s).__name__, s.bucket_name, s.endpoint_url,"
        " s.location, s.default_acl, s.querystring_auth)"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", show],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == [
        "storages.backends.s3",
        "S3Storage",
        "maturity-exports",
        "http://127.0.0.1:9000",
        "prod",
        "private",
        "True",
    ]
