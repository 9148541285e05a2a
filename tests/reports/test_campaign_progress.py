"""Campaign progress computed from real scores (reports.campaign_progress): dimension and
question goals across rounds and framework versions, withheld teams never revealed,
archived teams left out, the burn-up, and the set-based computation against a plainly
written per-team reference over the stored TeamScore rows."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.models import CampaignProgress, CampaignTeamStatus
from campaigns.selectors import campaign_team_ids
from maturity.selectors import question_matches
from reports import selectors
from reports.campaign_progress import campaign_progress_refresh, statuses_over_rounds
from reports.models import DimensionScore, QuestionScore, TeamScore
from surveys.models import Survey
from tests.campaign_world import (
    MONITORING,
    dimension_answers,
    make_campaign,
    scored_round,
    submit,
)
from tests.factories import TeamFactory
from tests.reports.trendy import load_trendy

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    """platform -> recsys, fraud, chatbot (product teams), newcomer (no round yet), old
    (archived), and ``group`` (a grouping team whose sub-team ``deep`` takes rounds)."""
    platform = TeamFactory(slug="platform", name="ML Platform")
    teams = {"platform": platform}
    for slug in ("recsys", "fraud", "chatbot", "newcomer", "old", "group"):
        teams[slug] = TeamFactory(slug=slug, name=slug.title(), parent=platform)
    teams["deep"] = TeamFactory(slug="deep", name="Deep", parent=teams["group"])
    teams["old"].archived_at = timezone.now()
    teams["old"].save()
    return teams


def mon(framework, level: int) -> dict[str, int]:
    return dimension_answers(framework, MONITORING, level)


def rows_of(campaign) -> dict[str, tuple]:
    return {
        row.team.slug: (row.status, row.value, row.gap, row.survey_id)
        for row in CampaignTeamStatus.objects.filter(campaign=campaign).select_related("team")
    }


def burnup_of(campaign) -> list[tuple[int, int, int]]:
    return [
        (p.survey_id, p.meeting, p.total)
        for p in CampaignProgress.objects.filter(campaign=campaign).order_by(
            "survey__opens_at", "survey_id"
        )
    ]


# --- a plainly written reference: one team at a time, from the stored TeamScore rows -------


def reference_status(campaign, team_id: int, as_of: Survey | None = None) -> tuple:
    """The team's (status, value, gap, survey id) from its stored snapshots, newest first."""
    scores = (
        TeamScore.objects.filter(team_id=team_id, is_rollup=False)
        .exclude(survey__status="draft")
        .select_related("survey", "survey__framework")
        .order_by("-survey__opens_at", "-survey_id")
    )
    if as_of is not None:
        scores = [
            s for s in scores if (s.survey.opens_at, s.survey_id) <= (as_of.opens_at, as_of.pk)
        ]
    withheld_in = None
    for score in scores:
        if selectors.is_withheld(score.survey, score.n_respondents):
            withheld_in = withheld_in or score.survey_id
            continue
        value = reference_value(campaign, score)
        if value is None:
            continue
        gap = max(0, campaign.goal_minimum - value)
        status = "meeting" if value >= campaign.goal_minimum else "not_meeting"
        return (status, value, gap, score.survey_id)
    if withheld_in is not None:
        return ("withheld", None, None, withheld_in)
    return ("not_assessed", None, None, None)


def reference_value(campaign, score: TeamScore) -> int | None:
    if campaign.dimension_key:
        row = DimensionScore.objects.filter(
            team_score=score, dimension__key=campaign.dimension_key
        ).first()
        return None if row is None else row.level
    keys = question_matches(campaign.framework, score.survey.framework).get(
        campaign.question_key, ()
    )
    pairs = [
        (q.question.weight, q.mean)
        for q in QuestionScore.objects.filter(
            team_score=score, question__key__in=keys, mean__isnull=False
        ).select_related("question")
    ]
    if not pairs:
        return None
    mean = sum(w * m for w, m in pairs) / sum(w for w, _ in pairs)
    top = campaign.framework.questions.get(key=campaign.question_key).max_score
    return math.floor(mean * top + 1e-9)


