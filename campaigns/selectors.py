"""Reads of campaigns: which teams a campaign covers, who may read what, and the stored
progress as a reader sees it (pages, the API, the team report and events share these).

Who may read a campaign and which of its teams:

- admins and programme leads (surveys.selectors.runs_programme): every campaign, every team;
- managers: the campaigns covering a team they manage (or one below it), with those teams'
  rows only;
- members: the campaigns covering their team, with their team's row only; a status that
  comes from a round whose results members may not read (``members_see_results`` off) is
  shown to them as ``not_shared``, without value or gap, as the team report would not show
  them that round either.

Counts and the burn-up a reader gets are counted over the rows they may read, so that no
figure tells them about other teams.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Case, CharField, Count, Exists, F, OuterRef, Q, QuerySet, Value, When

from campaigns.models import Campaign, CampaignProgress, CampaignTeamStatus
from maturity.models import Dimension, Level, Question
from surveys.models import Membership, Survey, Team
from surveys.selectors import (
    LOOK_UP,
    managed_team_ids,
    runs_programme,
    team_with_descendants,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

Status = CampaignTeamStatus.Status
# A status as one reader sees it: a member reading a round that does not share results
# with members (never stored).
NOT_SHARED = "not_shared"
STATUS_LABELS = {**dict(Status.choices), NOT_SHARED: "Not shared with members"}
ASSESSED = (Status.MEETING, Status.NOT_MEETING)


# --- which teams a campaign covers ------------------------------------------------------------


def campaign_team_ids(parent: Team, among: Iterable[int] | None = None) -> set[int]:
    """Return the ids of the teams a campaign under ``parent`` covers (of ``among`` only,
    when given: the teams a scoring run wrote).

    Every active (not archived) team below ``parent``, at any depth, that takes part in a
    round (is among any survey's teams, a draft's included) or has no active sub-team (a
    team that has not taken a round yet is "not yet assessed"; a grouping team whose
    sub-teams take the rounds is not a team of its own). ``parent`` itself only when it
    takes part in a round itself: a parent that only groups teams gets a roll-up, which is
    no assessment of its own. Three statements plus one per level of the tree (two with
    ``among``).
    """
    if among is None:
        subtree = team_with_descendants({parent.pk})
    else:
        subtree = set(among) & team_ids_under(parent.pk)
    in_round = Survey.teams.through.objects.filter(team_id=OuterRef("pk"))
    active_child = Team.objects.filter(parent_id=OuterRef("pk"), archived_at__isnull=True)
    rows = (
        Team.objects.filter(pk__in=subtree, archived_at__isnull=True)
        .annotate(in_round=Exists(in_round), has_children=Exists(active_child))
        .values_list("pk", "in_round", "has_children")
    )
    return {
        pk
        for pk, takes_part, has_children in rows
        if takes_part or (pk != parent.pk and not has_children)
    }


def _parent_map() -> dict[int, int]:
    return dict(Team.objects.filter(parent__isnull=False).values_list("id", "parent_id"))


def team_ids_under(ancestor: int) -> set[int]:
    """Return ``ancestor`` and every team below it, from one scan of the teams' parents."""
    parents = _parent_map()
    under: set[int] = {ancestor}
    outside: set[int] = set()
    for team_id in parents:
        chain: list[int] = []
        current: int | None = team_id
        while (
            current is not None
            and current not in under
            and current not in outside
            and current not in chain
        ):
            chain.append(current)
            current = parents.get(current)
        (under if current in under else outside).update(chain)
    return under


def active_campaigns() -> QuerySet[Campaign]:
    """Campaigns that are not archived (their progress is kept up to date)."""
    return Campaign.objects.filter(archived_at__isnull=True)


def campaigns_above(team_ids: Iterable[int]) -> QuerySet[Campaign]:
    """Return the active campaigns whose parent is one of ``team_ids`` or above one of them
    (the campaigns that may cover those teams). Two statements."""
    parents = _parent_map()
    above: set[int] = set()
    for team_id in team_ids:
        current: int | None = team_id
        while current is not None and current not in above:
            above.add(current)
            current = parents.get(current)
    return active_campaigns().filter(parent_id__in=above)


