"""Login lockout, Content-Security-Policy and the audit trail of changes."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry
from django.urls import reverse

from surveys.models import Survey
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_pages_send_a_strict_content_security_policy(client):
    policy = client.get(reverse("login"))["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]


def test_repeated_failed_logins_lock_the_account(client):
    UserFactory(username="victim", password="the-right-password")
    for _ in range(4):
        response = client.post(reverse("login"), {"username": "victim", "password": "guess"})
        assert response.status_code == 200  # the form again, with an error
    fifth = client.post(reverse("login"), {"username": "victim", "password": "guess"})
    assert fifth.status_code == 429
    locked = client.post(reverse("login"), {"username": "victim", "password": "the-right-password"})
    assert locked.status_code == 429
    assert "Too many failed log-ins" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_correct_password_still_works_below_the_limit(client):
    UserFactory(username="careful", password="the-right-password")
    client.post(reverse("login"), {"username": "careful", "password": "typo"})
    response = client.post(
        reverse("login"), {"username": "careful", "password": "the-right-password"}
    )
    assert response.status_code == 302 and "_auth_user_id" in client.session


def test_changes_to_surveys_are_audited_with_who_did_them(client, admin_user, survey):
    client.force_login(admin_user)
    url = reverse("admin:surveys_survey_changelist")
    client.post(url, {"action": "close_surveys", "_selected_action": [survey.pk]})
    entry = LogEntry.objects.get_for_object(Survey.objects.get(pk=survey.pk)).first()
    assert entry is not None
    assert entry.actor == admin_user
    assert entry.changes_dict["status"] == ["open", "closed"]
