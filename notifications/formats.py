"""The body of a webhook request, in the webhook's format.

- ``json``: ``{"event", "id", "occurred_at", "data"}``: the event's name, its id (a UUID,
  the same for every webhook and every re-delivery of one event: receivers de-duplicate
  on it), when it was published (ISO 8601, UTC) and its payload (common.events).
- ``slack``: a Slack incoming-webhook message, ``{"text", "blocks"}`` (a section with the
  summary, a context line with the event and its time, a button to the page).
- ``teams``: a Microsoft Teams incoming-webhook message carrying an Adaptive Card 1.4
  (``{"type": "message", "attachments": [{"contentType":
  "application/vnd.microsoft.card.adaptive", "content": {...}}]}``).

The chat formats say what happened in a sentence ("Platform moved from level 2 to level
3 in “Q3 2026 round”"), times in the deployment's zone. Names come from people (team and
round names, action titles), so they are escaped for each format: Slack's ``&``, ``<``
and ``>`` (which would otherwise make ``<!channel>`` a mention), and the Markdown that
Teams renders in a TextBlock. A payload of an unexpected shape (an event added later)
still gives a message: its name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from django.conf import settings

from common.times import when

logger = logging.getLogger(__name__)

FORMATS = ("json", "slack", "teams")
MAX_TEAMS_LISTED = 10
MAX_TEXT = 2900  # Slack refuses a section text over 3000 characters


@dataclass(frozen=True)
class Message:
    """An event in words: a one-line ``title``, more ``lines``, and an optional link to
    the page it is about. Plain text, unescaped."""

    title: str
    lines: list[str] = field(default_factory=list)
    link: str | None = None
    link_label: str = "Open"


def iso_utc(moment: datetime) -> str:
    """``moment`` in UTC as ISO 8601 with a ``Z`` (as the API writes times)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def envelope(event: str, event_id: UUID, occurred_at: datetime, data: Any) -> dict[str, Any]:
    """The ``json`` format's body, as a dict."""
    return {"event": event, "id": str(event_id), "occurred_at": iso_utc(occurred_at), "data": data}


def body(
    fmt: str, *, event: str, event_id: UUID, occurred_at: datetime, data: Mapping[str, Any]
) -> bytes:
    """The bytes to send (and sign) for one event in format ``fmt`` (one of FORMATS;
    anything else is taken as json)."""
    if fmt == "slack":
        return orjson.dumps(slack(message(event, data), event, occurred_at))
    if fmt == "teams":
        return orjson.dumps(teams(message(event, data), event, occurred_at))
    return orjson.dumps(envelope(event, event_id, occurred_at, data))


# --- words -----------------------------------------------------------------------------------


