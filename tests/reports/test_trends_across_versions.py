"""Trend, explained change, percentiles and roll-ups across framework v1 -> v2 (issue 15).

A small framework (tests/reports/trendy.py: in version 2 a question is renamed, one split in
two and two merged), and the shipped mlops.yaml v1 -> mlops-v2.yaml v2, which stays
unpublished (surveys are created directly).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from maturity.models import Framework
from maturity.selectors import question_matches
from reports import selectors, services
from surveys import services as survey_services
from surveys.models import Team
from tests.conftest import complete_answers
from tests.factories import MembershipFactory, SurveyFactory, TeamFactory
from tests.reports.trendy import load_mlops_v2, load_trendy

pytestmark = pytest.mark.django_db


@pytest.fixture
def trendy(tmp_path: Path) -> tuple[Framework, Framework]:
    return load_trendy(tmp_path)


def submit(survey, team: Team, score: int = 2, **by_key) -> None:
    user = MembershipFactory(team=team).user
    survey_services.response_submit(
        survey=survey,
        team=team,
        respondent=user,
        respondent_key=f"u:{user.pk}",
        answers=complete_answers(survey.framework, score, **by_key),
    )


def two_rounds(old_framework, new_framework, teams, old_answers, new_answers):
    """A closed round on the old version last quarter and an open one on the new version,
    each answered by one respondent per team and scored."""
    now = timezone.now()
    previous = SurveyFactory(
        framework=old_framework,
        teams=teams,
        title="Last quarter",
        opens_at=now - timedelta(days=120),
    )
    current = SurveyFactory(framework=new_framework, teams=teams, title="This quarter")
    for team in teams:
        submit(previous, team, **old_answers.get(team.slug, {}))
        submit(current, team, **new_answers.get(team.slug, {}))
    previous.status = "closed"
    previous.closes_at = now - timedelta(days=60)
    previous.save()
    services.aggregate(survey=previous)
    services.aggregate(survey=current)
    return previous, current


# Last quarter (v1) and this quarter (v2), scores on 0-4; unlisted questions answer 2.
OLD = {"canary": 1, "deploy-automation": 3, "cost-visibility": 0, "cost-alerts": 4}
NEW = {"canary-release": 3, "rollback": 1, "deploy-automation": 3}


@pytest.fixture
def rounds(trendy, team):
    v1, v2 = trendy
    return two_rounds(v1, v2, [team], {team.slug: OLD}, {team.slug: NEW})


def rows_of(report) -> dict[str, dict[str, object]]:
    return {
        row.dimension.key: {c.question_key: c for c in row.contributions}
        for row in report.dimensions
    }


def test_the_mapping_matches_renamed_split_and_merged_questions_to_v1_keys(trendy):
    v1, v2 = trendy
    assert question_matches(v2, v1) == {
        "schema": ("schema",),
        "training-serving-skew": ("skew-check",),
        "canary-release": ("canary",),
        "rollback": ("canary",),
        "deploy-automation": ("deploy-automation",),
        "cost-control": ("cost-visibility", "cost-alerts"),
        "prompt-versioning": (),
    }
    assert question_matches(v1, v2)["canary"] == ("canary-release", "rollback")


def test_a_renamed_question_with_the_same_answer_is_no_change_not_minus_and_plus(rounds, team):
    """The bug of issue 15: `skew-check` renamed showed -18.8 (old key) and +18.8 (new key)
    in an unchanged dimension (100 * 1.5 * 0.5 / 4 = 18.75)."""
    previous, survey = rounds
    report = selectors.team_report(survey, team)
    data = next(row for row in report.dimensions if row.dimension.key == "data")
    assert data.previous == data.score == pytest.approx(50.0)
    assert {c.question_key for c in data.contributions} == {"schema", "training-serving-skew"}
    assert all(c.points == pytest.approx(0.0, abs=1e-9) for c in data.contributions)
    renamed = rows_of(report)["data"]["training-serving-skew"]
    assert (renamed.mean_then, renamed.mean_now) == (0.5, 0.5)
    assert renamed.renamed_from == ("skew-check",)
    assert data.changed_contributions == []


def test_split_questions_each_compare_to_the_old_value_and_the_change_adds_up(rounds, team):
    _, survey = rounds
    report = selectors.team_report(survey, team)
    deploy = next(row for row in report.dimensions if row.dimension.key == "deploy")
    # v1: canary 1/4, deploy-automation 3/4 -> 50. v2: 3/4, 1/4, 3/4 -> 58.33.
    assert deploy.previous == pytest.approx(50.0)
    assert deploy.delta == pytest.approx(175 / 3 - 50)
    rows = rows_of(report)["deploy"]
    assert rows["canary-release"].mean_then == rows["rollback"].mean_then == 0.25
    # Carried forward: canary's 0.25 for both parts -> 41.67 on v2; the split's own effect.
    assert rows["canary-release"].points == pytest.approx(100 * 0.75 / 3 - 100 * 0.25 / 3)
    assert rows["rollback"].points == pytest.approx(0.0)
    assert rows["deploy-automation"].points == pytest.approx(0.0)
    assert rows[""].framework_change and rows[""].points == pytest.approx(125 / 3 - 50)
    assert "canary" not in rows
    assert sum(c.points for c in rows.values()) == pytest.approx(deploy.delta, abs=1e-9)


def test_a_merged_question_compares_to_the_mean_of_the_old_ones(rounds, team):
    _, survey = rounds
    report = selectors.team_report(survey, team)
    cost = next(row for row in report.dimensions if row.dimension.key == "cost")
    assert cost.previous == cost.score == pytest.approx(50.0)
    (merged,) = cost.contributions
    assert merged.question_key == "cost-control" and merged.mean_then == 0.5
    assert merged.renamed_from == ("cost-visibility", "cost-alerts")
    assert merged.points == pytest.approx(0.0)


def test_the_trend_matches_dimensions_by_key_and_a_new_dimension_has_none(rounds, team):
    previous, survey = rounds
    report = selectors.team_report(survey, team)
    assert report.previous_survey == previous
    deltas = {row.dimension.key: row.delta for row in report.dimensions}
    assert deltas["data"] == pytest.approx(0.0) and deltas["cost"] == pytest.approx(0.0)
    assert deltas["genai"] is None
    assert report.overall_delta == pytest.approx(report.team_score.score - report.previous_score)
    series = report.chart_data()["series"]
    assert [s["name"] for s in series][:2] == ["This quarter", "Last quarter"]
    assert series[1]["values"][-1] is None  # genai: no value last quarter
    for row in report.dimensions:
        if row.delta is not None:
            assert sum(c.points for c in row.contributions) == pytest.approx(row.delta, abs=1e-9)


def test_the_team_page_explains_the_change_through_replaces(client, rounds, team, admin_user):
    _, survey = rounds
    client.force_login(admin_user)
    page = client.get(f"/reports/teams/{team.slug}/?survey={survey.pk}").content.decode()
    section = page[page.index('id="explained-change"') :]
    section = section[: section.index("</section>")]
    assert "framework v1 → v2" in section
    assert "continues canary" in section and "25% → 75%" in section
    assert "skew-check" not in section and "18.8" not in section


def test_percentiles_and_rollups_of_a_v2_round_rank_that_rounds_teams(trendy, team, other_team):
    v1, v2 = trendy
    parent = TeamFactory(slug="ml-platform", name="ML platform")
    Team.objects.filter(pk__in=[team.pk, other_team.pk]).update(parent=parent)
    team.refresh_from_db()
    other_team.refresh_from_db()
    # Last quarter fraud led; this quarter recsys does.
    previous, survey = two_rounds(
        v1,
        v2,
        [team, other_team],
        {team.slug: {"schema": 1}, other_team.slug: {"schema": 4}},
        {team.slug: {"schema": 4}, other_team.slug: {"schema": 1}},
    )
    assert selectors.percentiles(previous) == {team.pk: 50.0, other_team.pk: 100.0}
    assert selectors.percentiles(survey) == {team.pk: 100.0, other_team.pk: 50.0}
    rollup = survey.team_scores.get(team=parent)
    assert rollup.is_rollup and rollup.n_respondents == 2
    both = [survey.team_scores.get(team=t).score for t in (team, other_team)]
    assert rollup.score == pytest.approx(sum(both) / 2)  # equal weights, one answer each
    # Each team's trend still compares with its own v1 round through replaces.
    for member in (team, other_team):
        report = selectors.team_report(survey, member)
        data = next(row for row in report.dimensions if row.dimension.key == "data")
        keys = {c.question_key for c in data.contributions}
        assert keys == {"schema", "training-serving-skew"}
        assert sum(c.points for c in data.contributions) == pytest.approx(data.delta, abs=1e-9)


@pytest.fixture
def mlops_v2(mlops_framework):
    return load_mlops_v2()


def test_the_shipped_v1_to_v2_change_matches_through_replaces(mlops_framework, mlops_v2, team):
    assert mlops_v2.published is True
    old = {"ml-devops-training": 4, "skills-strategy": 0, "progressive-delivery": 1}
    new = {"skills-strategy": 2, "progressive-delivery": 1, "rollback": 3}
    _, survey = two_rounds(mlops_framework, mlops_v2, [team], {team.slug: old}, {team.slug: new})
    report = selectors.team_report(survey, team)
    v2_keys = set(mlops_v2.questions.values_list("key", flat=True))
    by_dimension = rows_of(report)
    compared = [row for row in report.dimensions if row.delta is not None]
    assert len(compared) == 12  # the dimensions v1 and v2 share, by key
    for row in compared:
        assert sum(c.points for c in row.contributions) == pytest.approx(row.delta, abs=1e-9)
        assert set(by_dimension[row.dimension.key]) <= v2_keys | {""}

    # skills-strategy continues itself and ml-devops-training: (0 + 1) / 2, unchanged.
    skills = by_dimension["skills-leadership-change"]
    assert skills["skills-strategy"].mean_then == 0.5
    assert skills["skills-strategy"].renamed_from == ("skills-strategy", "ml-devops-training")
    assert all(c.points == pytest.approx(0.0, abs=1e-9) for c in skills.values())
    assert "ml-devops-training" not in skills and "" not in skills

    # rollback is split from progressive-delivery (1 of 4 then): 15 - 5 points.
    cicd = by_dimension["cicd-deployment"]
    assert cicd["rollback"].mean_then == 0.25 and cicd["rollback"].mean_now == 0.75
    assert cicd["rollback"].points == pytest.approx(10.0)
    assert cicd[""].points == pytest.approx(40.0 - 43.75)  # one more question, carried
    mlops_v2.refresh_from_db()
    assert mlops_v2.published is True
