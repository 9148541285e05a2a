"""Reads of the notifications app: who manages webhooks, their delivery logs, and what a
manager's weekly digest holds."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone

from actions.models import Action
from actions.selectors import action_url, overdue_q
from campaigns import selectors as campaign_selectors
from campaigns.models import Campaign
from notifications.models import DigestSent, Webhook, WebhookDelivery
from reports.models import TeamScore
from reports.selectors import is_withheld, rollups_over_withheld
from surveys.models import Membership, Survey, Team
from surveys.selectors import runs_programme, team_with_descendants

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

DIGEST_DAYS = 7


def can_manage_webhooks(user: User | AnonymousUser) -> bool:
    """Whether ``user`` may register, change and read webhooks: those who run the
    programme (admins and programme leads). Webhooks are the organisation's, not a
    team's: each one may receive events of every team."""
    return user.is_authenticated and runs_programme(user)


def webhooks() -> QuerySet[Webhook]:
    """Every webhook, newest first, with who registered it."""
    return Webhook.objects.select_related("created_by").order_by("-created_at", "-id")


def webhook_deliveries(webhook: Webhook) -> QuerySet[WebhookDelivery]:
    """A webhook's delivery log, newest first."""
    return webhook.deliveries.select_related("requested_by").order_by("-created_at", "-id")


# --- the weekly digest -------------------------------------------------------------------


def _team_link(team: Team, survey: Survey) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/reports/teams/{team.slug}/?survey={survey.pk}"


@dataclass(frozen=True)
class NewScore:
    """A team's score in a round, written since the last digest."""

    team: Team
    survey: Survey
    score: float
    level: int | None
    computed_at: datetime
    rollup: bool

    @property
    def link(self) -> str:
        return _team_link(self.team, self.survey)


@dataclass(frozen=True)
class LevelChange:
    """A team's level in a round (``after``) against its previous round's (``before``)."""

    team: Team
    survey: Survey
    previous: Survey
    before: int | None
    after: int | None

    @property
    def link(self) -> str:
        return _team_link(self.team, self.survey)


@dataclass(frozen=True)
class OverdueAction:
    action: Action

    @property
    def link(self) -> str:
        return action_url(self.action)


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


@dataclass(frozen=True)
class CampaignStatus:
    """An active campaign covering the manager's teams: how those teams stand, and how
    many days are left (negative: overdue); ``near``: due within
    CAMPAIGN_DEADLINE_NEAR_DAYS and not met yet (news for the digest)."""

    campaign: Campaign
    counts: campaign_selectors.Counts
    days_left: int
    link: str

    @property
    def near(self) -> bool:
        return self.days_left <= settings.CAMPAIGN_DEADLINE_NEAR_DAYS and not self.counts.complete


@dataclass(frozen=True)
class Digest:
    """One manager's weekly digest: the teams they manage (and those below them), what
    changed since ``since``, times to be shown in ``zone`` (None: the deployment's)."""

    user: User
    zone: zoneinfo.ZoneInfo | None
    since: datetime
    scores: list[NewScore]
    level_changes: list[LevelChange]
    overdue: list[OverdueAction]
    campaigns: list[CampaignStatus]

    @property
    def empty(self) -> bool:
        """Nothing to report: no new score, level change or overdue action, and no
        campaign due soon (a campaign's standing alone is no news)."""
        return not (
            self.scores
            or self.level_changes
            or self.overdue
            or any(status.near for status in self.campaigns)
        )

    @property
    def summary(self) -> str:
        """ "2 new scores, 1 level change, 3 overdue actions" (the parts that are not 0)."""
        near = sum(1 for status in self.campaigns if status.near)
        parts = [
            _plural(len(self.scores), "new score") if self.scores else "",
            _plural(len(self.level_changes), "level change") if self.level_changes else "",
            _plural(len(self.overdue), "overdue action") if self.overdue else "",
            _plural(near, "campaign due soon", "campaigns due soon") if near else "",
        ]
        return ", ".join(part for part in parts if part) or "nothing new"


def digest_recipients(users: Iterable[User] | None = None) -> list[User]:
    """Who gets a weekly digest: active accounts with an address that manage a team and
    have not turned it off (Profile.weekly_digest; no profile: on), by username;
    ``users``: only those among them. Admins get one only for teams they manage."""
    managers = Membership.objects.filter(role=Membership.Role.MANAGER).values("user_id")
    people = (
        get_user_model()
        .objects.filter(pk__in=managers, is_active=True)
        .exclude(email="")
        .exclude(profile__weekly_digest=False)
        .order_by("username")
    )
    if users is not None:
        people = people.filter(pk__in=[user.pk for user in users])
    return list(people)


