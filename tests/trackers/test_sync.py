"""Issue states coming back: the beat's poll (trackers.tasks) and the trackers' webhooks
(/trackers/webhooks/<uuid>/), for GitHub, GitLab and Jira, against the fake trackers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from actions.models import Action
from actions.services import action_update
from tests.trackers.conftest import WEBHOOK_SECRET
from trackers import services, tasks
from trackers.models import TrackerConnection, TrackerLink

pytestmark = pytest.mark.django_db


@pytest.fixture
def pushed(fake, connect, action, manager):
    """``pushed(provider)``: the action pushed to that fake tracker; returns its link."""

    def push(provider: str, **overrides) -> TrackerLink:
        connect(provider, **overrides)
        return services.action_push(action, by=manager).link

    return push


def status_of(action) -> str:
    action.refresh_from_db()
    return action.status


def hook_url(link: TrackerLink) -> str:
    return reverse("tracker-webhook", kwargs={"public_id": link.connection.public_id})


# --- polling -----------------------------------------------------------------------------------


def test_a_closed_github_issue_marks_its_action_done(fake, pushed, action):
    link = pushed("github")
    assert tasks.poll_trackers() == 1
    assert status_of(action) == "open"
    fake.github_set_state("acme/ml-platform", 1, "closed", "completed")
    tasks.poll_trackers()
    assert status_of(action) == "done" and action.done_at is not None
    link.refresh_from_db()
    assert link.external_state == "closed" and link.synced_status == "done"
    assert link.connection.last_sync_at is not None
    # Done actions are no longer polled.
    assert tasks.poll_trackers() == 0


def test_closed_as_not_planned_in_github_is_wont_do_with_a_reason(fake, pushed, action):
    pushed("github")
    fake.github_set_state("acme/ml-platform", 1, "closed", "not_planned")
    tasks.poll_trackers()
    action.refresh_from_db()
    assert action.status == "wont_do"
    assert action.wont_do_reason == "Closed as not planned in GitHub"


def test_closed_as_a_duplicate_changes_nothing(fake, pushed, action):
    link = pushed("github")
    fake.github_set_state("acme/ml-platform", 1, "closed", "duplicate")
    tasks.poll_trackers()
    assert status_of(action) == "open"
    link.refresh_from_db()
    assert link.external_state == "closed (duplicate)"


def test_a_closed_gitlab_issue_marks_its_action_done(fake, pushed, action):
    pushed("gitlab")
    fake.gitlab_set_state(fake.gitlab_project.id, 1, "closed")
    tasks.poll_trackers()
    assert status_of(action) == "done"


def test_a_jira_issue_in_a_done_category_marks_its_action_done(fake, pushed, action):
    pushed("jira")
    fake.jira_set_status("MLOPS-1", "In Progress", "indeterminate")
    tasks.poll_trackers()
    assert status_of(action) == "open"
    assert TrackerLink.objects.get().external_state == "In Progress"
    fake.jira_set_status("MLOPS-1", "Shipped", "done", resolution="Done")
    tasks.poll_trackers()
    assert status_of(action) == "done"
    sent = fake.requests_to("/jira/rest/api/3/issue/")[-1]
    assert sent.method == "GET"


def test_a_jira_issue_resolved_as_wont_do_is_wont_do(fake, pushed, action):
    pushed("jira")
    fake.jira_set_status("MLOPS-1", "Closed", "done", resolution="Won't Do")
    tasks.poll_trackers()
    action.refresh_from_db()
    assert action.status == "wont_do" and "Jira" in action.wont_do_reason


def test_an_action_a_person_closed_is_not_polled_nor_changed(fake, pushed, action, manager):
    pushed("github")
    action_update(action, {"status": "wont_do", "wont_do_reason": "Out of scope"}, by=manager)
    fake.github_set_state("acme/ml-platform", 1, "closed", "completed")
    assert tasks.poll_trackers() == 0
    action.refresh_from_db()
    assert action.status == "wont_do" and action.wont_do_reason == "Out of scope"


def test_a_deleted_issue_breaks_its_link(fake, pushed, action):
    link = pushed("github")
    del fake.repos["acme/ml-platform"].issues[1]
    tasks.poll_trackers()
    link.refresh_from_db()
    assert link.status == "broken" and "404" in link.last_error
    assert status_of(action) == "open"
    assert tasks.poll_trackers() == 0


def test_a_repository_the_token_lost_is_the_connections_error_not_the_links(fake, pushed, action):
    link = pushed("github")
    fake.repos["acme/ml-platform-renamed"] = fake.repos.pop("acme/ml-platform")
    tasks.poll_trackers()
    link.refresh_from_db()
    assert link.status == "linked"
    connection = TrackerConnection.objects.get()
    assert "was not found" in connection.last_error


def test_refused_credentials_are_recorded_without_failing_the_task(fake, pushed, action):
    pushed("github")
    fake.repos["acme/ml-platform"].token = "rotated-by-someone"
    assert tasks.poll_trackers() == 1
    connection = TrackerConnection.objects.get()
    assert "GitHub refused the credentials" in connection.last_error
    assert connection.last_error_at is not None
    assert status_of(action) == "open"


def test_one_failing_connection_does_not_stop_the_others(
    fake, connect, action, manager, survey, other_team
):
    from actions.services import ActionInput, action_create
    from tests.factories import MembershipFactory

    connect("github", team=action.team)
    services.action_push(action, by=manager)
    other_manager = MembershipFactory(team=other_team, role="manager").user
    other_action = action_create(
        ActionInput(
            team=other_team,
            survey=survey,
            question_key=action.question.key,
        ),
        by=other_manager,
    )
    connect("gitlab")
    services.action_push(other_action, by=other_manager)
    fake.repos["acme/ml-platform"].token = "revoked"
    fake.gitlab_set_state(fake.gitlab_project.id, 1, "closed")
    assert tasks.poll_trackers() == 2
    assert status_of(other_action) == "done"
    assert status_of(action) == "open"


def test_a_rate_limit_pauses_the_connection_until_the_trackers_reset(fake, pushed, action):
    pushed("github")
    fake.limit(status=429, retry_after="900")
    tasks.poll_trackers()
    connection = TrackerConnection.objects.get()
    assert connection.paused_until > timezone.now() + timedelta(seconds=880)
    assert "rate limit" in connection.last_error
    fake.github_set_state("acme/ml-platform", 1, "closed", "completed")
    sent = len(fake.seen)
    tasks.poll_trackers()
    assert len(fake.seen) == sent  # nothing asked while paused
    assert status_of(action) == "open"
    TrackerConnection.objects.update(paused_until=timezone.now() - timedelta(seconds=1))
    tasks.poll_trackers()
    assert status_of(action) == "done"
    connection.refresh_from_db()
    assert connection.paused_until is None and connection.last_error == ""


def test_a_tracker_in_trouble_is_tried_again_later(fake, pushed, action):
    from celery.exceptions import Retry

    link = pushed("github")
    fake.limit(status=503, message="Service Unavailable", times=10)
    with pytest.raises(Retry) as retry:
        tasks.poll_connection.apply(args=[link.connection_id])
    assert retry.value.when == 60
    connection = TrackerConnection.objects.get()
    assert "could not be reached (HTTP 503)" in connection.last_error
    # After the last try, the result; the next beat polls again.
    last = tasks.poll_connection.apply(args=[link.connection_id], retries=tasks.POLL_RETRIES)
    assert last.get()["transient"] is True


def test_refused_credentials_are_not_tried_again(fake, pushed, action):
    link = pushed("github")
    fake.repos["acme/ml-platform"].token = "revoked"
    result = tasks.poll_connection.apply(args=[link.connection_id])
    assert result.get()["transient"] is False and "credentials" in result.get()["error"]


def test_an_unreachable_tracker_is_recorded(fake, pushed, action):
    link = pushed("github")
    TrackerConnection.objects.update(base_url="http://127.0.0.1:9")  # nothing listens
    result = services.connection_poll(TrackerConnection.objects.get(pk=link.connection_id))
    assert result.transient and "could not be reached" in result.error


def test_the_poll_reads_at_most_a_batch_oldest_first(fake, pushed, action, manager, survey):
    link = pushed("github")
    result = services.connection_poll(link.connection, limit=0)
    assert result.checked == 0
    result = services.connection_poll(link.connection, limit=5)
    assert result.checked == 1 and result.changed == 0


# --- webhooks ----------------------------------------------------------------------------------


def test_a_github_webhook_closes_and_reopens_the_action(fake, pushed, action, client):
    link = pushed("github")
    fake.github_set_state("acme/ml-platform", 1, "closed", "completed")
    delivery = fake.github_webhook("acme/ml-platform", 1, "closed", WEBHOOK_SECRET)
    response = delivery.post(client, hook_url(link))
    assert response.status_code == 200 and response.json() == {"status": "updated"}
    assert status_of(action) == "done"
    fake.github_set_state("acme/ml-platform", 1, "open", "reopened")
    reopened = fake.github_webhook("acme/ml-platform", 1, "reopened", WEBHOOK_SECRET)
    assert reopened.post(client, hook_url(link)).json() == {"status": "updated"}
    assert status_of(action) == "in_progress"


def test_a_reopened_issue_leaves_an_action_a_person_closed(fake, pushed, action, client, manager):
    link = pushed("github")
    action_update(action, {"status": "done"}, by=manager)
    fake.github_set_state("acme/ml-platform", 1, "closed", "completed")
    fake.github_webhook("acme/ml-platform", 1, "closed", WEBHOOK_SECRET).post(
        client, hook_url(link)
    )
    fake.github_set_state("acme/ml-platform", 1, "open", "reopened")
    response = fake.github_webhook("acme/ml-platform", 1, "reopened", WEBHOOK_SECRET).post(
        client, hook_url(link)
    )
    assert response.json() == {"status": "unchanged"}
    assert status_of(action) == "done"


def test_a_github_webhook_closed_as_not_planned_is_wont_do(fake, pushed, action, client):
    link = pushed("github")
    fake.github_set_state("acme/ml-platform", 1, "closed", "not_planned")
    fake.github_webhook("acme/ml-platform", 1, "closed", WEBHOOK_SECRET).post(
        client, hook_url(link)
    )
    action.refresh_from_db()
    assert action.status == "wont_do"
    assert action.wont_do_reason == "Closed as not planned in GitHub"


def test_a_gitlab_webhook_closes_and_reopens_the_action(fake, pushed, action, client):
    link = pushed("gitlab")
    project = fake.gitlab_project.id
    fake.gitlab_set_state(project, 1, "closed")
    response = fake.gitlab_webhook(project, 1, "close", WEBHOOK_SECRET).post(client, hook_url(link))
    assert response.status_code == 200
    assert status_of(action) == "done"
    fake.gitlab_set_state(project, 1, "opened")
    fake.gitlab_webhook(project, 1, "reopen", WEBHOOK_SECRET).post(client, hook_url(link))
    assert status_of(action) == "in_progress"
    # An "update" (an edit) is no change of state.
    response = fake.gitlab_webhook(project, 1, "update", WEBHOOK_SECRET).post(
        client, hook_url(link)
    )
    assert response.status_code == 202 and response.json() == {"status": "ignored"}


def test_a_jira_webhook_closes_the_action(fake, pushed, action, client):
    link = pushed("jira")
    fake.jira_set_status("MLOPS-1", "Done", "done", resolution="Done")
    response = fake.jira_webhook("MLOPS-1", WEBHOOK_SECRET).post(client, hook_url(link))
    assert response.status_code == 200 and response.json() == {"status": "updated"}
    assert status_of(action) == "done"


def test_a_deleted_jira_issue_breaks_the_link(fake, pushed, action, client):
    link = pushed("jira")
    response = fake.jira_webhook("MLOPS-1", WEBHOOK_SECRET, event="jira:issue_deleted").post(
        client, hook_url(link)
    )
    assert response.json() == {"status": "broken"}
    link.refresh_from_db()
    assert link.status == "broken"


@pytest.mark.parametrize("provider", ["github", "gitlab", "jira"])
@pytest.mark.parametrize("secret", ["a-wrong-secret-of-good-length", None])
def test_webhooks_without_the_right_signature_are_refused(
    fake, pushed, action, client, provider, secret
):
    link = pushed(provider)
    deliveries = {
        "github": lambda s: fake.github_webhook("acme/ml-platform", 1, "closed", s),
        "gitlab": lambda s: fake.gitlab_webhook(fake.gitlab_project.id, 1, "close", s),
        "jira": lambda s: fake.jira_webhook("MLOPS-1", s),
    }
    if provider == "github":
        fake.github_set_state("acme/ml-platform", 1, "closed", "completed")
    elif provider == "gitlab":
        fake.gitlab_set_state(fake.gitlab_project.id, 1, "closed")
    else:
        fake.jira_set_status("MLOPS-1", "Done", "done")
    delivery = deliveries[provider](secret or WEBHOOK_SECRET)
    if secret is None:  # no signature at all
        for name in ("X-Hub-Signature-256", "X-Gitlab-Token", "X-Hub-Signature"):
            delivery.headers.pop(name, None)
    response = delivery.post(client, hook_url(link))
    assert response.status_code == 403
    assert status_of(action) == "open"
    # The same delivery signed with the right secret is accepted.
    good = deliveries[provider](WEBHOOK_SECRET)
    assert good.post(client, hook_url(link)).status_code == 200
    assert status_of(action) == "done"


def test_a_signature_of_another_body_is_refused(fake, pushed, action, client):
    link = pushed("github")
    fake.github_set_state("acme/ml-platform", 1, "closed", "completed")
    delivery = fake.github_webhook("acme/ml-platform", 1, "closed", WEBHOOK_SECRET)
    delivery.body = delivery.body.replace(b'"closed"', b'"closed" ', 1)
    assert delivery.post(client, hook_url(link)).status_code == 403


def test_webhooks_of_unknown_connections_are_404(client):
    response = client.post(
        "/trackers/webhooks/00000000-0000-4000-8000-000000000000/",
        data=b"{}",
        content_type="application/json",
    )
    assert response.status_code == 404
    assert client.post("/trackers/webhooks/not-a-uuid/").status_code == 404


@pytest.mark.parametrize(
    ("body", "event"),
    [
        (b"not json", "issues"),
        (b"[1, 2]", "issues"),
        (b'{"action": 3}', "issues"),
        (b'{"action": "closed"}', "issues"),
        (b'{"action": "closed", "issue": {"id": 1}}', "issues"),
        (b'{"action": "closed", "issue": {"id": true, "state": "closed"}}', "issues"),
        (b"[" * 100000 + b"]" * 100000, "issues"),
        (b"\xff\xfe", "issues"),
    ],
)
def test_malformed_deliveries_are_400_never_500(fake, connect, client, body, event):
    import hashlib
    import hmac

    connection = connect("github")
    signature = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = client.post(
        reverse("tracker-webhook", kwargs={"public_id": connection.public_id}),
        data=body,
        content_type="application/json",
        headers={"X-Hub-Signature-256": signature, "X-GitHub-Event": event},
    )
    assert response.status_code == 400, response.content
    assert response.json()["detail"]


def test_events_we_do_not_act_on_are_acknowledged(fake, pushed, client):
    link = pushed("github")
    ping = b'{"zen": "Keep it logically awesome.", "hook_id": 1}'
    import hashlib
    import hmac

    signature = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), ping, hashlib.sha256).hexdigest()
    response = client.post(
        hook_url(link),
        data=ping,
        content_type="application/json",
        headers={"X-Hub-Signature-256": signature, "X-GitHub-Event": "ping"},
    )
    assert response.status_code == 202 and response.json() == {"status": "ignored"}


def test_events_of_issues_we_do_not_know_are_ignored(fake, pushed, action, client):
    link = pushed("github")
    other = fake.repos["acme/ml-platform"]
    other.issues[7] = {**other.issues[1], "id": 999999, "number": 7, "state": "closed"}
    response = fake.github_webhook("acme/ml-platform", 7, "closed", WEBHOOK_SECRET).post(
        client, hook_url(link)
    )
    assert response.status_code == 202 and response.json() == {"status": "ignored"}
    assert status_of(action) == "open"


def test_large_deliveries_are_413(fake, connect, client):
    connection = connect("gitlab")
    response = client.post(
        reverse("tracker-webhook", kwargs={"public_id": connection.public_id}),
        data=b"{" + b" " * (1024 * 1024) + b"}",
        content_type="application/json",
        headers={"X-Gitlab-Token": WEBHOOK_SECRET},
    )
    assert response.status_code == 413


def test_a_negative_content_length_is_400(fake, connect, client):
    connection = connect("github")
    url = reverse("tracker-webhook", kwargs={"public_id": connection.public_id})
    response = client.generic("POST", url, b"{}", CONTENT_LENGTH="-1")
    assert response.status_code == 400


def test_webhooks_take_only_post(fake, connect, client):
    connection = connect("github")
    url = reverse("tracker-webhook", kwargs={"public_id": connection.public_id})
    response = client.get(url)
    assert response.status_code == 405 and response["Allow"] == "POST"


def test_a_webhook_needs_no_csrf_token(fake, pushed, action):
    from django.test import Client

    link = pushed("gitlab")
    fake.gitlab_set_state(fake.gitlab_project.id, 1, "closed")
    delivery = fake.gitlab_webhook(fake.gitlab_project.id, 1, "close", WEBHOOK_SECRET)
    response = delivery.post(Client(enforce_csrf_checks=True), hook_url(link))
    assert response.status_code == 200
    assert status_of(action) == "done"


@pytest.mark.django_db(transaction=True)
def test_a_webhook_over_real_http(fake, connect, action, manager, live_server):
    """The view behind a real server: what a tracker's delivery meets."""
    connect("github")
    link = services.action_push(action, by=manager).link
    fake.github_set_state("acme/ml-platform", 1, "closed", "completed")
    delivery = fake.github_webhook("acme/ml-platform", 1, "closed", WEBHOOK_SECRET)
    assert delivery.send(f"{live_server.url}{hook_url(link)}") == 200
    assert Action.objects.get(pk=action.pk).status == "done"


# --- text a database cannot store ------------------------------------------------------------


@pytest.mark.parametrize("bad", ["dup\x00licate", "dup\ud800licate"])
def test_a_webhook_state_with_unstorable_text_is_kept_without_it(fake, pushed, action, client, bad):
    """A state reason with NUL or a lone surrogate was stored in the link (and the audit
    log) as is: PostgreSQL refused it and the webhook answered 500."""
    link = pushed("github")
    fake.github_set_state("acme/ml-platform", 1, "closed", bad)
    response = fake.github_webhook("acme/ml-platform", 1, "closed", WEBHOOK_SECRET).post(
        client, hook_url(link)
    )
    assert response.status_code == 200
    link.refresh_from_db()
    assert link.external_state == "closed (duplicate)"
    assert status_of(action) == "open"


@pytest.mark.parametrize("bad", ["\x00", "5\ud800"])
def test_a_webhook_issue_id_with_unstorable_text_is_400(fake, pushed, client, bad):
    link = pushed("github")
    issue = {**fake.github_issue("acme/ml-platform", 1), "id": bad}
    fake.repos["acme/ml-platform"].issues[1] = issue
    response = fake.github_webhook("acme/ml-platform", 1, "closed", WEBHOOK_SECRET).post(
        client, hook_url(link)
    )
    assert response.status_code == 400


def test_a_polled_jira_status_with_unstorable_text_is_kept_without_it(fake, pushed, action):
    link = pushed("jira")
    fake.jira_set_status("MLOPS-1", "In\x00 review\ud800", "indeterminate")
    tasks.poll_trackers()
    link.refresh_from_db()
    assert link.external_state == "In review"
    assert TrackerConnection.objects.get(pk=link.connection_id).last_error == ""
