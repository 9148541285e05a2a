"""Reads of the trackers app, shared by its views, its API, its tasks and the team report."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, F, Q, QuerySet

from actions.models import Action
from surveys.models import Team
from trackers.models import TrackerConnection, TrackerLink

# Deeper than any real team tree; stops the walk up a parent chain that loops.
MAX_TEAM_DEPTH = 50


def team_chain(team: Team) -> list[int]:
    """Return the ids of ``team`` and the teams above it, nearest first."""
    chain = [team.pk]
    parent_id = team.parent_id
    while parent_id is not None and parent_id not in chain and len(chain) < MAX_TEAM_DEPTH:
        chain.append(parent_id)
        parent_id = Team.objects.filter(pk=parent_id).values_list("parent_id", flat=True).first()
    return chain


def connection_for(team: Team) -> TrackerConnection | None:
    """Return the connection that applies to ``team``: its own, else the nearest team's
    above it, else the one for all teams; None when there is none.

    For the team report's "Push to GitHub" button (``get_provider_display()`` names it).
    """
    chain = team_chain(team)
    candidates = {
        connection.team_id: connection
        for connection in TrackerConnection.objects.filter(
            Q(team_id__in=chain) | Q(team__isnull=True)
        )
    }
    for team_id in chain:
        if team_id in candidates:
            return candidates[team_id]
    return candidates.get(None)


def links_for(action_ids: Iterable[int]) -> dict[int, TrackerLink]:
    """Return the tracker links of these actions by action id (actions never pushed are
    absent), each with its connection loaded.

    A link's ``status`` says whether it is linked (``url``, ``display_key`` and
    ``external_state`` describe the issue), being pushed, or broken (the issue is gone).
    """
    ids = list(action_ids)
    if not ids:
        return {}
    links = TrackerLink.objects.filter(action_id__in=ids).select_related("connection")
    return {link.action_id: link for link in links}


def pollable_links(connection: TrackerConnection, limit: int) -> list[TrackerLink]:
    """Return up to ``limit`` linked issues of ``connection`` whose actions are still open
    or in progress, those synced longest ago (or never) first."""
    links = (
        TrackerLink.objects.filter(
            connection=connection,
            status=TrackerLink.Status.LINKED,
            action__status__in=[Action.Status.OPEN, Action.Status.IN_PROGRESS],
        )
        .select_related("action")
        .order_by(F("last_synced_at").asc(nulls_first=True), "pk")
    )
    return list(links[:limit])


def connections_to_poll() -> QuerySet[TrackerConnection]:
    """Return the connections with at least one issue whose action is still open."""
    return TrackerConnection.objects.filter(
        links__status=TrackerLink.Status.LINKED,
        links__action__status__in=[Action.Status.OPEN, Action.Status.IN_PROGRESS],
    ).distinct()


def connections_listed() -> QuerySet[TrackerConnection]:
    """Every connection for the console and the API, with its team and how many issues
    it links (``linked``) and has lost (``broken``)."""
    return (
        TrackerConnection.objects.select_related("team", "created_by")
        .annotate(
            linked=Count("links", filter=Q(links__status=TrackerLink.Status.LINKED)),
            broken=Count("links", filter=Q(links__status=TrackerLink.Status.BROKEN)),
        )
        .order_by("name", "pk")
    )