def assert_matches_reference(campaign) -> None:
    """The stored rows and every snapshot equal the reference, team by team."""
    team_ids = campaign_team_ids(campaign.parent)
    stored = {
        row.team_id: (row.status, row.value, row.gap, row.survey_id)
        for row in CampaignTeamStatus.objects.filter(campaign=campaign)
    }
    assert stored == {team: reference_status(campaign, team) for team in team_ids}
    for snapshot in CampaignProgress.objects.filter(campaign=campaign).select_related("survey"):
        expected = {
            str(team): [status, source]
            for team, (status, _, _, source) in (
                (team, reference_status(campaign, team, snapshot.survey)) for team in team_ids
            )
        }
        assert snapshot.statuses == expected


# --- dimension goals --------------------------------------------------------------------------


def test_a_dimension_goal_takes_each_teams_latest_shown_round_across_versions(
    org, framework, v2_framework
):
    v1, v2 = framework, v2_framework
    last = scored_round(
        v1,
        {
            org["recsys"]: [mon(v1, 1)],
            org["fraud"]: [mon(v1, 3)],
            org["chatbot"]: [mon(v1, 2)],
            org["old"]: [mon(v1, 4)],
        },
        title="Last quarter (v1)",
        days_ago=120,
    )
    this = scored_round(
        v2,
        {org["recsys"]: [mon(v2, 3)], org["fraud"]: [mon(v2, 1)]},
        title="This quarter (v2)",
        days_ago=10,
        closed=False,
    )
    campaign = make_campaign(org["platform"], dimension=MONITORING, level=2, framework=v2)
    done = campaign_progress_refresh(campaign)

    assert rows_of(campaign) == {
        "recsys": ("meeting", 3, 0, this.pk),
        "fraud": ("not_meeting", 1, 1, this.pk),  # fell back in the newer round
        "chatbot": ("meeting", 2, 0, last.pk),  # not in this round: its last one counts
        "newcomer": ("not_assessed", None, None, None),  # no round yet
        "deep": ("not_assessed", None, None, None),  # under a grouping team
    }  # not the platform (a parent taking no round), group, nor the archived "old"
    assert done.counts.as_dict() == {
        "meeting": 2,
        "not_meeting": 1,
        "not_assessed": 2,
        "withheld": 0,
    }
    assert burnup_of(campaign) == [(last.pk, 2, 5), (this.pk, 2, 5)]
    assert_matches_reference(campaign)


def test_the_parent_counts_only_when_it_takes_part_in_a_round_itself(org, framework):
    campaign = make_campaign(org["platform"], dimension=MONITORING, level=2)
    assert org["platform"].pk not in campaign_team_ids(org["platform"])
    scored_round(
        framework,
        {org["platform"]: [mon(framework, 4)], org["recsys"]: [mon(framework, 0)]},
        title="Q1",
        days_ago=30,
    )
    campaign_progress_refresh(campaign)
    rows = rows_of(campaign)
    assert rows["platform"][:2] == ("meeting", 4)
    assert rows["recsys"][:3] == ("not_meeting", 0, 2)


def test_archiving_a_team_takes_it_out_at_the_next_refresh(org, framework):
    scored_round(framework, {org["recsys"]: [mon(framework, 3)]}, title="Q1", days_ago=30)
    campaign = make_campaign(org["platform"], dimension=MONITORING, level=2)
    campaign_progress_refresh(campaign)
    assert "recsys" in rows_of(campaign)
    org["recsys"].archived_at = timezone.now()
    org["recsys"].save()
    done = campaign_progress_refresh(campaign)
    assert "recsys" not in rows_of(campaign)
    assert done.rows_written == 1  # one row deleted, nothing else touched
    assert all(str(org["recsys"].pk) not in p.statuses for p in CampaignProgress.objects.all())


def test_rounds_are_ordered_by_opening_not_by_creation(org, framework):
    later = scored_round(framework, {org["recsys"]: [mon(framework, 3)]}, title="B", days_ago=5)
    earlier = scored_round(framework, {org["recsys"]: [mon(framework, 1)]}, title="A", days_ago=90)
    campaign = make_campaign(org["platform"], dimension=MONITORING, level=2)
    campaign_progress_refresh(campaign)
    assert rows_of(campaign)["recsys"] == ("meeting", 3, 0, later.pk)
    assert burnup_of(campaign) == [(earlier.pk, 0, 5), (later.pk, 1, 5)]