# --- who reads what ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reader:
    """Whose campaign rows a person may read (see the module docstring).

    ``everything``: admins and programme leads. ``full``: teams whose rows they read in
    full (teams they manage, with those below). ``member``: teams they are only a member
    of, whose rows they read when the row's round shares results with members.
    """

    everything: bool
    full: frozenset[int] = frozenset()
    member: frozenset[int] = frozenset()

    @property
    def team_ids(self) -> frozenset[int] | None:
        """The teams whose rows the reader may read; None: every team."""
        return None if self.everything else self.full | self.member

    def reads(self, team_id: int) -> bool:
        """Whether the reader may read the team's row at all."""
        return self.everything or team_id in self.full or team_id in self.member

    def status_of(self, team_id: int, status: str, members_see_results: bool | None) -> str:
        """The status as this reader sees it: ``not_shared`` for a member-only reader when
        the round it comes from (``members_see_results``; None: no round) keeps results
        from members."""
        if self.everything or team_id in self.full or members_see_results is not False:
            return status
        return NOT_SHARED


EVERYONE = Reader(everything=True)
NOBODY = Reader(everything=False)


def reader_for(user: User | AnonymousUser, managed: set[int] | None = LOOK_UP) -> Reader:
    """Return what ``user`` may read of campaigns (NOBODY when signed out or inactive).
    At most three statements. ``managed``: managed_team_ids(user), when the caller has it."""
    if not user.is_authenticated or not user.is_active:
        return NOBODY
    if runs_programme(user):
        return EVERYONE
    if managed is LOOK_UP:
        managed = managed_team_ids(user)
    managed = managed or set()
    mine = set(Membership.objects.filter(user=user).values_list("team_id", flat=True))
    return Reader(everything=False, full=frozenset(managed), member=frozenset(mine - managed))


def visible_campaigns(reader: Reader) -> QuerySet[Campaign]:
    """The campaigns ``reader`` may read: all, or those covering one of their teams."""
    campaigns = Campaign.objects.select_related("parent", "framework")
    team_ids = reader.team_ids
    if team_ids is None:
        return campaigns
    covering = CampaignTeamStatus.objects.filter(campaign=OuterRef("pk"), team_id__in=team_ids)
    return campaigns.filter(Exists(covering))


def sees_any_campaign(user: User | AnonymousUser) -> bool:
    """Whether the menu offers Campaigns to ``user``: an active campaign they may read."""
    reader = reader_for(user)
    if reader is NOBODY:
        return False
    return visible_campaigns(reader).filter(archived_at__isnull=True).exists()


