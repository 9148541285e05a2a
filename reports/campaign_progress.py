"""Campaign progress from the stored scores (campaigns.models holds the result).

A campaign's teams are campaigns.selectors.campaign_team_ids(parent). A team's status as
of a round R comes from its **latest shown result up to R** (rounds in time order: their
``opens_at``, then id) that has the goal's dimension or question:

- a result is the team's own snapshot (TeamScore, not a roll-up) of a round that is not a
  draft; it is *shown* unless reports.selectors.is_withheld (an anonymous round while open,
  or fewer than its minimum group of respondents), exactly as every report decides;
- dimension goals: the stored level of the dimension with the goal's key (any framework
  version); question goals: the team's choice on the questions of that round's version
  matched to the goal's question (maturity.selectors.question_matches: by key and
  ``replaces``; several matched questions, a split, give their weighted mean), computed as
  the roadmap computes it, ``floor(Q x S + 1e-9)`` with S the goal question's top score;
- ``meeting`` when that value reaches the minimum, ``not_meeting`` below it;
  ``withheld`` when the team has results up to R but none shown with the goal (its level is
  never read, so never stored); ``not_assessed`` otherwise.

The status after the latest round is the team's current one (CampaignTeamStatus); the
statuses after each round are the burn-up (CampaignProgress). Everything is read with a few
set-based statements per campaign (per framework version, never per team) and written
only where it changed, under a lock on the campaign, so concurrent runs cannot interleave.

``statuses_over_rounds`` is the pure part (pandas in, pandas out).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from campaigns import selectors as campaign_selectors
from campaigns.models import Campaign, CampaignProgress, CampaignTeamStatus
from maturity.models import Dimension, Framework, Question
from maturity.selectors import question_matches
from reports import selectors
from reports.models import DimensionScore, QuestionScore, TeamScore
from surveys.models import Survey

logger = logging.getLogger(__name__)

Status = CampaignTeamStatus.Status
# The tolerance of the roadmap's current choice (maturity.scoring): Q*S = 2.9999999999 is 3.
CHOICE_TOLERANCE = 1e-9
RESULT_COLUMNS = ["survey", "team", "shown", "value"]
STATUS_COLUMNS = ["round", "team", "status", "value", "gap", "source"]


def statuses_over_rounds(
    results: pd.DataFrame, teams: Sequence[int], rounds: Sequence[int], minimum: int
) -> pd.DataFrame:
    """Return every team's status after each round: one row per (round, team).

    ``results``: one row per (survey, team) result with ``shown`` (bool) and ``value`` (the
    team's level or choice for the goal; NaN when the result lacks the goal's dimension or
    question). ``rounds``: survey ids in time order. Columns of the result: ``round``,
    ``team``, ``status``, ``value`` and ``gap`` (Int64, <NA> unless meeting or not meeting)
    and ``source`` (the survey id the status comes from, <NA> when not assessed). Results of
    other surveys or teams are ignored; no rounds gives no rows.
    """
    if not rounds or not teams:
        return pd.DataFrame({column: [] for column in STATUS_COLUMNS})
    position = {survey: index for index, survey in enumerate(rounds)}
    row_of = {team: index for index, team in enumerate(teams)}
    frame = results[results["survey"].isin(position) & results["team"].isin(row_of)]

    def latest(rows: pd.DataFrame, field: str) -> np.ndarray:
        """Per team (rows) and round (columns), ``field`` of the latest of ``rows`` up to
        that round (NaN before the first)."""
        matrix = np.full((len(teams), len(rounds)), np.nan)
        matrix[rows["team"].map(row_of), rows["survey"].map(position)] = rows[field]
        return pd.DataFrame(matrix).ffill(axis=1).to_numpy()

    assessed = frame[frame["shown"].astype(bool) & frame["value"].notna()]
    withheld = frame[~frame["shown"].astype(bool)]
    values = latest(assessed, "value")
    sources = latest(assessed, "survey")
    withheld_sources = latest(withheld, "survey")

    long = pd.DataFrame(
        {
            "round": np.repeat(np.asarray(rounds), len(teams)),
            "team": np.tile(np.asarray(teams), len(rounds)),
            "value": values.T.ravel(),
            "assessed_source": sources.T.ravel(),
            "withheld_source": withheld_sources.T.ravel(),
        }
    )
    has_value = long["value"].notna()
    is_withheld = ~has_value & long["withheld_source"].notna()
    long["status"] = np.select(
        [has_value & (long["value"] >= minimum), has_value, is_withheld],
        [Status.MEETING.value, Status.NOT_MEETING.value, Status.WITHHELD.value],
        default=Status.NOT_ASSESSED.value,
    )
    long["gap"] = (minimum - long["value"]).clip(lower=0).astype("Int64")
    long["value"] = long["value"].astype("Int64")
    long["source"] = long["assessed_source"].where(has_value, long["withheld_source"])
    long["source"] = long["source"].astype("Int64")
    return long[STATUS_COLUMNS]


# --- reading the campaign's inputs -------------------------------------------------------------


def _rounds(team_ids: set[int]) -> list[Survey]:
    """The rounds (not drafts) any of the teams takes part in, in time order."""
    taking_part = Survey.teams.through.objects.filter(
        survey_id=OuterRef("pk"), team_id__in=team_ids
    )
    return list(
        Survey.objects.filter(Exists(taking_part))
        .exclude(status=Survey.Status.DRAFT)
        .select_related("framework")
        .order_by("opens_at", "pk")
    )


def _shown(rounds: dict[int, Survey], team_ids: set[int]) -> pd.DataFrame:
    """The teams' own results in ``rounds``: survey, team, shown. One statement."""
    rows = TeamScore.objects.filter(
        survey_id__in=list(rounds), team_id__in=team_ids, is_rollup=False
    ).values_list("survey_id", "team_id", "n_respondents")
    rows = rows.order_by()  # no joins for the models' default ordering
    frame = pd.DataFrame(list(rows), columns=["survey", "team", "n"], dtype="int64")
    decided = {
        (survey, n): not selectors.is_withheld(rounds[survey], n)
        for survey, n in frame[["survey", "n"]].drop_duplicates().itertuples(index=False)
    }
    frame["shown"] = [decided[(s, n)] for s, n in zip(frame["survey"], frame["n"], strict=True)]
    return frame[["survey", "team", "shown"]].astype({"shown": bool})


