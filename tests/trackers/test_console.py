"""The console's "Issue trackers" pages (/manage/trackers/)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.trackers.conftest import GITHUB_TOKEN
from trackers import services
from trackers.models import TrackerConnection

pytestmark = pytest.mark.django_db


def form(fake, **overrides) -> dict:
    return {
        "provider": "github",
        "name": "Platform backlog",
        "base_url": fake.github_url,
        "target": "acme/ml-platform",
        "token": GITHUB_TOKEN,
        "team": "",
        **overrides,
    }


def test_a_lead_connects_tests_edits_and_deletes_a_tracker(fake, client, lead):
    client.force_login(lead)
    listing = client.get(reverse("console-trackers"))
    assert listing.status_code == 200 and "No tracker connected yet." in listing.content.decode()
    created = client.post(reverse("console-tracker-new"), form(fake))
    connection = TrackerConnection.objects.get()
    assert created.status_code == 302 and created["Location"] == reverse(
        "console-tracker", args=[connection.pk]
    )
    shown = client.get(created["Location"])
    assert "no-store" in shown["Cache-Control"]  # it shows the webhook secret
    page = shown.content.decode()
    assert "is connected" in page and services.webhook_url(connection) in page
    assert GITHUB_TOKEN not in page  # write-only
    assert services.webhook_secret(connection) in page  # to paste into GitHub
    tested = client.post(reverse("console-tracker-test", args=[connection.pk]), follow=True)
    assert "GitHub repository acme/ml-platform is reachable." in tested.content.decode()
    edited = client.post(
        reverse("console-tracker", args=[connection.pk]),
        form(fake, name="Renamed", token="", provider=""),
    )
    assert edited.status_code == 302
    connection.refresh_from_db()
    assert connection.name == "Renamed" and connection.provider == "github"
    assert services.client_for(connection).session.auth.token == GITHUB_TOKEN  # kept
    listed = client.get(reverse("console-trackers")).content.decode()
    assert "Renamed" in listed and "every team" in listed
    deleted = client.post(reverse("console-tracker-delete", args=[connection.pk]))
    assert deleted.status_code == 302 and not TrackerConnection.objects.exists()


def test_bad_settings_come_back_on_the_form(fake, client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("console-tracker-new"),
        form(fake, base_url="https://me:pw@api.github.com", target="nope", token=""),
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert "Leave credentials out of the address" in text
    assert "Enter owner/repository" in text and "Enter the API token." in text
    assert not TrackerConnection.objects.exists()


def test_a_failed_test_shows_the_trackers_refusal(fake, client, admin_user, connect):
    connection = connect("github", token="wrong")
    client.force_login(admin_user)
    response = client.post(reverse("console-tracker-test", args=[connection.pk]), follow=True)
    assert "GitHub refused the credentials" in response.content.decode()
    assert "Last error" in response.content.decode()


def test_without_an_encryption_key_the_console_says_why(fake, client, admin_user, settings):
    settings.TRACKER_ENCRYPTION_KEY = ""
    client.force_login(admin_user)
    assert (
        "TRACKER_ENCRYPTION_KEY is not set"
        in client.get(reverse("console-trackers")).content.decode()
    )
    response = client.post(reverse("console-tracker-new"), form(fake))
    assert response.status_code == 400
    assert "TRACKER_ENCRYPTION_KEY is not set" in response.content.decode()
    assert not TrackerConnection.objects.exists()


def test_only_those_who_run_the_programme_reach_the_pages(fake, client, manager, connect):
    connection = connect("github")
    urls = [
        ("get", reverse("console-trackers")),
        ("get", reverse("console-tracker-new")),
        ("get", reverse("console-tracker", args=[connection.pk])),
        ("post", reverse("console-tracker-test", args=[connection.pk])),
        ("post", reverse("console-tracker-delete", args=[connection.pk])),
    ]
    for method, url in urls:
        assert getattr(client, method)(url).status_code == 302  # to the login page
    client.force_login(manager)
    for method, url in urls:
        assert getattr(client, method)(url).status_code == 403
    assert TrackerConnection.objects.exists()


def test_console_forms_need_csrf(fake, admin_user, connect):
    from django.test import Client

    connection = connect("github")
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(reverse("console-tracker-delete", args=[connection.pk])).status_code == 403
    assert TrackerConnection.objects.exists()


def test_the_console_home_links_to_the_trackers(client, admin_user):
    client.force_login(admin_user)
    assert reverse("console-trackers") in client.get(reverse("console")).content.decode()
