"""Report pages and their selectors: numbers equal the persisted engine output, explained
change adds up, roll-ups and anonymity hold, and every report URL enforces permissions."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.utils import timezone

from reports import selectors, services
from reports.display import shown_text
from reports.models import TeamScore
from surveys import services as survey_services
from surveys.models import DimensionTarget, Team
from tests.conftest import complete_answers
from tests.factories import MembershipFactory, SurveyFactory

pytestmark = pytest.mark.django_db


def answer(survey, team, scores: list[int]):
    for index, score in enumerate(scores):
        user = MembershipFactory(team=team).user
        overrides = {}
        if index == 0:  # one respondent rates one practice very differently
            overrides[survey.framework.questions.order_by("order").first().key] = (
                0 if score >= 2 else 4
            )
        survey_services.response_submit(
            survey=survey,
            team=team,
            respondent=user,
            respondent_key=f"u:{user.pk}",
            answers=complete_answers(survey.framework, score, **overrides),
        )


@pytest.fixture
def rounds(framework, team, other_team, survey):
    """Last quarter's round (closed) and this one, both scored, for two teams."""
    now = timezone.now()
    previous = SurveyFactory(
        framework=framework,
        teams=[team, other_team],
        title="Q3 review",
        opens_at=now - timedelta(days=120),
        closes_at=now + timedelta(days=1),
    )
    answer(previous, team, [1, 1, 2])
    answer(previous, other_team, [0, 1, 1])
    previous.status = "closed"
    previous.closes_at = now - timedelta(days=60)
    previous.save()
    answer(survey, team, [3, 2, 3])
    answer(survey, other_team, [1, 1, 2])
    services.aggregate(survey=previous)
    services.aggregate(survey=survey)
    return previous, survey


def test_team_report_numbers_are_the_persisted_scores(rounds, team):
    previous, survey = rounds
    report = selectors.team_report(survey, team)
    stored = TeamScore.objects.get(survey=survey, team=team)
    assert report.team_score == stored and not report.withheld
    assert report.level_name == survey.framework.levels.get(number=stored.level).name
    stored_dimensions = {d.dimension.key: d for d in stored.dimensions.select_related("dimension")}
    assert [row.dimension.key for row in report.dimensions] == list(
        survey.framework.dimensions.order_by("order").values_list("key", flat=True)
    )
    for row in report.dimensions:
        assert row.score == stored_dimensions[row.dimension.key].score
        assert row.level == stored_dimensions[row.dimension.key].level
    assert report.previous_survey == previous
    assert report.roadmap and report.roadmap[0].rank == 1
    assert report.contested, "one respondent answered the first question far off"
    assert all(q.contested and q.std >= 0.25 for q in report.contested)


def test_explained_change_adds_up_to_each_dimension_change(rounds, team):
    _, survey = rounds
    report = selectors.team_report(survey, team)
    for row in report.dimensions:
        assert row.previous is not None
        assert sum(c.points for c in row.contributions) == pytest.approx(row.delta, abs=1e-9)
    assert report.overall_delta == pytest.approx(report.team_score.score - report.previous_score)


def test_org_report_shows_percentiles_levels_and_rollups(rounds, team, other_team, admin_user):
    _, survey = rounds
    parent = Team.objects.create(slug="platform", name="Platform")
    Team.objects.filter(pk__in=[team.pk, other_team.pk]).update(parent=parent)
    services.aggregate(survey=survey)
    report = selectors.org_report(survey, admin_user)
    assert [row.team.slug for row in report.rollups] == ["platform"]  # roll-ups first
    rows = {row.team.slug: row for row in [*report.rollups, *report.rows]}
    assert rows["recsys"].percentile == 100.0 and rows["fraud"].percentile == 50.0
    assert rows["platform"].is_rollup and rows["platform"].team_score.n_respondents == 6
    assert (
        sum(
            item["counts"][rows["recsys"].cells[0]["level"]]
            for item in report.level_distribution[:1]
        )
        >= 1
    )
    assert rows["recsys"].submitted == 3
    assert rows["recsys"].invited == team.memberships.count() == 6  # both rounds' people
    heat = selectors.org_heatmap(survey, admin_user, selectors.OrgQuery())
    assert heat["teams"][0] == "Platform" and len(heat["teams"]) == 3  # roll-ups first
    assert len(heat["cells"]) == len(heat["teams"]) * len(heat["dimensions"])


