"""Webhook bodies (notifications.formats): the JSON envelope, Slack's and Teams' message
shapes, the words for each event, and escaping of names people typed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest

from common.events import EVENTS
from notifications import formats

EVENT_ID = uuid.UUID("12345678-1234-5678-1234-567812345678")
AT = datetime(2026, 9, 30, 15, 0, tzinfo=UTC)
SURVEY = {"id": 7, "title": "Q3 2026 round", "anonymous": False}
PAYLOADS = {
    "survey.opened": {
        "survey": {
            **SURVEY,
            "opens_at": "2026-09-01T08:00:00Z",
            "closes_at": "2026-09-30T17:00:00Z",
        }
    },
    "survey.closed": {"survey": {**SURVEY, "opens_at": None, "closes_at": None}},
    "scores.updated": {
        "survey": SURVEY,
        "teams": [
            {
                "slug": "platform",
                "name": "Platform",
                "rollup": False,
                "withheld": False,
                "score": 72.5,
                "level": 3,
            },
            {"slug": "search", "name": "Search", "rollup": False, "withheld": True},
        ],
    },
    "team.level_changed": {
        "survey": SURVEY,
        "team": {"slug": "platform", "name": "Platform", "rollup": False},
        "from": 2,
        "to": 3,
    },
    "action.created": {
        "action": {
            "id": 4,
            "title": "Version the training data",
            "team": {"slug": "recsys", "name": "Recommendations"},
            "question": "data-versioning",
            "status": "open",
            "due": "2026-10-15",
            "owner": "alice",
            "url": "http://testserver/reports/teams/recsys/#action-4",
        }
    },
    "action.overdue": {
        "action": {
            "id": 4,
            "title": "Version the training data",
            "team": {"slug": "recsys", "name": "Recommendations"},
            "question": "data-versioning",
            "status": "open",
            "due": "2026-10-15",
            "owner": None,
            "url": "http://testserver/reports/teams/recsys/#action-4",
        }
    },
    "campaign.deadline_near": {
        "campaign": {
            "id": 1,
            "title": "Level 3 everywhere",
            "due": "2026-12-31",
            "meeting": 5,
            "not_meeting": ["a", "b", "c"],
            "not_assessed": 2,
        }
    },
}
WORDS = {
    "survey.opened": "“Q3 2026 round” is open for answers",
    "survey.closed": "“Q3 2026 round” is closed",
    "scores.updated": "New scores in “Q3 2026 round”",
    "team.level_changed": "Platform moved from level 2 to level 3 in “Q3 2026 round”",
    "action.created": "New action for Recommendations: “Version the training data”",
    "action.overdue": "Action overdue for Recommendations: “Version the training data”",
    "campaign.deadline_near": "Campaign “Level 3 everywhere” is due 2026-12-31",
}


def test_every_event_has_a_payload_and_words_here():
    assert set(PAYLOADS) == set(EVENTS) == set(WORDS)


def test_the_json_body_is_the_envelope_of_the_payload():
    body = formats.body(
        "json",
        event="scores.updated",
        event_id=EVENT_ID,
        occurred_at=AT,
        data=PAYLOADS["scores.updated"],
    )
    assert orjson.loads(body) == {
        "event": "scores.updated",
        "id": "12345678-1234-5678-1234-567812345678",
        "occurred_at": "2026-09-30T15:00:00Z",
        "data": PAYLOADS["scores.updated"],
    }


@pytest.mark.parametrize("event", EVENTS)
def test_each_event_reads_as_a_sentence(event, settings):
    settings.SITE_URL = "https://maturity.example"
    message = formats.message(event, PAYLOADS[event])
    assert message.title == WORDS[event]


def test_the_details_of_the_words(settings):
    settings.SITE_URL = "https://maturity.example"
    opened = formats.message("survey.opened", PAYLOADS["survey.opened"])
    assert opened.lines == ["It opens 1 Sep 2026, 08:00 UTC and closes 30 Sep 2026, 17:00 UTC."]
    scores = formats.message("scores.updated", PAYLOADS["scores.updated"])
    assert scores.lines[0] == "Platform: 72.5, level 3"
    assert scores.lines[1].startswith("Search: results withheld")
    assert scores.link == "https://maturity.example/reports/?survey=7"
    level = formats.message("team.level_changed", PAYLOADS["team.level_changed"])
    assert level.link == "https://maturity.example/reports/teams/platform/?survey=7"
    reached = formats.message(
        "team.level_changed", {**PAYLOADS["team.level_changed"], "from": None}
    )
    assert reached.title == "Platform reached level 3 in “Q3 2026 round”"
    created = formats.message("action.created", PAYLOADS["action.created"])
    assert created.lines == ["Due 2026-10-15", "Owner: alice", "Question data-versioning"]
    campaign = formats.message("campaign.deadline_near", PAYLOADS["campaign.deadline_near"])
    assert campaign.lines == ["Teams meeting its target: 5; not meeting it: 3; not assessed: 2."]


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("scores.updated", {"teams": "not a list of teams"}),
        ("team.level_changed", {"team": ["odd"]}),
        ("action.created", {"action": 5}),
        ("some.future_event", {"x": 1}),
        ("survey.opened", ["not", "a", "dict"]),
    ],
)
def test_a_payload_of_an_unexpected_shape_still_gives_a_message(event, payload):
    message = formats.message(event, payload)
    assert message.title == f"Event {event}"
    for fmt in formats.FORMATS:
        body = formats.body(fmt, event=event, event_id=EVENT_ID, occurred_at=AT, data=payload)
        assert orjson.loads(body)


def test_slack_gets_an_incoming_webhook_message(settings):
    settings.SITE_URL = "https://maturity.example"
    body = orjson.loads(
        formats.body(
            "slack",
            event="team.level_changed",
            event_id=EVENT_ID,
            occurred_at=AT,
            data=PAYLOADS["team.level_changed"],
        )
    )
    assert body["text"] == "Platform moved from level 2 to level 3 in “Q3 2026 round”"
    section, context, actions = body["blocks"]
    assert section == {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": "*Platform moved from level 2 to level 3 in “Q3 2026 round”*",
        },
    }
    assert context["type"] == "context"
    assert context["elements"][0]["text"] == "`team.level_changed` · 30 Sep 2026, 15:00 UTC"
    assert (
        actions["elements"][0]["url"] == "https://maturity.example/reports/teams/platform/?survey=7"
    )


def test_names_cannot_mention_or_link_in_slack():
    payload = {
        **PAYLOADS["team.level_changed"],
        "team": {"slug": "x", "name": "<!channel> & <http://evil|click>"},
    }
    body = orjson.loads(
        formats.body(
            "slack", event="team.level_changed", event_id=EVENT_ID, occurred_at=AT, data=payload
        )
    )
    text = body["blocks"][0]["text"]["text"]
    assert "<!channel>" not in text and "<http" not in text and "<!channel>" not in body["text"]
    assert "&lt;!channel&gt; &amp; &lt;http://evil|click&gt;" in text


def test_teams_gets_an_adaptive_card(settings):
    settings.SITE_URL = "https://maturity.example"
    body = orjson.loads(
        formats.body(
            "teams",
            event="scores.updated",
            event_id=EVENT_ID,
            occurred_at=AT,
            data=PAYLOADS["scores.updated"],
        )
    )
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    texts = [block["text"] for block in card["body"]]
    assert texts[0] == "New scores in “Q3 2026 round”"
    assert texts[1] == "Platform: 72.5, level 3"
    assert card["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Reports",
            "url": "https://maturity.example/reports/?survey=7",
        }
    ]


def test_names_cannot_link_or_format_in_teams():
    payload = {
        **PAYLOADS["team.level_changed"],
        "team": {"slug": "x", "name": "[click](http://evil) **x**"},
    }
    message = formats.teams(formats.message("team.level_changed", payload), "e", AT)
    title = message["attachments"][0]["content"]["body"][0]["text"]
    assert title.startswith(r"\[click\](http://evil) \*\*x\*\*")
