"""Credentials at rest (trackers.crypto): encrypted under TRACKER_ENCRYPTION_KEY, rotated
with MultiFernet, never readable in the database; the settings checks."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection as db

from tests.trackers.conftest import GITHUB_TOKEN, WEBHOOK_SECRET
from trackers import checks, crypto, services
from trackers.models import TrackerConnection

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def stored_columns(connection: TrackerConnection) -> tuple[str, str]:
    table = TrackerConnection._meta.db_table
    with db.cursor() as cursor:
        cursor.execute(
            f"SELECT token_encrypted, webhook_secret_encrypted FROM {table} WHERE id = %s",  # noqa: S608
            [connection.pk],
        )
        return cursor.fetchone()


@pytest.mark.django_db
def test_the_database_never_holds_the_token_or_the_secret(fake, connect):
    connection = connect("github")
    token, secret = stored_columns(connection)
    assert GITHUB_TOKEN not in token and WEBHOOK_SECRET not in secret
    assert crypto.decrypt(token) == GITHUB_TOKEN
    assert services.webhook_secret(connection) == WEBHOOK_SECRET


@pytest.mark.django_db
def test_the_audit_log_never_records_the_secrets(fake, connect):
    from auditlog.models import LogEntry

    connection = connect("github")
    entry = LogEntry.objects.get_for_object(connection).get()
    assert "token_encrypted" not in entry.changes_dict
    assert "webhook_secret_encrypted" not in entry.changes_dict
    assert GITHUB_TOKEN not in str(entry.changes) and entry.changes_dict["target"]


@pytest.mark.django_db
def test_a_second_key_rotates_without_losing_anything(fake, connect, settings, action, manager):
    settings.TRACKER_ENCRYPTION_KEY = OLD_KEY
    connection = connect("github")
    settings.TRACKER_ENCRYPTION_KEY = f"{NEW_KEY},{OLD_KEY}"
    # Both keys open the old secrets: pushing works before the rotation.
    assert services.action_push(action, by=manager).created
    out = io.StringIO()
    call_command("rotate_tracker_keys", stdout=out)
    assert "Re-encrypted the secrets of 1 connection(s)." in out.getvalue()
    settings.TRACKER_ENCRYPTION_KEY = NEW_KEY  # the old key dropped
    connection.refresh_from_db()
    assert crypto.decrypt(connection.token_encrypted) == GITHUB_TOKEN
    assert services.webhook_secret(connection) == WEBHOOK_SECRET
    assert "reachable" in services.connection_test(connection)


@pytest.mark.django_db
def test_a_dropped_key_is_a_clear_error_not_a_crash(fake, connect, settings, action, manager):
    settings.TRACKER_ENCRYPTION_KEY = OLD_KEY
    connect("github")
    settings.TRACKER_ENCRYPTION_KEY = NEW_KEY
    with pytest.raises(services.TrackerError) as refused:
        services.action_push(action, by=manager)
    assert refused.value.code == "credentials_unreadable"
    assert "enter the token" in refused.value.message
    with pytest.raises(CommandError, match="github backlog"):
        call_command("rotate_tracker_keys", stdout=io.StringIO())


@pytest.mark.django_db
def test_without_a_key_nothing_can_be_connected(fake, settings):
    from tests.trackers.conftest import settings_for

    settings.TRACKER_ENCRYPTION_KEY = ""
    with pytest.raises(services.TrackerError) as refused:
        services.connection_create(values=settings_for(fake, "github"), by=None)
    assert refused.value.code == "not_configured" and refused.value.status_code == 409
    assert "TRACKER_ENCRYPTION_KEY is not set" in refused.value.message
    assert not TrackerConnection.objects.exists()


def test_the_settings_check_warns_without_a_key_and_fails_a_bad_one(settings):
    settings.TRACKER_ENCRYPTION_KEY = ""
    [warning] = checks.encryption_key_usable()
    assert warning.id == "trackers.W001" and "Fernet.generate_key" in warning.hint
    settings.TRACKER_ENCRYPTION_KEY = f"{NEW_KEY},not-a-key"
    [error] = checks.encryption_key_usable()
    assert error.id == "trackers.E001" and "Key 2" in error.msg
    settings.TRACKER_ENCRYPTION_KEY = f" {NEW_KEY} , {OLD_KEY} "
    assert checks.encryption_key_usable() == []
    assert checks.encryption_key_not_public() == []


def test_check_deploy_warns_about_the_public_development_key(settings):
    settings.TRACKER_ENCRYPTION_KEY = f"{NEW_KEY},{settings.DEV_TRACKER_ENCRYPTION_KEY}"
    [warning] = checks.encryption_key_not_public()
    assert warning.id == "trackers.W002"


def test_manage_py_check_warns_without_a_key():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    # The shared settings, as production reads them: no development key.
    environment = {
        **os.environ,
        "TRACKER_ENCRYPTION_KEY": "",
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "trackers.W001" in result.stderr + result.stdout