def _dimension_values(
    campaign: Campaign, rounds: dict[int, Survey], team_ids: set[int]
) -> pd.DataFrame:
    """survey, team, value: the level of the dimension with the goal's key. Two statements."""
    frameworks = {survey.framework_id for survey in rounds.values()}
    dimension_ids = list(
        Dimension.objects.filter(
            framework_id__in=frameworks, key=campaign.dimension_key
        ).values_list("pk", flat=True)
    )
    rows = DimensionScore.objects.filter(
        dimension_id__in=dimension_ids,
        team_score__survey_id__in=list(rounds),
        team_score__team_id__in=team_ids,
        team_score__is_rollup=False,
    ).values_list("team_score__survey_id", "team_score__team_id", "level")
    rows = rows.order_by()
    return pd.DataFrame(list(rows), columns=["survey", "team", "value"], dtype="float64")


def matched_questions(goal: Framework, key: str, frameworks: Iterable[Framework]) -> pd.DataFrame:
    """The questions of each framework version that a goal on question ``key`` of ``goal``
    is matched to (question_matches: by key and ``replaces``): question id and weight.
    Two statements per version."""
    rows: list[tuple[int, float]] = []
    for framework in frameworks:
        keys = question_matches(goal, framework).get(key, ())
        if keys:
            rows += Question.objects.filter(framework=framework, key__in=keys).values_list(
                "pk", "weight"
            )
    return pd.DataFrame(rows, columns=["question", "weight"])


def _question_values(
    campaign: Campaign, rounds: dict[int, Survey], team_ids: set[int]
) -> pd.DataFrame:
    """survey, team, value: the team's choice on the goal's question, on its scale."""
    goal_question = Question.objects.filter(
        framework=campaign.framework, key=campaign.question_key
    ).first()
    empty = pd.DataFrame({"survey": [], "team": [], "value": []}, dtype="float64")
    if goal_question is None:  # a framework re-loaded without it: nothing can be matched
        return empty
    frameworks = {survey.framework_id: survey.framework for survey in rounds.values()}
    matched = matched_questions(campaign.framework, campaign.question_key, frameworks.values())
    if matched.empty:
        return empty
    rows = QuestionScore.objects.filter(
        question_id__in=matched["question"].tolist(),
        mean__isnull=False,
        team_score__survey_id__in=list(rounds),
        team_score__team_id__in=team_ids,
        team_score__is_rollup=False,
    ).values_list("team_score__survey_id", "team_score__team_id", "question_id", "mean")
    rows = rows.order_by()
    frame = pd.DataFrame(list(rows), columns=["survey", "team", "question", "mean"])
    if frame.empty:
        return empty
    frame = frame.merge(matched, on="question")
    frame["weighted"] = frame["weight"] * frame["mean"]
    sums = frame.groupby(["survey", "team"], as_index=False)[["weighted", "weight"]].sum()
    mean = sums["weighted"] / sums["weight"]
    sums["value"] = np.floor(mean * goal_question.max_score + CHOICE_TOLERANCE)
    return sums[["survey", "team", "value"]].astype("float64")