def test_anonymous_survey_withholds_small_teams_everywhere(rounds, team, other_team, admin_user):
    _, survey = rounds
    survey.anonymous = True
    survey.min_group_size = 4
    survey.save()
    report = selectors.team_report(survey, team)
    assert report.withheld and report.dimensions == [] and report.roadmap == []
    org = selectors.org_report(survey, admin_user)
    assert all(row.withheld and not row.cells for row in org.rows)
    assert selectors.org_heatmap(survey, admin_user, selectors.OrgQuery())["cells"] == []
    assert selectors.percentiles(survey) == {}
    assert selectors.org_dimension_medians(survey) == {}


# --- pages and permissions ---------------------------------------------------------------


def report_urls(survey, team) -> list[str]:
    return [
        f"/reports/teams/{team.slug}/?survey={survey.pk}",
        f"/reports/teams/{team.slug}/report.pdf?survey={survey.pk}",
    ]


def test_strangers_get_404_on_every_team_report_url(client, rounds, team, other_member):
    _, survey = rounds
    other_manager = MembershipFactory(team=other_member.memberships.get().team, role="manager").user
    for user in (other_member, other_manager):
        client.force_login(user)
        for url in report_urls(survey, team):
            assert client.get(url).status_code == 404, (user, url)
        response = client.post(f"/reports/teams/{team.slug}/targets/?survey={survey.pk}", {})
        assert response.status_code == 404
    client.logout()
    assert client.get(report_urls(survey, team)[0]).status_code == 302


def test_managers_admins_and_members_read_the_report(
    client, rounds, team, manager, member, admin_user
):
    _, survey = rounds
    for user in (manager, admin_user, member):
        client.force_login(user)
        page = client.get(report_urls(survey, team)[0])
        assert page.status_code == 200
        assert shown_text(TeamScore.objects.get(survey=survey, team=team).score) in (
            page.content.decode()
        )
    survey.members_see_results = False
    survey.save()
    client.force_login(member)
    assert client.get(report_urls(survey, team)[0]).status_code == 404
    client.force_login(manager)
    assert client.get(report_urls(survey, team)[0]).status_code == 200


def test_bad_survey_parameters_are_404_not_500(client, rounds, team, manager):
    client.force_login(manager)
    for value in ("abc", "999999", "-1"):
        assert client.get(f"/reports/teams/{team.slug}/?survey={value}").status_code == 404
        assert client.get(f"/reports/?survey={value}").status_code == 404
    assert client.get("/reports/teams/no-such-team/").status_code == 404


def test_org_page_only_lists_readable_teams(client, rounds, manager, other_team):
    _, survey = rounds
    client.force_login(manager)
    page = client.get(f"/reports/?survey={survey.pk}").content.decode()
    assert "Recommendations" in page and other_team.name not in page


def test_pdf_is_rendered_with_the_overall_score(client, rounds, team, manager):
    from pypdf import PdfReader

    _, survey = rounds
    client.force_login(manager)
    response = client.get(report_urls(survey, team)[1])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    score = TeamScore.objects.get(survey=survey, team=team).score
    assert shown_text(score) in text
    assert "Roadmap" in text


def test_manager_sets_targets_and_the_roadmap_follows(
    client, rounds, team, manager, django_capture_on_commit_callbacks
):
    _, survey = rounds
    client.force_login(manager)
    key = survey.framework.dimensions.order_by("order").first().key
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/reports/teams/{team.slug}/targets/?survey={survey.pk}", {f"target-{key}": "4"}
        )
    assert response.status_code == 302
    assert DimensionTarget.objects.get(team=team, dimension_key=key).target_level == 4
    report = selectors.team_report(survey, team)
    assert next(r for r in report.dimensions if r.dimension.key == key).target_level == 4
    bad = client.post(
        f"/reports/teams/{team.slug}/targets/?survey={survey.pk}", {f"target-{key}": "9"}
    )
    assert bad.status_code == 302 and DimensionTarget.objects.get(team=team).target_level == 4