def test_a_round_without_the_goals_dimension_answered_leaves_the_earlier_result(org, framework):
    first = scored_round(framework, {org["recsys"]: [mon(framework, 3)]}, title="A", days_ago=90)
    na = {key: "na" for key in mon(framework, 0)}  # every monitoring question N/A
    scored_round(framework, {org["recsys"]: [na]}, title="B", days_ago=5)
    campaign = make_campaign(org["platform"], dimension=MONITORING, level=2)
    campaign_progress_refresh(campaign)
    assert rows_of(campaign)["recsys"] == ("meeting", 3, 0, first.pk)
    assert_matches_reference(campaign)


def test_a_scoring_run_refreshes_the_campaigns_above_the_teams_it_wrote(org, framework):
    survey = scored_round(
        framework, {org["recsys"]: [mon(framework, 1)]}, title="Q1", days_ago=5, closed=False
    )
    campaign = make_campaign(org["platform"], dimension=MONITORING, level=2)
    campaign_progress_refresh(campaign)
    assert rows_of(campaign)["recsys"][0] == "not_meeting"

    submit(survey, org["recsys"], 2, **mon(framework, 4))  # (1 + 4) / 2 per question: 62.5
    from reports import services

    services.aggregate(survey=survey, team_ids=[org["recsys"].pk])  # after_scoring refreshes
    assert rows_of(campaign)["recsys"] == ("meeting", 3, 0, survey.pk)


def test_a_refresh_with_nothing_new_writes_nothing(org, framework):
    scored_round(framework, {org["recsys"]: [mon(framework, 3)]}, title="Q1", days_ago=5)
    campaign = make_campaign(org["platform"], dimension=MONITORING, level=2)
    first = campaign_progress_refresh(campaign)
    assert (first.rows_written, first.snapshots_written) == (5, 1)
    again = campaign_progress_refresh(campaign)
    assert (again.rows_written, again.snapshots_written) == (0, 0)


# --- question goals across versions -------------------------------------------------------


@pytest.fixture
def trendy(tmp_path: Path):
    return load_trendy(tmp_path)


def test_a_question_goal_is_matched_through_replaces_in_both_directions(org, trendy):
    """trendy v2 splits ``canary`` into ``canary-release`` and ``rollback`` and merges the
    two cost questions into ``cost-control`` (tests/reports/trendy.py)."""
    v1, v2 = trendy
    last = scored_round(
        v1,
        {org["recsys"]: [{"canary": 1}], org["fraud"]: [{"canary": 4}]},
        title="Last quarter (v1)",
        days_ago=120,
    )
    this = scored_round(
        v2, {org["recsys"]: [{"rollback": 3}]}, title="This quarter (v2)", days_ago=10
    )
    rollback = make_campaign(org["platform"], question="rollback", choice=3, framework=v2)
    campaign_progress_refresh(rollback)
    rows = rows_of(rollback)
    assert rows["recsys"] == ("meeting", 3, 0, this.pk)
    assert rows["fraud"] == ("meeting", 4, 0, last.pk)  # v1's canary answers for rollback
    assert burnup_of(rollback) == [(last.pk, 1, 5), (this.pk, 2, 5)]
    assert_matches_reference(rollback)

    # A goal on v1's canary reads v2's two successors: (2/4 + 3/4) / 2 * 4 = 2.5 -> 2.
    canary = make_campaign(org["platform"], question="canary", choice=3, framework=v1)
    campaign_progress_refresh(canary)
    assert rows_of(canary)["recsys"] == ("not_meeting", 2, 1, this.pk)
    assert_matches_reference(canary)


def test_a_merged_question_goal_reads_the_weighted_mean_of_the_old_questions(org, trendy):
    v1, v2 = trendy
    survey = scored_round(
        v1, {org["recsys"]: [{"cost-visibility": 0, "cost-alerts": 4}]}, title="Q", days_ago=9
    )
    campaign = make_campaign(org["platform"], question="cost-control", choice=2, framework=v2)
    campaign_progress_refresh(campaign)
    assert rows_of(campaign)["recsys"] == ("meeting", 2, 0, survey.pk)