def campaign_results(campaign: Campaign, team_ids: set[int], rounds: list[Survey]) -> pd.DataFrame:
    """The teams' results in ``rounds`` (survey, team, shown, value) for the campaign's
    goal: statuses_over_rounds' input. A handful of statements, whatever the teams."""
    by_id = {survey.pk: survey for survey in rounds}
    if not by_id or not team_ids:
        return pd.DataFrame({column: [] for column in RESULT_COLUMNS})
    shown = _shown(by_id, team_ids)
    values = (
        _dimension_values(campaign, by_id, team_ids)
        if campaign.dimension_key
        else _question_values(campaign, by_id, team_ids)
    )
    values = values.astype({"survey": "int64", "team": "int64"})
    return shown.merge(values, on=["survey", "team"], how="left")[RESULT_COLUMNS]


# --- storing it -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refreshed:
    """What a refresh stored: the campaign, its counts now, how many team rows and round
    snapshots it wrote (changed ones only), whether it recomputed every team (``full``)
    and how long it took (milliseconds)."""

    campaign: Campaign
    counts: campaign_selectors.Counts
    rows_written: int
    snapshots_written: int
    full: bool
    milliseconds: float


def _int(value: Any) -> int | None:
    """A stored integer from a frame's cell: None for <NA> or NaN."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)


def _store_current(
    campaign: Campaign, current: pd.DataFrame, team_ids: set[int], touched: set[int] | None
) -> int:
    """Make the campaign's CampaignTeamStatus rows (those of the teams ``touched`` only,
    when given) the rows of ``current``, one per team of ``team_ids`` (the teams the
    campaign covers, of those touched); return how many were created, changed or deleted."""
    wanted = {
        int(row.team): (str(row.status), _int(row.value), _int(row.gap), _int(row.source))
        for row in current.itertuples(index=False)
    }
    for team_id in team_ids - set(wanted):  # no rounds at all yet
        wanted[team_id] = (Status.NOT_ASSESSED.value, None, None, None)
    columns = ("team_id", "status", "value", "gap", "survey_id")
    rows = CampaignTeamStatus.objects.filter(campaign=campaign)
    if touched is not None:
        rows = rows.filter(team_id__in=touched)
    stored = {team_id: tuple(row) for team_id, *row in rows.order_by().values_list(*columns)}
    gone = [team_id for team_id in stored if team_id not in wanted]
    changed = [team_id for team_id, row in wanted.items() if stored.get(team_id, row) != row]
    created = [team_id for team_id in wanted if team_id not in stored]
    # Changed rows are replaced (delete and insert: two statements, where an UPDATE per
    # row, or Django's bulk_update CASE, took seconds at 1,000 teams).
    CampaignTeamStatus.objects.filter(campaign=campaign, team_id__in=gone + changed).delete()
    CampaignTeamStatus.objects.bulk_create(
        [
            CampaignTeamStatus(
                campaign=campaign,
                team_id=team_id,
                status=wanted[team_id][0],
                value=wanted[team_id][1],
                gap=wanted[team_id][2],
                survey_id=wanted[team_id][3],
            )
            for team_id in changed + created
        ],
        batch_size=1000,
    )
    return len(gone) + len(created) + len(changed)


def _entries(statuses: pd.DataFrame) -> dict[str, list[Any]]:
    """A snapshot's ``statuses`` JSON from statuses_over_rounds' rows of one round."""
    return {
        str(team): [status, _int(source)]
        for team, status, source in statuses[["team", "status", "source"]].itertuples(index=False)
    }


def _store_snapshots(
    campaign: Campaign, statuses: pd.DataFrame, rounds: list[Survey], now: datetime
) -> int:
    """Make the campaign's CampaignProgress rows one per round; return how many were
    created, changed or deleted."""
    stored = {
        row.survey_id: row for row in CampaignProgress.objects.filter(campaign=campaign).order_by()
    }
    round_ids = [survey.pk for survey in rounds]
    gone = [row.pk for survey_id, row in stored.items() if survey_id not in set(round_ids)]
    CampaignProgress.objects.filter(pk__in=gone).delete()
    written = len(gone)
    for survey_id, group in statuses.groupby("round", sort=False):
        entries = _entries(group)
        counts = campaign_selectors.count_statuses(group["status"])
        fields = {**counts.as_dict(), "statuses": entries}
        row = stored.get(int(survey_id))
        if row is not None and all(getattr(row, name) == value for name, value in fields.items()):
            continue
        CampaignProgress.objects.update_or_create(
            campaign=campaign, survey_id=int(survey_id), defaults={**fields, "computed_at": now}
        )
        written += 1
    return written


def _refresh_all(campaign: Campaign, started: datetime) -> tuple[int, int]:
    """Recompute every team of the campaign; return (rows, snapshots) written."""
    team_ids = campaign_selectors.campaign_team_ids(campaign.parent)
    rounds = _rounds(team_ids)
    results = campaign_results(campaign, team_ids, rounds)
    statuses = statuses_over_rounds(
        results, sorted(team_ids), [s.pk for s in rounds], campaign.goal_minimum
    )
    last = statuses[statuses["round"] == rounds[-1].pk] if rounds else statuses
    rows_written = _store_current(campaign, last, team_ids, None)
    return rows_written, _store_snapshots(campaign, statuses, rounds, started)


def _refresh_teams(
    campaign: Campaign, touched: set[int], started: datetime
) -> tuple[int, int] | None:
    """Recompute only the teams ``touched`` (those a scoring run wrote) and patch their
    entries into the stored snapshots; return (rows, snapshots) written, or None when only
    a full refresh will do (a round the campaign has no snapshot of yet)."""
    # The touched teams the campaign covers now; the others lose any row they had (a
    # team moved elsewhere or archived since).
    team_ids = campaign_selectors.campaign_team_ids(campaign.parent, among=touched)
    snapshots = {
        row.survey_id: row
        for row in CampaignProgress.objects.filter(campaign=campaign)
        .select_related("survey", "survey__framework")
        .order_by("survey__opens_at", "survey_id")
    }
    if any(survey.pk not in snapshots for survey in _rounds(team_ids)):
        return None
    rounds = [row.survey for row in snapshots.values()]
    results = campaign_results(campaign, team_ids, rounds)
    statuses = statuses_over_rounds(
        results, sorted(team_ids), list(snapshots), campaign.goal_minimum
    )
    last = statuses[statuses["round"] == rounds[-1].pk] if rounds else statuses
    rows_written = _store_current(campaign, last, team_ids, touched)
    written = 0
    for survey_id, row in snapshots.items():
        entries = {team: entry for team, entry in row.statuses.items() if int(team) not in touched}
        mine = statuses[statuses["round"] == survey_id]
        entries.update(_entries(mine))
        if entries != row.statuses:
            row.statuses = entries
            for name, value in (
                campaign_selectors.count_statuses(status for status, _ in entries.values())
                .as_dict()
                .items()
            ):
                setattr(row, name, value)
            row.computed_at = started
            row.save()
            written += 1
    return rows_written, written


def campaign_progress_refresh(
    campaign: Campaign, *, team_ids: Iterable[int] | None = None
) -> Refreshed:
    """Compute ``campaign``'s progress from the stored scores and store it (the team rows
    that changed, a snapshot per round), under a lock on the campaign; set its
    ``progress_computed_at``. Returns what it stored.

    ``team_ids``: only these teams changed (a scoring run wrote them), so only their rows
    and snapshot entries are computed again, unless they took a round the campaign has no
    snapshot of, which recomputes everything. Both ways store the same rows
    (tests/reports/test_campaign_progress.py). Archived campaigns are computed too when
    asked (the command does); after-scoring and daily refreshes ask only for active ones.
    """
    started = timezone.now()
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update(of=("self",))
            .select_related("parent", "framework")
            .get(pk=campaign.pk)
        )
        written = None
        if team_ids is not None:
            written = _refresh_teams(campaign, set(team_ids), started)
        full = written is None
        if written is None:
            written = _refresh_all(campaign, started)
        Campaign.objects.filter(pk=campaign.pk).update(progress_computed_at=started)
        campaign.progress_computed_at = started
    counts = campaign_selectors.campaign_counts([campaign.pk], campaign_selectors.EVERYONE)
    elapsed = (timezone.now() - started).total_seconds() * 1000
    return Refreshed(campaign, counts[campaign.pk], *written, full, round(elapsed, 1))


def campaigns_refresh(
    campaigns: Iterable[Campaign], team_ids: Iterable[int] | None = None
) -> list[Refreshed]:
    """Refresh each campaign in turn (campaign_progress_refresh, for ``team_ids`` only when
    given); a campaign that fails is logged and skipped, so that one cannot keep the
    others stale."""
    done = []
    touched = None if team_ids is None else set(team_ids)
    for campaign in campaigns:
        try:
            done.append(campaign_progress_refresh(campaign, team_ids=touched))
        except Exception:
            logger.exception("campaign %s: progress not refreshed", campaign.pk)
    return done


def campaigns_after_scoring(survey: Survey, team_ids: Sequence[int]) -> list[Refreshed]:
    """Refresh the active campaigns that may cover a team a scoring run of ``survey`` just
    wrote (a campaign whose parent is the team or above it). Called by
    reports.services.after_scoring, in the worker."""
    if survey.status == Survey.Status.DRAFT or not team_ids:
        return []
    campaigns = campaign_selectors.campaigns_above(team_ids)
    return campaigns_refresh(campaigns, team_ids=team_ids)