# --- counts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """How many teams meet the goal, do not yet, and have no shown result (``not_assessed``,
    of which ``withheld`` have only withheld results). The three add up to ``total``."""

    meeting: int = 0
    not_meeting: int = 0
    not_assessed: int = 0
    withheld: int = 0

    @property
    def total(self) -> int:
        return self.meeting + self.not_meeting + self.not_assessed

    @property
    def complete(self) -> bool:
        """Every team meets the goal (and there is at least one)."""
        return self.total > 0 and self.meeting == self.total

    def as_dict(self) -> dict[str, int]:
        return {
            "meeting": self.meeting,
            "not_meeting": self.not_meeting,
            "not_assessed": self.not_assessed,
            "withheld": self.withheld,
        }


def count_statuses(statuses: Iterable[str]) -> Counts:
    """Count statuses (stored ones, or ``not_shared``) the one way every figure does."""
    tally: dict[str, int] = {}
    for status in statuses:
        tally[status] = tally.get(status, 0) + 1
    return counts_of(tally)


def counts_of(tally: dict[str, int]) -> Counts:
    """Return the Counts of ``{status: number of teams}``."""
    meeting = tally.get(Status.MEETING, 0)
    not_meeting = tally.get(Status.NOT_MEETING, 0)
    total = sum(tally.values())
    return Counts(
        meeting=meeting,
        not_meeting=not_meeting,
        not_assessed=total - meeting - not_meeting,
        withheld=tally.get(Status.WITHHELD, 0),
    )


def campaign_counts(campaign_ids: Iterable[int], reader: Reader) -> dict[int, Counts]:
    """Return each campaign's current counts over the teams ``reader`` may read (campaigns
    with none of them map to empty Counts). One statement."""
    ids = list(campaign_ids)
    rows = CampaignTeamStatus.objects.filter(campaign_id__in=ids)
    team_ids = reader.team_ids
    if team_ids is not None:
        rows = rows.filter(team_id__in=team_ids)
    shown: Any = F("status")
    if reader.member:
        hidden = Q(team_id__in=reader.member) & Q(survey__members_see_results=False)
        shown = Case(
            When(hidden, then=Value(NOT_SHARED)), default=F("status"), output_field=CharField()
        )
    tallies: dict[int, dict[str, int]] = {pk: {} for pk in ids}
    grouped = rows.annotate(shown=shown).values_list("campaign_id", "shown").annotate(n=Count("pk"))
    for campaign_id, status, n in grouped.order_by():
        tallies[campaign_id][status] = n
    return {pk: counts_of(tally) for pk, tally in tallies.items()}


# --- rows, burn-up and goals as a reader sees them ------------------------------------------


@dataclass(frozen=True)
class TeamRow:
    """One team of a campaign as a reader sees it: ``value`` and ``gap`` are null unless
    the status is meeting or not meeting; ``survey_id`` and ``survey_title`` name the
    round the status comes from (null when none, or not shared)."""

    team_id: int
    team_slug: str
    team_name: str
    status: str
    value: int | None
    gap: int | None
    survey_id: int | None
    survey_title: str | None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)


ROW_FIELDS = (
    "team_id",
    "team__slug",
    "team__name",
    "status",
    "value",
    "gap",
    "survey_id",
    "survey__title",
    "survey__members_see_results",
)


def _row(reader: Reader, values: tuple[Any, ...]) -> TeamRow:
    """A TeamRow from ROW_FIELDS' values, as ``reader`` sees it."""
    team_id, slug, name, status, value, gap, survey_id, title, shared = values
    status = reader.status_of(team_id, status, shared if survey_id else None)
    if status == NOT_SHARED:
        return TeamRow(team_id, slug, name, status, None, None, None, None)
    return TeamRow(team_id, slug, name, status, value, gap, survey_id, title)


def team_rows(campaign: Campaign, reader: Reader) -> list[TeamRow]:
    """The campaign's teams ``reader`` may read, by team name. One statement (plain
    values, no model instances: a campaign may cover 1,000 teams)."""
    rows = CampaignTeamStatus.objects.filter(campaign=campaign)
    team_ids = reader.team_ids
    if team_ids is not None:
        rows = rows.filter(team_id__in=team_ids)
    ordered = rows.order_by("team__name", "team_id").values_list(*ROW_FIELDS)
    return [_row(reader, values) for values in ordered]


def round_end(survey: Survey) -> datetime:
    """When a round ended, or ends: closed, else its closing time, else its opening."""
    return survey.closed_at or survey.closes_at or survey.opens_at


@dataclass(frozen=True)
class BurnupPoint:
    """The campaign after one round: teams meeting the goal and teams counted."""

    survey: Survey
    meeting: int
    total: int


def burnup(campaign: Campaign, reader: Reader) -> list[BurnupPoint]:
    """The burn-up: one point per round in time order (``opens_at``), counted over the
    teams ``reader`` may read. Two statements."""
    snapshots = list(
        CampaignProgress.objects.filter(campaign=campaign)
        .select_related("survey")
        .order_by("survey__opens_at", "survey_id")
    )
    if reader.everything:
        return [BurnupPoint(s.survey, s.meeting, s.total) for s in snapshots]
    sources = {
        int(source)
        for snapshot in snapshots
        for team, (_, source) in snapshot.statuses.items()
        if int(team) in reader.member and source is not None
    }
    shares = dict(Survey.objects.filter(pk__in=sources).values_list("pk", "members_see_results"))
    points = []
    for snapshot in snapshots:
        meeting = total = 0
        for team, (status, source) in snapshot.statuses.items():
            team_id = int(team)
            if not reader.reads(team_id):
                continue
            total += 1
            seen = reader.status_of(team_id, status, shares.get(source) if source else None)
            meeting += seen == Status.MEETING
        points.append(BurnupPoint(snapshot.survey, meeting, total))
    return points


