"""/api/v1/webhooks/: for admins and programme leads only; field errors are 400s; the
secret never comes back; the delivery log and re-delivery."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry
from django.test import override_settings
from rest_framework.test import APIClient

from common.events import EVENTS
from notifications import services
from notifications.models import Webhook, WebhookDelivery
from tests.notifications.conftest import SECRET

pytestmark = pytest.mark.django_db

API = "/api/v1/webhooks/"


@pytest.fixture
def api():
    return APIClient()


def body(url: str, **changes) -> dict:
    return {"url": url, "secret": SECRET, "events": ["scores.updated"], "format": "json", **changes}


@pytest.fixture
def webhook(receiver, admin_user) -> Webhook:
    return services.webhook_create(url=receiver.url(), secret=SECRET, events=EVENTS, by=admin_user)


def test_only_admins_and_programme_leads_may_use_webhooks(
    api, webhook, receiver, member, manager, lead, admin_user
):
    delivery_path = f"{API}{webhook.pk}/deliveries/"
    assert api.get(API).status_code in (401, 403)
    for person in (member, manager):
        api.force_authenticate(person)
        for method, path, data in [
            ("get", API, None),
            ("post", API, body(receiver.url())),
            ("get", f"{API}{webhook.pk}/", None),
            ("patch", f"{API}{webhook.pk}/", {"active": False}),
            ("delete", f"{API}{webhook.pk}/", None),
            ("get", delivery_path, None),
        ]:
            response = getattr(api, method)(path, data, format="json")
            assert response.status_code == 403, (person, method, path)
            assert response.json()["code"] == "permission_denied"
    assert Webhook.objects.count() == 1 and Webhook.objects.get().active
    for person in (lead, admin_user):
        api.force_authenticate(person)
        assert api.get(API).json()["results"][0]["id"] == webhook.pk
        assert api.get(delivery_path).status_code == 200


def test_registering_answers_the_webhook_without_its_secret(api, lead, receiver):
    api.force_authenticate(lead)
    response = api.post(
        API,
        body(receiver.url(), events=["team.level_changed", "scores.updated"], format="slack"),
        format="json",
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert SECRET not in response.content.decode() and "secret" not in data
    assert data["secret_hint"] == "…ough"
    assert data["events"] == ["scores.updated", "team.level_changed"]  # in EVENTS' order
    assert (data["format"], data["active"], data["created_by"]) == ("slack", True, "lena")
    assert (data["consecutive_failures"], data["disabled_at"]) == (0, None)
    stored = Webhook.objects.get()
    assert stored.secret == SECRET and stored.created_by == lead
    assert SECRET not in api.get(f"{API}{stored.pk}/").content.decode()
    # The audit log records the registration, never the secret.
    entry = LogEntry.objects.get_for_object(stored).get()
    assert "secret" not in entry.changes and SECRET not in str(entry.changes)
    assert entry.changes["url"] == ["None", receiver.url()]


LONG = "https://hooks.example.com/" + "a" * 2000


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"url": "not-a-url"}, "url", "must start with https://"),
        ({"url": "not a url"}, "url", "spaces or control characters"),
        ({"url": "ftp://hooks.example.com/"}, "url", "must start with https://"),
        ({"url": "https://user:pw@hooks.example.com/"}, "url", "user name or password"),
        ({"url": LONG}, "url", "no more than 2000 characters"),
        ({"url": "http://127.0.0.1\x00/"}, "url", "Null characters are not allowed"),
        ({"url": "https://no-such-host.invalid/"}, "url", "could not be resolved"),
        ({"url": ["https://a.example/"]}, "url", "Not a valid string"),
        ({"events": []}, "events", "This list may not be empty"),
        ({"events": ["scores.deleted"]}, "events", "is not a valid choice"),
        ({"events": "scores.updated"}, "events", 'Expected a list of items but got type "str"'),
        (
            {"events": ["scores.updated"] * 100},
            "events",
            f"no more than {len(EVENTS) * 2} elements",
        ),
        ({"secret": "fifteen-chars.."}, "secret", "at least 16 characters"),
        ({"secret": "x" * 257}, "secret", "at most 256 characters"),
        ({"secret": "sixteen-chars-\x07!"}, "secret", "printable characters"),
        ({"format": "xml"}, "format", "is not a valid choice"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, admin_user, receiver, changes, field, message):
    api.force_authenticate(admin_user)
    response = api.post(API, {**body(receiver.url()), **changes}, format="json")
    assert response.status_code == 400
    assert message in str(response.json()[field]), response.json()
    assert not Webhook.objects.exists()


def test_a_missing_secret_or_a_body_that_is_not_an_object_is_a_400(api, admin_user, receiver):
    api.force_authenticate(admin_user)
    without = {key: value for key, value in body(receiver.url()).items() if key != "secret"}
    response = api.post(API, without, format="json")
    assert response.status_code == 400 and response.json() == {
        "secret": ["This field is required."]
    }
    response = api.post(API, [1, 2], format="json")
    assert response.status_code == 400 and "non_field_errors" in response.json()


@override_settings(WEBHOOK_ALLOW_PRIVATE=False)
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://2130706433/",
        "http://0x7f.1/",
    ],
)
def test_an_inside_address_is_refused_with_a_400(api, admin_user, url):
    api.force_authenticate(admin_user)
    response = api.post(API, body(url), format="json")
    assert response.status_code == 400
    [message] = response.json()["url"]
    assert "only sent to public internet addresses" in message
    assert not Webhook.objects.exists()


@override_settings(WEBHOOK_ALLOW_PRIVATE=False)
def test_a_public_address_is_accepted(api, admin_user):
    api.force_authenticate(admin_user)
    response = api.post(API, body("https://93.184.215.14/hook"), format="json")
    assert response.status_code == 201, response.json()


def test_a_webhook_is_changed_partially_and_never_replaced(api, lead, webhook, receiver):
    api.force_authenticate(lead)
    path = f"{API}{webhook.pk}/"
    response = api.patch(path, {"events": ["action.overdue"], "format": "teams"}, format="json")
    assert response.status_code == 200
    assert (response.json()["events"], response.json()["format"]) == (["action.overdue"], "teams")
    response = api.patch(path, {"secret": "a-brand-new-secret-value"}, format="json")
    assert response.json()["secret_hint"] == "…alue"
    webhook.refresh_from_db()
    assert webhook.secret == "a-brand-new-secret-value" and webhook.url == receiver.url()
    assert api.patch(path, {"events": []}, format="json").status_code == 400
    assert api.put(path, body(receiver.url()), format="json").status_code == 405
    # Read-only fields are ignored, not written.
    api.patch(path, {"consecutive_failures": 99, "disabled_reason": "x"}, format="json")
    webhook.refresh_from_db()
    assert (webhook.consecutive_failures, webhook.disabled_reason) == (0, "")


def test_making_a_disabled_webhook_active_clears_its_failures(api, admin_user, webhook):
    from django.utils import timezone

    Webhook.objects.filter(pk=webhook.pk).update(
        active=False,
        disabled_at=timezone.now(),
        disabled_reason="10 failed",
        consecutive_failures=10,
    )
    api.force_authenticate(admin_user)
    data = api.patch(f"{API}{webhook.pk}/", {"active": True}, format="json").json()
    assert (data["active"], data["disabled_at"], data["disabled_reason"]) == (True, None, "")
    assert data["consecutive_failures"] == 0


def test_deleting_a_webhook_deletes_its_log(api, admin_user, webhook):
    services.deliveries_create(event="scores.updated", payload={"teams": []})
    api.force_authenticate(admin_user)
    assert api.delete(f"{API}{webhook.pk}/").status_code == 204
    assert not Webhook.objects.exists() and not WebhookDelivery.objects.exists()
    assert api.get(f"{API}{webhook.pk}/").status_code == 404


def test_the_delivery_log_and_a_redelivery(
    api, lead, webhook, receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.deliveries_create(event="scores.updated", payload={"teams": []})
    delivery = WebhookDelivery.objects.get()
    api.force_authenticate(lead)
    log = api.get(f"{API}{webhook.pk}/deliveries/").json()
    [row] = log["results"]
    assert (row["id"], row["event"], row["status"], row["response_code"]) == (
        delivery.pk,
        "scores.updated",
        "succeeded",
        200,
    )
    assert row["payload"] == {"teams": []} and row["event_id"] == str(delivery.event_id)
    path = f"{API}{webhook.pk}/deliveries/{delivery.pk}/redeliver/"
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(path)
    assert response.status_code == 202
    again = response.json()
    assert again["redelivery_of"] == delivery.pk and again["requested_by"] == "lena"
    assert again["event_id"] == str(delivery.event_id)
    assert len(receiver.received) == 2
    log = api.get(f"{API}{webhook.pk}/deliveries/").json()["results"]
    assert [entry["id"] for entry in log] == [again["id"], delivery.pk]
    assert log[0]["status"] == "succeeded"


def test_a_redelivery_must_be_of_this_webhook_and_the_webhook_active(
    api, admin_user, webhook, receiver
):
    other = services.webhook_create(url=receiver.url("/b"), secret=SECRET, events=EVENTS, by=None)
    services.deliveries_create(event="scores.updated", payload={"teams": []})
    theirs = WebhookDelivery.objects.get(webhook=other)
    api.force_authenticate(admin_user)
    assert api.post(f"{API}{webhook.pk}/deliveries/{theirs.pk}/redeliver/").status_code == 404
    assert api.post(f"{API}{webhook.pk}/deliveries/{10**20}/redeliver/").status_code == 404
    services.webhook_update(webhook=other, changes={"active": False})
    response = api.post(f"{API}{other.pk}/deliveries/{theirs.pk}/redeliver/")
    assert response.status_code == 409 and response.json()["code"] == "inactive"