def managed_teams(user: User) -> set[int]:
    """The teams ``user`` is a manager of, and every team below them (as for reports;
    being an admin adds none)."""
    direct = set(
        Membership.objects.filter(user=user, role=Membership.Role.MANAGER).values_list(
            "team_id", flat=True
        )
    )
    return team_with_descendants(direct) if direct else set()


class _Shown:
    """Whether a snapshot's figures may be shown (reports' withholding rules), with the
    roll-ups over withheld teams read once per round."""

    def __init__(self) -> None:
        self.over_withheld: dict[int, set[int]] = {}

    def __call__(self, row: TeamScore) -> bool:
        if is_withheld(row.survey, row.n_respondents):
            return False
        if row.survey_id not in self.over_withheld:
            self.over_withheld[row.survey_id] = rollups_over_withheld(row.survey)
        return row.team_id not in self.over_withheld[row.survey_id]


def _level_changes(new: list[TeamScore], shown: _Shown) -> list[LevelChange]:
    """Each new score's level against the same team's previous round (the latest
    earlier-opening round with a shown level), where they differ."""
    history = (
        TeamScore.objects.filter(team_id__in={row.team_id for row in new}, level__isnull=False)
        .select_related("survey")
        .order_by("team_id", "-survey__opens_at", "-survey_id")
    )
    earlier: dict[int, list[TeamScore]] = {}
    for row in history:
        earlier.setdefault(row.team_id, []).append(row)
    changes = []
    for row in new:
        previous = next(
            (
                old
                for old in earlier.get(row.team_id, [])
                if old.survey.opens_at < row.survey.opens_at and shown(old)
            ),
            None,
        )
        if previous is not None and previous.level != row.level:
            changes.append(
                LevelChange(row.team, row.survey, previous.survey, previous.level, row.level)
            )
    return changes


def digest_for(
    user: User, *, now: datetime | None = None, zone: zoneinfo.ZoneInfo | None = None
) -> Digest:
    """``user``'s digest for the teams they manage: scores written since their last
    digest (at most DIGEST_DAYS days back) whose figures readers may see (an anonymous
    round's only once closed and for teams with enough respondents), the level changes
    among them against each team's previous round, and the actions overdue today (in
    ``zone``)."""
    now = now or timezone.now()
    last = (
        DigestSent.objects.filter(user=user).order_by("-sent_at").values_list("sent_at", flat=True)
    ).first()
    since = (
        max(now - timedelta(days=DIGEST_DAYS), last) if last else now - timedelta(days=DIGEST_DAYS)
    )
    teams = managed_teams(user)
    shown = _Shown()
    rows = [
        row
        for row in TeamScore.objects.filter(
            team_id__in=teams, computed_at__gte=since, score__isnull=False
        )
        .select_related("team", "survey")
        .order_by("team__name", "-survey__opens_at", "survey_id")
        if shown(row)
    ]
    today: date = timezone.localtime(now, zone).date() if zone else timezone.localdate(now)
    overdue = (
        Action.objects.filter(overdue_q(today), team_id__in=teams)
        .select_related("team", "owner", "question")
        .order_by("due", "team__name", "pk")
    )
    return Digest(
        user=user,
        zone=zone,
        since=since,
        scores=[
            NewScore(
                row.team,
                row.survey,
                float(row.score or 0),
                row.level,
                row.computed_at,
                row.is_rollup,
            )
            for row in rows
        ],
        level_changes=_level_changes(rows, shown),
        overdue=[OverdueAction(action) for action in overdue],
        campaigns=_campaigns(teams, today),
    )


def _campaigns(teams: set[int], today: date) -> list[CampaignStatus]:
    """The active campaigns covering ``teams``, counted over those teams only, soonest
    due first. Two statements."""
    reader = campaign_selectors.Reader(everything=False, full=frozenset(teams))
    campaigns = list(
        campaign_selectors.visible_campaigns(reader)
        .filter(archived_at__isnull=True)
        .order_by("due", "pk")
    )
    counts = campaign_selectors.campaign_counts([c.pk for c in campaigns], reader)
    return [
        CampaignStatus(
            campaign,
            counts[campaign.pk],
            campaign_selectors.days_left(campaign.due, today),
            campaign_selectors.campaign_url(campaign),
        )
        for campaign in campaigns
        if counts[campaign.pk].total
    ]
