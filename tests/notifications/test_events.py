"""Where the events come from: a round's opening and closing (every path goes through
surveys.services), and an anonymous round from opening to final scores, whose deliveries
must not name or identify any respondent."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from common import events
from common.events import EVENTS
from notifications import services as notifications
from surveys import services
from surveys.models import Response
from tests.conftest import api_answers
from tests.factories import MembershipFactory, SurveyFactory, TeamFactory
from tests.notifications.conftest import SECRET, signed_by

pytestmark = pytest.mark.django_db


@pytest.fixture
def published():
    """The events published while the test runs: (name, payload) in order."""
    seen: list[tuple[str, dict]] = []

    def receive(sender, *, name, payload, **kwargs):
        seen.append((name, payload))

    events.event_published.connect(receive, dispatch_uid="test-published")
    yield seen
    events.event_published.disconnect(dispatch_uid="test-published")


def test_opening_and_closing_a_round_publish_events_once(
    framework, team, published, django_capture_on_commit_callbacks
):
    survey = SurveyFactory(framework=framework, teams=[team], status="draft", title="Q3")
    with django_capture_on_commit_callbacks(execute=True):
        services.survey_open(survey=survey)
        services.survey_open(survey=survey)  # already open: nothing new
    [(name, payload)] = published
    assert name == "survey.opened"
    assert payload == {
        "survey": {
            "id": survey.pk,
            "title": "Q3",
            "anonymous": False,
            "opens_at": survey.opens_at.isoformat().replace("+00:00", "Z"),
            "closes_at": survey.closes_at.isoformat().replace("+00:00", "Z"),
        }
    }
    with django_capture_on_commit_callbacks(execute=True):
        services.survey_close(survey=survey)
        services.survey_close(survey=survey)
    closed = [payload for name, payload in published if name == "survey.closed"]
    assert len(closed) == 1 and closed[0]["survey"]["id"] == survey.pk


def test_extending_a_closed_round_reopens_it_and_beat_closes_due_rounds(
    framework, team, published, django_capture_on_commit_callbacks
):
    survey = SurveyFactory(framework=framework, teams=[team], status="closed")
    with django_capture_on_commit_callbacks(execute=True):
        services.survey_extend(survey=survey, closes_at=timezone.now() + timedelta(days=3))
    assert [name for name, _ in published] == ["survey.opened"]
    due = SurveyFactory(
        framework=framework,
        teams=[team],
        opens_at=timezone.now() - timedelta(days=9),
        closes_at=timezone.now() - timedelta(minutes=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.surveys_close_due() == [due.pk]
    assert ("survey.closed", due.pk) in [(n, p["survey"]["id"]) for n, p in published]


def test_the_console_and_the_api_open_and_close_through_the_services(
    client, framework, team, admin_user, published, django_capture_on_commit_callbacks
):
    survey = SurveyFactory(framework=framework, teams=[team], status="draft")
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/manage/surveys/{survey.pk}/status/", {"action": "open"})
    api = APIClient()
    api.force_authenticate(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"/api/v1/surveys/{survey.pk}/close/").status_code == 200
    assert [name for name, _ in published if name.startswith("survey.")] == [
        "survey.opened",
        "survey.closed",
    ]


def test_an_anonymous_round_end_to_end_delivers_nothing_that_identifies_a_respondent(
    framework, receiver, django_capture_on_commit_callbacks
):
    """Open, three respondents answer through the API, a lone respondent in a second
    team, close, final scores: every body delivered, in every format, is checked for each
    respondent's username, address and respondent key."""
    big = TeamFactory(slug="platform", name="Platform")
    small = TeamFactory(slug="search", name="Search")
    people = [
        MembershipFactory(team=big, user__username=f"respondent-{name}").user
        for name in ("anna", "bert", "cleo")
    ]
    lone = MembershipFactory(team=small, user__username="respondent-dora").user
    for fmt in ("json", "slack", "teams"):
        notifications.webhook_create(
            url=receiver.url(f"/{fmt}"), secret=SECRET, events=EVENTS, fmt=fmt, by=None
        )
    survey = SurveyFactory(
        framework=framework, teams=[big, small], status="draft", anonymous=True, min_group_size=2
    )
    api = APIClient()
    with django_capture_on_commit_callbacks(execute=True):
        services.survey_open(survey=survey)
    for person, team in [*((p, big) for p in people), (lone, small)]:
        api.force_authenticate(person)
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(
                f"/api/v1/surveys/{survey.pk}/responses/",
                {"team": team.slug, "answers": api_answers(framework, 3)},
                format="json",
            )
        assert response.status_code == 201, response.json()
    with django_capture_on_commit_callbacks(execute=True):
        services.survey_close(survey=survey)

    received = receiver.received
    json_events = [orjson.loads(r.body) for r in received if r.path == "/json"]
    names = [event["event"] for event in json_events]
    assert names[0] == "survey.opened" and "survey.closed" in names
    assert all(signed_by(SECRET, r) for r in received)
    assert len(received) == 3 * len(json_events)  # every event in each format
    final = [e for e in json_events if e["event"] == "scores.updated"][-1]["data"]["teams"]
    by_slug = {team["slug"]: team for team in final}
    assert by_slug["platform"]["withheld"] is False and by_slug["platform"]["level"] is not None
    assert by_slug["search"] == {
        "slug": "search",
        "name": "Search",
        "rollup": False,
        "withheld": True,
    }
    # While the round was open every team's figures were withheld.
    interim = [e for e in json_events if e["event"] == "scores.updated"][:-1]
    assert interim and all(t["withheld"] for e in interim for t in e["data"]["teams"])

    keys = list(Response.objects.filter(survey=survey).values_list("respondent_key", flat=True))
    assert len(keys) == 4 and all(key.startswith("h:") for key in keys)
    identifying = (
        [
            value
            for person in [*people, lone]
            for value in (person.username, person.email, f"u:{person.pk}")
        ]
        + keys
        + [key.removeprefix("h:") for key in keys]
    )
    for request in received:
        body = request.body.decode()
        headers = " ".join(f"{k}: {v}" for k, v in request.headers.items())
        leaked = [value for value in identifying if value in body or value in headers]
        assert not leaked, (request.path, leaked)