def test_the_choice_is_the_roadmaps_current_choice(org, framework):
    """Three respondents at 3, 3 and 2: Q = 8/12, Q*4 = 2.67, so choice 2 (floor)."""
    key = framework.questions.filter(dimension__key=MONITORING).order_by("order")[0].key
    scored_round(
        framework,
        {org["recsys"]: [{key: 3}, {key: 3}, {key: 2}]},
        title="Q",
        days_ago=9,
    )
    campaign = make_campaign(org["platform"], question=key, choice=3)
    campaign_progress_refresh(campaign)
    assert rows_of(campaign)["recsys"][:3] == ("not_meeting", 2, 1)


# --- anonymous rounds: withheld teams are never revealed ------------------------------------


def test_withheld_teams_never_show_their_level_and_fall_back_to_a_shown_round(org, framework):
    named = scored_round(framework, {org["recsys"]: [mon(framework, 3)]}, title="A", days_ago=90)
    three = [mon(framework, 1)] * 3
    anonymous = scored_round(
        framework,
        {
            org["recsys"]: [mon(framework, 0)] * 2,  # 2 < k = 3: withheld
            org["fraud"]: [mon(framework, 4)] * 2,  # withheld, and no earlier round
            org["chatbot"]: three,  # 3 respondents: shown
        },
        title="B (anonymous)",
        days_ago=10,
        anonymous=True,
    )
    campaign = make_campaign(org["platform"], dimension=MONITORING, level=2)
    done = campaign_progress_refresh(campaign)
    rows = rows_of(campaign)
    assert rows["recsys"] == ("meeting", 3, 0, named.pk)  # never B's level 0
    assert rows["fraud"] == ("withheld", None, None, anonymous.pk)  # never B's level 4
    assert rows["chatbot"] == ("not_meeting", 1, 1, anonymous.pk)
    assert done.counts.as_dict() == {
        "meeting": 1,
        "not_meeting": 1,
        "not_assessed": 3,
        "withheld": 1,
    }
    after_b = CampaignProgress.objects.get(campaign=campaign, survey=anonymous)
    assert after_b.statuses[str(org["fraud"].pk)] == ["withheld", anonymous.pk]
    assert_matches_reference(campaign)


def test_an_open_anonymous_round_is_withheld_until_it_closes(org, framework):
    survey = scored_round(
        framework,
        {org["recsys"]: [mon(framework, 4)] * 3},
        title="Open, anonymous",
        days_ago=3,
        anonymous=True,
        closed=False,
    )
    campaign = make_campaign(org["platform"], dimension=MONITORING, level=2)
    campaign_progress_refresh(campaign)
    assert rows_of(campaign)["recsys"] == ("withheld", None, None, survey.pk)

    survey.status = Survey.Status.CLOSED
    survey.closed_at = timezone.now()
    survey.save()
    campaign_progress_refresh(campaign)
    assert rows_of(campaign)["recsys"] == ("meeting", 4, 0, survey.pk)


# --- set-based, whatever the number of teams --------------------------------------------------


def test_the_statements_do_not_grow_with_the_number_of_teams(org, framework):
    """A refresh reads with the same statements for 3 teams as for 30 (no per-team query)."""

    def statements(extra_teams: int) -> int:
        platform = TeamFactory(slug=f"p{extra_teams}", name=f"P{extra_teams}")
        teams = [
            TeamFactory(slug=f"t{extra_teams}-{n}", name=f"T{n}", parent=platform)
            for n in range(extra_teams)
        ]
        scored_round(
            framework,
            {team: [mon(framework, n % 5)] for n, team in enumerate(teams)},
            title=f"R{extra_teams}",
            days_ago=5,
        )
        campaign = make_campaign(platform, dimension=MONITORING, level=2)
        with CaptureQueriesContext(connection) as queries:
            campaign_progress_refresh(campaign)
        assert CampaignTeamStatus.objects.filter(campaign=campaign).count() == extra_teams
        return len(queries)

    assert statements(3) == statements(30)


# --- the pure part against a reference --------------------------------------------------------

RESULT = st.one_of(
    st.none(),  # no result in that round
    st.just("withheld"),
    st.just("no value"),  # shown, without the goal's dimension
    st.integers(min_value=0, max_value=4),
)


def reference(results: dict[tuple[int, int], object], teams, rounds, minimum, upto: int):
    """One team at a time, newest round first, as a person would read the reports."""
    out = {}
    for team in teams:
        status, value, source, withheld = "not_assessed", None, None, None
        for survey in reversed(rounds[: upto + 1]):
            result = results.get((survey, team))
            if result == "withheld":
                withheld = withheld or survey
            elif isinstance(result, int):
                status = "meeting" if result >= minimum else "not_meeting"
                value, source = result, survey
                break
        if status == "not_assessed" and withheld:
            status, source = "withheld", withheld
        gap = None if value is None else max(0, minimum - value)
        out[team] = (status, value, gap, source)
    return out


@settings(max_examples=200, deadline=None)
@given(
    grid=st.lists(st.lists(RESULT, min_size=4, max_size=4), min_size=0, max_size=5),
    minimum=st.integers(min_value=0, max_value=4),
)
def test_statuses_over_rounds_agree_with_a_team_by_team_reference(grid, minimum):
    teams = [11, 12, 13, 14]
    rounds = [100 + index for index in range(len(grid))]
    results = {
        (survey, team): cell
        for survey, row in zip(rounds, grid, strict=True)
        for team, cell in zip(teams, row, strict=True)
        if cell is not None
    }
    frame = pd.DataFrame(
        [
            {
                "survey": survey,
                "team": team,
                "shown": cell != "withheld",
                "value": float(cell) if isinstance(cell, int) else float("nan"),
            }
            for (survey, team), cell in results.items()
        ],
        columns=["survey", "team", "shown", "value"],
    )
    statuses = statuses_over_rounds(frame, teams, rounds, minimum)
    assert len(statuses) == len(teams) * len(rounds)
    for position, survey in enumerate(rounds):
        got = {
            int(row.team): (
                row.status,
                None if pd.isna(row.value) else int(row.value),
                None if pd.isna(row.gap) else int(row.gap),
                None if pd.isna(row.source) else int(row.source),
            )
            for row in statuses[statuses["round"] == survey].itertuples()
        }
        assert got == reference(results, teams, rounds, minimum, position)


def test_no_rounds_no_snapshots_and_every_team_not_assessed(org):
    campaign = make_campaign(org["platform"], dimension=MONITORING, level=2)
    done = campaign_progress_refresh(campaign)
    assert burnup_of(campaign) == []
    assert {status for status, *_ in rows_of(campaign).values()} == {"not_assessed"}
    assert done.counts.total == 5
    campaign.refresh_from_db()
    assert campaign.progress_computed_at is not None
    assert campaign.progress_computed_at > timezone.now() - timedelta(minutes=1)


# --- the after-scoring path (only the teams a run wrote) against the full refresh -----------


def stored_state(campaign) -> tuple:
    rows = rows_of(campaign)
    snapshots = {
        p.survey_id: (p.meeting, p.not_meeting, p.not_assessed, p.withheld, p.statuses)
        for p in CampaignProgress.objects.filter(campaign=campaign)
    }
    return rows, snapshots


def test_the_after_scoring_refresh_stores_what_the_full_refresh_stores(org, framework):
    """Runs scoring one team at a time (the incremental path, reports.services.after_scoring)
    through new answers, a new round, an anonymous round and an archived team; after each,
    a full refresh finds nothing to change."""
    from reports import services

    campaign = make_campaign(org["platform"], dimension=MONITORING, level=2)
    campaign_progress_refresh(campaign)

    def full_refresh_changes_nothing() -> None:
        before = stored_state(campaign)
        done = campaign_progress_refresh(campaign)
        assert (done.rows_written, done.snapshots_written) == (0, 0)
        assert stored_state(campaign) == before
        assert_matches_reference(campaign)

    first = scored_round(
        framework,
        {org["recsys"]: [mon(framework, 1)], org["fraud"]: [mon(framework, 3)]},
        title="A",
        days_ago=60,
        closed=False,
    )  # a new round: the full path
    full_refresh_changes_nothing()
    submit(first, org["recsys"], 2, **mon(framework, 4))
    services.aggregate(survey=first, team_ids=[org["recsys"].pk])  # one team: incremental
    assert rows_of(campaign)["recsys"][0] == "meeting"
    full_refresh_changes_nothing()

    anonymous = scored_round(
        framework,
        {org["chatbot"]: [mon(framework, 4)] * 2},
        title="B",
        days_ago=5,
        anonymous=True,
        closed=False,
        extra_teams=(org["recsys"],),
    )
    full_refresh_changes_nothing()
    submit(anonymous, org["recsys"], 2, **mon(framework, 0))
    services.aggregate(survey=anonymous, team_ids=[org["recsys"].pk])  # a snapshot exists
    assert rows_of(campaign)["recsys"] == ("meeting", 3, 0, first.pk)  # B is withheld
    again = campaign_progress_refresh(campaign, team_ids=[org["recsys"].pk])
    assert not again.full and (again.rows_written, again.snapshots_written) == (0, 0)
    assert rows_of(campaign)["chatbot"] == ("withheld", None, None, anonymous.pk)
    full_refresh_changes_nothing()

    org["fraud"].archived_at = timezone.now()
    org["fraud"].save()
    submit(first, org["fraud"], 0)
    services.aggregate(survey=first, team_ids=[org["fraud"].pk])
    assert "fraud" not in rows_of(campaign)
    full_refresh_changes_nothing()


# --- property: the stored progress equals the per-team reference, whatever is stored ---------

CELL = st.one_of(
    st.none(),  # the team has no snapshot in that round
    st.tuples(
        st.integers(min_value=0, max_value=3),  # respondents (k = 2 in anonymous rounds)
        st.one_of(st.none(), st.integers(min_value=0, max_value=4)),  # level; None: no row
    ),
)
ROUND = st.tuples(
    st.booleans(),  # anonymous
    st.booleans(),  # closed
    st.lists(CELL, min_size=3, max_size=3),
)


class Rollback(Exception):
    """Raised to undo one example's rows."""


# The framework fixture is read, never changed, by the examples: sharing it is safe.
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rounds=st.lists(ROUND, min_size=0, max_size=4), minimum=st.integers(0, 4))
def test_stored_progress_equals_a_team_by_team_reference(framework, rounds, minimum):
    """Snapshots written straight into the tables (named and anonymous rounds, open and
    closed, small groups, results without the dimension): the full refresh stores what the
    reference reads team by team, and a one-team refresh afterwards changes nothing."""
    from django.db import transaction

    from reports.models import DimensionScore
    from tests.factories import SurveyFactory

    dimension = framework.dimensions.get(key=MONITORING)
    try:
        with transaction.atomic():
            platform = TeamFactory(slug="p", name="P")
            teams = [TeamFactory(slug=f"t{n}", name=f"T{n}", parent=platform) for n in range(3)]
            now = timezone.now()
            for index, (anonymous, closed, cells) in enumerate(rounds):
                survey = SurveyFactory(
                    framework=framework,
                    teams=teams,
                    anonymous=anonymous,
                    min_group_size=2,
                    status="closed" if closed else "open",
                    opens_at=now - timedelta(days=100 - index),
                )
                for team, cell in zip(teams, cells, strict=True):
                    if cell is None:
                        continue
                    n, level = cell
                    score = TeamScore.objects.create(
                        survey=survey, team=team, n_respondents=n, computed_at=now
                    )
                    if level is not None:
                        DimensionScore.objects.create(
                            team_score=score,
                            dimension=dimension,
                            score=25.0 * level,
                            level=level,
                            answered_ratio=1.0,
                            n_answers=n,
                        )
            campaign = make_campaign(platform, dimension=MONITORING, level=minimum)
            campaign_progress_refresh(campaign)
            assert_matches_reference(campaign)
            again = campaign_progress_refresh(campaign, team_ids=[teams[0].pk])
            assert (again.rows_written, again.snapshots_written) == (0, 0)
            raise Rollback
    except Rollback:
        pass