@dataclass(frozen=True)
class Goal:
    """A campaign's goal in words, from its framework version: ``name`` is the dimension's
    name or the question's text, ``minimum_name`` the level's name or the choice's label."""

    kind: str
    key: str
    name: str
    minimum: int
    minimum_name: str

    @property
    def unit(self) -> str:
        return "level" if self.kind == Campaign.GoalKind.DIMENSION else "choice"

    def __str__(self) -> str:
        named = f" ({self.minimum_name})" if self.minimum_name else ""
        if self.kind == Campaign.GoalKind.DIMENSION:
            return f"Level {self.minimum}{named} or higher in {self.name}"
        return f"Choice {self.minimum}{named} or higher on “{self.name}”"


def goals(campaigns: Iterable[Campaign]) -> dict[int, Goal]:
    """Return each campaign's Goal (keyed by campaign id). Three statements at most,
    whatever the number of campaigns."""
    campaigns = list(campaigns)
    if not campaigns:
        return {}
    dimension_q, question_q, level_q = Q(pk__in=[]), Q(pk__in=[]), Q(pk__in=[])
    for campaign in campaigns:
        if campaign.dimension_key:
            dimension_q |= Q(framework_id=campaign.framework_id, key=campaign.dimension_key)
            level_q |= Q(framework_id=campaign.framework_id, number=campaign.min_level)
        else:
            question_q |= Q(framework_id=campaign.framework_id, key=campaign.question_key)
    # An empty OR (no campaign of that kind) matches nothing and runs no statement.
    dimensions = {(d.framework_id, d.key): d.name for d in Dimension.objects.filter(dimension_q)}
    levels = {(lv.framework_id, lv.number): lv.name for lv in Level.objects.filter(level_q)}
    questions = {
        (q.framework_id, q.key): q
        for q in Question.objects.filter(question_q).prefetch_related("choices")
    }
    result = {}
    for campaign in campaigns:
        key, fw = campaign.goal_key, campaign.framework_id
        if campaign.dimension_key:
            name = dimensions.get((fw, key), key)
            minimum_name = levels.get((fw, campaign.goal_minimum), "")
        else:
            question = questions.get((fw, key))
            name = question.text if question else key
            labels = {c.score: c.label for c in question.choices.all()} if question else {}
            minimum_name = labels.get(campaign.goal_minimum, "")
        result[campaign.pk] = Goal(
            campaign.goal_kind, key, name, campaign.goal_minimum, minimum_name
        )
    return result


@dataclass(frozen=True)
class TeamCampaign:
    """A campaign on a team's report: the campaign, its goal and the team's row."""

    campaign: Campaign
    goal: Goal
    row: TeamRow


def team_campaigns(team: Team, reader: Reader) -> list[TeamCampaign]:
    """The active campaigns covering ``team`` that ``reader`` may read, by due date, with
    the team's row. At most five statements."""
    if not reader.reads(team.pk):
        return []
    stored = list(
        CampaignTeamStatus.objects.filter(team=team, campaign__archived_at__isnull=True)
        .order_by("campaign__due", "campaign_id")
        .values_list("campaign_id", *ROW_FIELDS)
    )
    if not stored:
        return []
    campaigns = Campaign.objects.in_bulk([values[0] for values in stored])
    described = goals(campaigns.values())
    return [
        TeamCampaign(campaigns[values[0]], described[values[0]], _row(reader, values[1:]))
        for values in stored
    ]


def days_left(due: date, today: date) -> int:
    """Days from ``today`` to ``due``: negative once overdue."""
    return (due - today).days


def campaign_url(campaign: Campaign) -> str:
    """The campaign's page as an absolute address (settings.SITE_URL)."""
    return f"{settings.SITE_URL.rstrip('/')}/campaigns/{campaign.pk}/"


def event_ref(campaign: Campaign, counts: Counts) -> dict[str, Any]:
    """The campaign as events carry it (common.events): team-level counts, no person."""
    return {
        "id": campaign.pk,
        "title": campaign.title,
        "due": campaign.due.isoformat(),
        "meeting": counts.meeting,
        "not_meeting": counts.not_meeting,
        "not_assessed": counts.not_assessed,
        "url": campaign_url(campaign),
    }