def _site(path: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def _number(value: object) -> str:
    return f"{round(float(value), 1):g}" if isinstance(value, int | float) else "–"


def _moment(value: object) -> str:
    """An ISO time from a payload, shown in the deployment's zone ("" when unreadable)."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        return when(datetime.fromisoformat(value))
    except ValueError:
        return value


def _survey(data: Mapping[str, Any]) -> tuple[str, str]:
    """(title, org report link) of the payload's survey."""
    survey = data.get("survey") or {}
    return str(survey.get("title", "a round")), _site(f"/reports/?survey={survey.get('id', '')}")


def _survey_opened(data: Mapping[str, Any]) -> Message:
    survey = data.get("survey") or {}
    title, _ = _survey(data)
    timing = [f"opens {_moment(survey.get('opens_at'))}"] if survey.get("opens_at") else []
    if survey.get("closes_at"):
        timing.append(f"closes {_moment(survey.get('closes_at'))}")
    lines = [f"It {' and '.join(timing)}."] if timing else []
    if survey.get("anonymous"):
        lines.append("Anonymous: results are shown once it closes, for teams with enough answers.")
    return Message(f"“{title}” is open for answers", lines, _site("/"), "Answer it")


def _survey_closed(data: Mapping[str, Any]) -> Message:
    title, link = _survey(data)
    return Message(f"“{title}” is closed", ["Final scores are on their way."], link, "Reports")


def _team_line(team: Mapping[str, Any]) -> str:
    name = str(team.get("name", team.get("slug", "a team")))
    if team.get("withheld"):
        return f"{name}: results withheld (too few answers to show, or the round is open)"
    level = team.get("level")
    level_text = f", level {level}" if level is not None else ", no level yet"
    return f"{name}: {_number(team.get('score'))}{level_text}"


def _scores_updated(data: Mapping[str, Any]) -> Message:
    title, link = _survey(data)
    teams = list(data.get("teams") or [])
    lines = [_team_line(team) for team in teams[:MAX_TEAMS_LISTED]]
    if len(teams) > MAX_TEAMS_LISTED:
        lines.append(f"and {len(teams) - MAX_TEAMS_LISTED} more teams")
    return Message(f"New scores in “{title}”", lines, link, "Reports")


def _level_changed(data: Mapping[str, Any]) -> Message:
    title, _ = _survey(data)
    team = data.get("team") or {}
    name = str(team.get("name", "A team"))
    before, after = data.get("from"), data.get("to")
    if before is None:
        what = f"{name} reached level {after}"
    elif after is None:
        what = f"{name} no longer has a level (was {before})"
    else:
        what = f"{name} moved from level {before} to level {after}"
    survey_id = (data.get("survey") or {}).get("id", "")
    link = _site(f"/reports/teams/{team.get('slug', '')}/?survey={survey_id}")
    return Message(f"{what} in “{title}”", [], link, "Team report")


def _action_lines(action: Mapping[str, Any]) -> list[str]:
    lines = []
    if action.get("due"):
        lines.append(f"Due {action['due']}")
    if action.get("owner"):
        lines.append(f"Owner: {action['owner']}")
    if action.get("question"):
        lines.append(f"Question {action['question']}")
    return lines


def _action(data: Mapping[str, Any], heading: str) -> Message:
    action = data.get("action") or {}
    team = (action.get("team") or {}).get("name", "a team")
    title = f"{heading} for {team}: “{action.get('title', '')}”"
    url = action.get("url")
    return Message(title, _action_lines(action), str(url) if url else None, "Open the action")


def _count(value: object) -> str:
    if isinstance(value, list | tuple | set):
        return str(len(value))
    return str(value) if value is not None else "–"


def _deadline_near(data: Mapping[str, Any]) -> Message:
    campaign = data.get("campaign") or {}
    title = f"Campaign “{campaign.get('title', '')}” is due {campaign.get('due', 'soon')}"
    lines = [
        f"Teams meeting its target: {_count(campaign.get('meeting'))}; "
        f"not meeting it: {_count(campaign.get('not_meeting'))}; "
        f"not assessed: {_count(campaign.get('not_assessed'))}."
    ]
    return Message(title, lines)


_MESSAGES: dict[str, Callable[[Mapping[str, Any]], Message]] = {
    "survey.opened": _survey_opened,
    "survey.closed": _survey_closed,
    "scores.updated": _scores_updated,
    "team.level_changed": _level_changed,
    "action.created": lambda data: _action(data, "New action"),
    "action.overdue": lambda data: _action(data, "Action overdue"),
    "campaign.deadline_near": _deadline_near,
}


def message(event: str, data: Mapping[str, Any]) -> Message:
    """The event in words; for an event or a payload this module does not know, a
    message naming the event (a delivery never fails for want of words)."""
    build = _MESSAGES.get(event)
    if build is not None and isinstance(data, Mapping):
        try:
            return build(data)
        except (AttributeError, KeyError, TypeError, ValueError):
            logger.warning("no words for a %s payload of an unexpected shape", event)
    return Message(f"Event {event}")


# --- chat formats ----------------------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Escape text for Slack's mrkdwn: ``&``, ``<`` and ``>`` (Slack's documented three)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack(message: Message, event: str, occurred_at: datetime) -> dict[str, Any]:
    """A Slack incoming-webhook payload: ``text`` (the notification's fallback) and
    Block Kit ``blocks``."""
    summary = "\n".join(slack_escape(line) for line in message.lines)
    section = f"*{slack_escape(message.title)}*" + (f"\n{summary}" if summary else "")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": section[:MAX_TEXT]}},
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"`{event}` · {when(occurred_at)}"}],
        },
    ]
    if message.link:
        button = {"type": "plain_text", "text": message.link_label[:75]}
        blocks.append(
            {
                "type": "actions",
                "elements": [{"type": "button", "text": button, "url": message.link}],
            }
        )
    fallback = slack_escape(" ".join([message.title, *message.lines]))
    return {"text": fallback[:MAX_TEXT], "blocks": blocks}


# Emphasis and links; a backslash keeps each literal (CommonMark).
_TEAMS_MARKDOWN = str.maketrans({c: f"\\{c}" for c in "\\*_[]`~"})


def teams_escape(text: str) -> str:
    """Escape the Markdown a Teams TextBlock renders inline (emphasis, links, code)."""
    return text.translate(_TEAMS_MARKDOWN)


def teams(message: Message, event: str, occurred_at: datetime) -> dict[str, Any]:
    """A Microsoft Teams incoming-webhook message with one Adaptive Card (version 1.4)."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": teams_escape(message.title),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
        },
        *(
            {"type": "TextBlock", "text": teams_escape(line), "wrap": True, "spacing": "Small"}
            for line in message.lines
        ),
        {
            "type": "TextBlock",
            "text": teams_escape(f"{event} · {when(occurred_at)}"),
            "isSubtle": True,
            "size": "Small",
            "wrap": True,
        },
    ]
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if message.link:
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": message.link_label, "url": message.link}
        ]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }
