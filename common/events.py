"""Domain events: what happened, published once the transaction that made it commits.

The apps that make things happen (surveys, reports, actions, campaigns) publish events by
name; the notifications app (signed webhooks) listens. A publisher never imports a
listener, so imports keep flowing one way.

Events and their payloads (JSON-ready dicts; every event also carries ``event`` and
``occurred_at`` added by the listener):

- ``survey.opened`` / ``survey.closed``: ``{"survey": {"id", "title", "anonymous", "opens_at",
  "closes_at"}}``
- ``scores.updated``: ``{"survey": {...}, "teams": [{"slug", "name", "score", "level"}]}``
- ``team.level_changed``: ``{"survey": {...}, "team": {"slug", "name"}, "from": int|None,
  "to": int|None}``
- ``action.created`` / ``action.overdue``: ``{"action": {"id", "title", "team", "question",
  "status", "due", "owner", "url"}}``
- ``campaign.deadline_near``: ``{"campaign": {"id", "title", "due", "meeting", "not_meeting",
  "not_assessed", "url"}}`` (campaigns.services.campaign_deadlines_notify)

No payload carries anything that names or identifies a respondent of an anonymous round:
publishers pass team-level figures only (``owner`` of an action is a team member the
manager chose, never a respondent).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import Signal

EVENTS = (
    "survey.opened",
    "survey.closed",
    "scores.updated",
    "team.level_changed",
    "action.created",
    "action.overdue",
    "campaign.deadline_near",
)

# Sent with ``name`` (one of EVENTS) and ``payload`` (a JSON-ready dict).
event_published = Signal()


def publish(name: str, payload: dict[str, Any]) -> None:
    """Send ``name`` with ``payload`` to the listeners once the current transaction commits
    (at once outside a transaction; never when it rolls back).

    Raises ValueError for a name not in EVENTS (a typo would otherwise go nowhere).
    """
    if name not in EVENTS:
        raise ValueError(f"Unknown event {name!r}; known: {', '.join(EVENTS)}.")
    transaction.on_commit(
        lambda: event_published.send(sender=publish, name=name, payload=payload), robust=True
    )
