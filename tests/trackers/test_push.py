"""Pushing an action to GitHub, GitLab or Jira (trackers.services.action_push), through the
API and the team report's button, against the fake trackers over HTTP."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from actions.models import Action
from tests.factories import MembershipFactory, TeamFactory
from tests.trackers.conftest import GITHUB_TOKEN, JIRA_EMAIL, JIRA_TOKEN
from trackers import services
from trackers.models import TrackerConnection, TrackerLink
from trackers.services import TrackerError

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def push_url(action) -> str:
    return reverse("api-action-push", kwargs={"pk": action.pk})


def test_pushing_to_github_creates_an_issue_and_links_it(fake, connect, action, manager):
    Action.objects.filter(pk=action.pk).update(baseline_score=1)
    connect("github")
    response = api(manager).post(push_url(action))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["provider"] == "github" and body["status"] == "linked" and body["key"] == "#1"
    assert body["url"] == "https://github.com/acme/ml-platform/issues/1"
    assert body["external_state"] == "open"
    issue = fake.github_issue("acme/ml-platform", 1)
    assert issue["title"] == "Version the training data"
    assert issue["labels"] == [{"name": "mlops-maturity"}]
    question = action.question
    choice = question.choices.get(score=1)
    assert question.text in issue["body"] and choice.next_step in issue["body"]
    assert "**Due:** 2027-01-31" in issue["body"] and "**Owner:** alice" in issue["body"]
    assert f"/reports/teams/recsys/#action-{action.pk}" in issue["body"]
    action.refresh_from_db()
    assert action.external_url == "https://github.com/acme/ml-platform/issues/1"
    created = fake.requests_to("/github/repos/acme/ml-platform/issues")[0]
    assert created.headers["Authorization"] == f"Bearer {GITHUB_TOKEN}"
    assert created.headers["X-GitHub-Api-Version"] == "2022-11-28"


def test_pushing_to_gitlab_uses_the_numeric_project_id_for_later_reads(
    fake, connect, action, manager
):
    connect("gitlab")
    response = api(manager).post(push_url(action))
    assert response.status_code == 201, response.json()
    link = TrackerLink.objects.get(action=action)
    project = fake.gitlab_project
    assert link.target == str(project.id) and link.external_key == "1"
    assert link.url == "https://gitlab.com/acme/ml/platform/-/issues/1"
    issue = fake.gitlab_issue(project.id, 1)
    assert issue["labels"] == ["mlops-maturity"] and issue["state"] == "opened"
    assert "Version the training data" == issue["title"]
    # The project's path is sent url-encoded, as GitLab documents.
    assert fake.requests_to("/gitlab/api/v4/projects/acme%2Fml%2Fplatform/issues")


def test_pushing_to_jira_sends_an_adf_description_with_basic_auth(fake, connect, action, manager):
    connect("jira")
    response = api(manager).post(push_url(action))
    assert response.status_code == 201, response.json()
    assert response.json()["key"] == "MLOPS-1"
    assert response.json()["url"] == f"{fake.jira_url}/browse/MLOPS-1"
    issue = fake.jira_issue("MLOPS-1")
    fields = issue["fields"]
    assert fields["issuetype"] == {"name": "Task"} and fields["labels"] == ["mlops-maturity"]
    document = fields["description"]
    assert document["type"] == "doc" and document["version"] == 1
    texts = [node["text"] for block in document["content"] for node in block["content"]]
    assert action.question.text in texts
    link_nodes = [node for block in document["content"] for node in block["content"]]
    assert any(mark["type"] == "link" for node in link_nodes for mark in node.get("marks", []))
    sent = fake.requests_to("/jira/rest/api/3/issue")[0]
    expected = base64.b64encode(f"{JIRA_EMAIL}:{JIRA_TOKEN}".encode()).decode()
    assert sent.headers["Authorization"] == f"Basic {expected}"


def test_jira_without_labels_on_its_screen_still_gets_the_issue(fake, connect, action, manager):
    fake.jira["MLOPS"].labels_on_screen = False
    connect("jira")
    response = api(manager).post(push_url(action))
    assert response.status_code == 201, response.json()
    assert (
        "labels" not in fake.jira_issue("MLOPS-1")["fields"]
        or not fake.jira_issue("MLOPS-1")["fields"]["labels"]
    )


def test_pushing_twice_returns_the_first_issue(fake, connect, action, manager):
    connect("github")
    first = api(manager).post(push_url(action))
    second = api(manager).post(push_url(action))
    assert first.status_code == 201 and second.status_code == 200
    assert second.json()["url"] == first.json()["url"]
    assert len(fake.repos["acme/ml-platform"].issues) == 1
    assert TrackerLink.objects.count() == 1


def test_a_push_under_way_refuses_a_second_one(fake, connect, action, manager):
    connection = connect("github")
    TrackerLink.objects.create(action=action, connection=connection, claimed_at=timezone.now())
    response = api(manager).post(push_url(action))
    assert response.status_code == 409 and response.json()["code"] == "push_in_progress"
    assert fake.repos["acme/ml-platform"].issues == {}


def test_a_push_that_died_long_ago_is_taken_over(fake, connect, action, manager):
    connection = connect("github")
    stale = timezone.now() - timedelta(seconds=services.PUSH_CLAIM_SECONDS + 1)
    TrackerLink.objects.create(action=action, connection=connection, claimed_at=stale)
    response = api(manager).post(push_url(action))
    assert response.status_code == 201
    assert TrackerLink.objects.get(action=action).status == "linked"


def test_an_action_whose_issue_was_deleted_is_pushed_again(fake, connect, action, manager):
    connect("github")
    api(manager).post(push_url(action))
    TrackerLink.objects.filter(action=action).update(status="broken")
    again = api(manager).post(push_url(action))
    assert again.status_code == 201 and again.json()["key"] == "#2"
    action.refresh_from_db()
    assert action.external_url.endswith("/issues/2")


def test_an_action_linked_by_hand_is_not_pushed(fake, connect, action, manager):
    connect("github")
    Action.objects.filter(pk=action.pk).update(external_url="https://jira.example.com/browse/X-1")
    response = api(manager).post(push_url(action))
    assert response.status_code == 409 and response.json()["code"] == "already_linked"
    assert "https://jira.example.com/browse/X-1" in response.json()["detail"]


def test_a_team_without_a_tracker_is_told_who_connects_one(action, manager):
    response = api(manager).post(push_url(action))
    assert response.status_code == 409 and response.json()["code"] == "no_connection"
    assert "programme lead" in response.json()["detail"]


@pytest.mark.parametrize(
    ("setup", "status", "code", "words"),
    [
        ({"token": "wrong-token"}, 502, "tracker_auth", "GitHub refused the credentials"),
        ({"target": "acme/nothing-here"}, 502, "tracker_not_found", "was not found"),
    ],
)
def test_the_trackers_refusals_are_clear_messages(
    fake, connect, action, manager, setup, status, code, words
):
    connect("github", **setup)
    response = api(manager).post(push_url(action))
    assert response.status_code == status
    assert response.json()["code"] == code and words in response.json()["detail"]
    assert not TrackerLink.objects.exists()  # nothing claimed is left behind
    assert words in TrackerConnection.objects.get().last_error


def test_a_validation_failure_passes_on_the_trackers_words(fake, connect, action, manager):
    connect("github")
    Action.objects.filter(pk=action.pk).update(title=" ")
    response = api(manager).post(push_url(action))
    assert response.status_code == 502 and response.json()["code"] == "tracker_rejected"
    assert "Validation Failed; title missing_field" in response.json()["detail"]


def test_jira_validation_messages_name_the_field(fake, connect, action, manager):
    connect("jira", issue_type="Epic")
    response = api(manager).post(push_url(action))
    assert response.status_code == 502
    assert "issuetype: Specify a valid issue type" in response.json()["detail"]


def test_a_rate_limit_answers_503_with_the_trackers_retry_after(fake, connect, action, manager):
    connection = connect("github")
    fake.limit(status=403, retry_after="120")
    response = api(manager).post(push_url(action))
    assert response.status_code == 503 and response.json()["code"] == "tracker_rate_limited"
    assert response["Retry-After"] == "120" and response.json()["retry_after"] == 120
    connection.refresh_from_db()
    assert connection.paused_until > timezone.now() + timedelta(seconds=100)
    # Until then nothing is sent, and the client is told how long is left.
    sent = len(fake.seen)
    again = api(manager).post(push_url(action))
    assert again.status_code == 503 and 100 <= int(again["Retry-After"]) <= 120
    assert len(fake.seen) == sent


def test_an_exhausted_github_limit_waits_until_its_reset(fake, connect, action, manager):
    connect("github")
    fake.limit(status=403, reset_in=600, message="API rate limit exceeded for user ID 1.")
    response = api(manager).post(push_url(action))
    assert response.status_code == 503 and 590 <= int(response["Retry-After"]) <= 600


def test_an_unreachable_tracker_is_a_502(connect, action, manager, fake):
    connect("github", base_url="http://127.0.0.1:9")  # discard port: nothing listens
    response = api(manager).post(push_url(action))
    assert response.status_code == 502 and response.json()["code"] == "tracker_unavailable"


# --- who may push ---------------------------------------------------------------------------


def test_a_member_who_may_not_change_the_action_gets_403(fake, connect, action, team):
    connect("github")
    reader = MembershipFactory(team=team, user__username="bob").user
    response = api(reader).post(push_url(action))
    assert response.status_code == 403
    assert fake.repos["acme/ml-platform"].issues == {}


def test_the_actions_owner_may_push_it(fake, connect, action, member):
    connect("github")
    assert api(member).post(push_url(action)).status_code == 201


def test_another_teams_action_is_not_found(fake, connect, action, other_member):
    connect("github")
    response = api(other_member).post(push_url(action))
    assert response.status_code == 404
    assert api(other_member).post("/api/v1/actions/99999999999999999999/push/").status_code == 404


def test_the_nearest_teams_connection_wins(fake, connect, action, team):
    parent = TeamFactory(slug="platform", name="Platform")
    team.parent = parent
    team.save()
    everyone = connect("gitlab")
    above = connect("jira", team=parent)
    assert services.selectors.connection_for(team) == above
    assert services.selectors.connection_for(parent) == above
    assert services.selectors.connection_for(TeamFactory(slug="elsewhere")) == everyone
    own = connect("github", team=team)
    assert services.selectors.connection_for(team) == own


# --- the team report's button ---------------------------------------------------------------


def test_the_report_button_pushes_and_comes_back_to_the_action(fake, connect, action, manager):
    connect("github")
    client = Client()
    client.force_login(manager)
    url = reverse("tracker-action-push", kwargs={"action_id": action.pk})
    response = client.post(url, follow=False)
    assert response.status_code == 302
    assert response["Location"] == f"/reports/teams/recsys/#action-{action.pk}"
    followed = client.get("/accounts/profile/")
    text = followed.content.decode()
    assert "Pushed to GitHub as #1" in text
    again = client.post(url)
    assert again.status_code == 302
    assert "Already in GitHub as #1" in client.get("/accounts/profile/").content.decode()


def test_the_report_button_shows_the_trackers_refusal(fake, connect, action, manager, client):
    connect("github", token="wrong-token")
    client.force_login(manager)
    response = client.post(
        reverse("tracker-action-push", kwargs={"action_id": action.pk}), follow=True
    )
    assert "GitHub refused the credentials" in response.content.decode()


def test_the_report_button_needs_csrf_a_login_and_the_right(fake, connect, action, team):
    connect("github")
    url = reverse("tracker-action-push", kwargs={"action_id": action.pk})
    anonymous = Client().post(url)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    reader = MembershipFactory(team=team, user__username="bob").user
    checked = Client(enforce_csrf_checks=True)
    checked.force_login(reader)
    assert checked.post(url).status_code == 403  # no CSRF token
    plain = Client()
    plain.force_login(reader)
    assert plain.post(url).status_code == 403  # may read, not change
    assert plain.get(url).status_code == 405
    assert fake.repos["acme/ml-platform"].issues == {}


def test_the_service_refuses_someone_without_the_right(fake, connect, action, other_member):
    connect("github")
    with pytest.raises(TrackerError) as refused:
        services.action_push(action, by=other_member)
    assert refused.value.code == "forbidden"


def test_links_for_gives_the_reports_buttons_their_state(fake, connect, action, manager, survey):
    from actions.services import ActionInput, action_create
    from trackers.selectors import links_for

    connect("github")
    other = action_create(
        ActionInput(
            team=action.team,
            survey=survey,
            question_key=survey.framework.questions.order_by("order")[1].key,
        ),
        by=manager,
    )
    services.action_push(action, by=manager)
    links = links_for([action.pk, other.pk])
    assert set(links) == {action.pk}
    assert links[action.pk].display_key == "#1" and links[action.pk].connection.provider == "github"
