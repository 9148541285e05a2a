"""The console's Webhooks pages (/manage/webhooks/): who may use them, registering,
changing, deleting, the delivery log and "Deliver again"; errors are forms, not 500s."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from common.events import EVENTS
from notifications import services
from notifications.models import Webhook, WebhookDelivery
from tests.notifications.conftest import SECRET

pytestmark = pytest.mark.django_db

PAGE = "/manage/webhooks/"


def form(url: str, **changes) -> dict:
    return {
        "url": url,
        "secret": SECRET,
        "events": ["scores.updated", "team.level_changed"],
        "format": "json",
        "active": "on",
        **changes,
    }


@pytest.fixture
def webhook(receiver) -> Webhook:
    return services.webhook_create(url=receiver.url(), secret=SECRET, events=EVENTS, by=None)


def test_who_may_use_the_webhooks_pages(client, webhook, member, manager, lead, admin_user):
    response = client.get(PAGE)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    for person in (member, manager):
        client.force_login(person)
        assert client.get(PAGE).status_code == 403
        assert client.get(f"{PAGE}{webhook.pk}/").status_code == 403
        assert client.post(f"{PAGE}{webhook.pk}/delete/").status_code == 403
    assert Webhook.objects.exists()
    for person in (lead, admin_user):
        client.force_login(person)
        assert client.get(PAGE).status_code == 200
    # The console's home leads here.
    assert f'href="{PAGE}"' in client.get("/manage/").content.decode()


def test_registering_a_webhook_and_never_seeing_its_secret_again(client, lead, receiver):
    client.force_login(lead)
    response = client.post(PAGE, form(receiver.url()))
    webhook = Webhook.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{PAGE}{webhook.pk}/"
    assert webhook.events == ["scores.updated", "team.level_changed"] and webhook.active
    assert webhook.secret == SECRET and webhook.created_by == lead
    for path in (PAGE, f"{PAGE}{webhook.pk}/"):
        page = client.get(path).content.decode()
        assert SECRET not in page
    assert "…ough" in page and "Nothing delivered yet" in page


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"secret": "short"}, "at least 16 characters"),
        ({"events": []}, "This field is required"),
        ({"events": ["nope"]}, "Select a valid choice"),
        ({"url": "https://u:p@hooks.example.com/"}, "user name or password"),
        ({"url": "ftp://hooks.example.com/"}, "must start with https://"),
        ({"url": "https://no-such-host.invalid/"}, "could not be resolved"),
        ({"format": "xml"}, "Select a valid choice"),
    ],
)
def test_bad_input_comes_back_on_the_form(client, lead, receiver, changes, message):
    client.force_login(lead)
    response = client.post(PAGE, {**form(receiver.url()), **changes})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Webhook.objects.exists()


@override_settings(WEBHOOK_ALLOW_PRIVATE=False)
def test_an_inside_address_is_refused_on_the_form(client, admin_user):
    client.force_login(admin_user)
    response = client.post(PAGE, form("http://localhost:8080/hook"))
    assert response.status_code == 400
    assert "only sent to public internet addresses" in response.content.decode()
    assert not Webhook.objects.exists()


def test_changing_events_format_and_state_keeps_the_secret(client, lead, webhook, receiver):
    client.force_login(lead)
    path = f"{PAGE}{webhook.pk}/"
    changes = {"url": receiver.url(), "secret": "", "events": ["action.overdue"], "format": "slack"}
    response = client.post(path, changes)  # "active" not ticked: paused
    assert response.status_code == 302
    webhook.refresh_from_db()
    assert (webhook.events, webhook.format, webhook.active) == (["action.overdue"], "slack", False)
    assert webhook.secret == SECRET
    assert "paused" in client.get(path).content.decode()
    client.post(path, {**changes, "secret": "another-long-secret", "active": "on"})
    webhook.refresh_from_db()
    assert webhook.secret == "another-long-secret" and webhook.active


def test_the_delivery_log_shows_what_receivers_said_escaped_and_delivers_again(
    client, lead, webhook, receiver, django_capture_on_commit_callbacks
):
    from tests.notifications.conftest import Answer

    receiver.answer(Answer(400, body=b"<script>alert(1)</script>"))
    with django_capture_on_commit_callbacks(execute=True):
        services.deliveries_create(event="scores.updated", payload={"teams": []})
    delivery = WebhookDelivery.objects.get()
    client.force_login(lead)
    page = client.get(f"{PAGE}{webhook.pk}/").content.decode()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "The receiver answered 400." in page and "failed" in page
    redeliver = f"{PAGE}{webhook.pk}/deliveries/{delivery.pk}/redeliver/"
    assert client.get(redeliver).status_code == 405
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(redeliver)
    assert response.status_code == 302
    again = WebhookDelivery.objects.exclude(pk=delivery.pk).get()
    assert again.redelivery_of == delivery and again.status == "succeeded"
    assert "again, by lena" in client.get(f"{PAGE}{webhook.pk}/").content.decode()
    # Another webhook's delivery is not found through this one.
    assert (
        client.post(f"{PAGE}{webhook.pk + 1}/deliveries/{delivery.pk}/redeliver/").status_code
        == 404
    )


def test_forms_need_their_csrf_token(lead, webhook, receiver):
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)
    assert client.post(PAGE, form(receiver.url())).status_code == 403
    assert client.post(f"{PAGE}{webhook.pk}/delete/").status_code == 403
    assert Webhook.objects.count() == 1


def test_deleting_a_webhook(client, admin_user, webhook):
    client.force_login(admin_user)
    assert client.get(f"{PAGE}{webhook.pk}/delete/").status_code == 405
    response = client.post(f"{PAGE}{webhook.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == PAGE
    assert not Webhook.objects.exists()
    assert client.get(f"{PAGE}{webhook.pk}/").status_code == 404
