"""Report pages at scale (issue 17): survey-wide figures stored by the worker, cached
bodies that renew with every change they show, and the organisation table paginated,
sorted and filtered in the database without telling anything of withheld teams."""

from __future__ import annotations

import json
import re

import pytest
from django.utils import timezone

from reports import selectors, services
from reports.models import SurveyFigures, TeamScore
from surveys.models import Survey, Team
from tests.factories import MembershipFactory, SurveyFactory, TeamFactory
from tests.reports.test_trends_across_versions import submit as submit_one

pytestmark = pytest.mark.django_db

# Each team answers every question with the same choice: team i scores choices[i].
CHOICES = [4, 1, 3, 0, 2]


def submit(survey, team, score: int, people: int = 1) -> None:
    for _ in range(people):
        submit_one(survey, team, score)


@pytest.fixture
def org(framework):
    """A parent "Platform" above teams a0..a2, and b0..b1 on their own, each scored."""
    platform = TeamFactory(slug="platform", name="Platform")
    teams = [TeamFactory(slug=f"a{i}", name=f"Alpha {i}", parent=platform) for i in range(3)]
    teams += [TeamFactory(slug=f"b{i}", name=f"Beta {i}") for i in range(2)]
    survey = SurveyFactory(framework=framework, teams=teams, title="Round")
    for team, choice in zip(teams, CHOICES, strict=True):
        submit(survey, team, choice)
    services.aggregate(survey=survey)
    return survey, teams


def table_teams(page: str) -> list[str]:
    table = page[page.index('data-testid="org-teams"') :]
    table = table[: table.index("</table>")]
    return re.findall(r'<th scope="row"><a href="[^"]*">([^<]+)</a>', table)


def test_the_worker_stores_the_figures_pages_read(org, admin_user):
    survey, _ = org
    stored = SurveyFigures.objects.get(survey=survey)
    assert stored.version == selectors.figures_version(survey, selectors.snapshot_version(survey))
    figures = services.current_figures(survey)
    computed = selectors.compute_figures(survey)
    assert figures == computed  # what is stored reads back as what is computed
    assert sorted(figures.percentiles.values()) == [20.0, 40.0, 60.0, 80.0, 100.0]
    assert sum(figures.level_counts[0]["counts"]) == 5


def test_out_of_date_figures_are_computed_again_never_shown(org, admin_user):
    survey, teams = org
    SurveyFigures.objects.filter(survey=survey).update(percentiles={}, version="old")
    assert services.current_figures(survey).percentiles[teams[0].pk] == 100.0
    assert SurveyFigures.objects.get(survey=survey).version != "old"  # and stored again
    # Closing an anonymous survey changes what is withheld: the figures follow.
    survey.anonymous, survey.min_group_size = True, 2
    survey.status = "closed"
    survey.save()
    assert services.current_figures(survey).percentiles == {}


def test_org_table_pages_and_sorts_in_the_database(client, org, admin_user, monkeypatch):
    survey, teams = org
    monkeypatch.setattr(selectors, "ORG_PAGE_SIZE", 2)
    client.force_login(admin_user)
    url = f"/reports/?survey={survey.pk}"
    assert table_teams(client.get(url).content.decode()) == ["Alpha 0", "Alpha 1"]
    assert table_teams(client.get(url + "&page=3").content.decode()) == ["Beta 1"]
    past_the_end = client.get(url + "&page=9").content.decode()
    assert table_teams(past_the_end) == ["Beta 1"] and "Page 3 of 3" in past_the_end
    page = client.get(url + "&sort=score&dir=desc").content.decode()
    assert table_teams(page) == ["Alpha 0", "Alpha 2"]  # choices 4 and 3
    assert "Page 1 of 3" in page and 'rel="next"' in page
    page = client.get(url + "&sort=score&dir=asc&page=1").content.decode()
    assert table_teams(page) == ["Beta 0", "Alpha 1"]  # choices 0 and 1
    dimension = survey.framework.dimensions.order_by("order").first()
    assert table_teams(client.get(url + f"&sort={dimension.key}").content.decode()) == [
        "Alpha 0",
        "Alpha 2",
    ]
    # The roll-up of Platform is shown first, on every page, outside the paging.
    assert "roll-up" in client.get(url + "&page=2").content.decode()


def test_org_table_filters_by_parent_level_and_dimension(client, org, admin_user):
    survey, teams = org
    client.force_login(admin_user)
    url = f"/reports/?survey={survey.pk}"
    page = client.get(url + "&parent=platform").content.decode()
    assert table_teams(page) == ["Alpha 0", "Alpha 1", "Alpha 2"]
    top = TeamScore.objects.get(survey=survey, team=teams[0])
    page = client.get(url + f"&level={top.level}").content.decode()
    assert "Alpha 0" in table_teams(page) and "Beta 0" not in table_teams(page)
    dimension = top.dimensions.order_by("dimension__order").first()
    page = client.get(
        url + f"&level={dimension.level}&dimension={dimension.dimension.key}"
    ).content.decode()
    assert table_teams(page)[0] == "Alpha 0"
    heat = client.get(f"/reports/heatmap.json?survey={survey.pk}&parent=platform").json()
    assert heat["teams"] == ["Platform", "Alpha 0", "Alpha 1", "Alpha 2"]


@pytest.mark.parametrize(
    "query", ["page=0", "page=x", "sort=nope", "level=99", "parent=nobody", "dir=up"]
)
def test_a_bad_table_query_is_a_400_with_the_reason_and_the_whole_table(
    client, org, admin_user, query
):
    survey, _ = org
    client.force_login(admin_user)
    response = client.get(f"/reports/?survey={survey.pk}&{query}")
    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-testid="query-errors"' in page and query.split("=")[0] in page
    assert len(table_teams(page)) == 5
    assert client.get(f"/reports/heatmap.json?survey={survey.pk}&{query}").status_code == 400


def test_withheld_teams_sort_last_and_match_no_level(client, framework, admin_user):
    small = TeamFactory(slug="small", name="A small")
    large = TeamFactory(slug="large", name="Z large")
    survey = SurveyFactory(framework=framework, teams=[small, large], anonymous=True)
    survey.min_group_size = 3
    survey.save()
    submit(survey, small, 4, people=2)  # withheld: 2 < 3
    submit(survey, large, 0, people=3)
    survey.status, survey.closed_at = "closed", timezone.now()
    survey.save()
    services.aggregate(survey=survey)
    client.force_login(admin_user)
    url = f"/reports/?survey={survey.pk}"
    for order in ("desc", "asc"):
        page = client.get(f"{url}&sort=score&dir={order}").content.decode()
        assert table_teams(page) == ["Z large", "A small"], order
    small_level = TeamScore.objects.get(survey=survey, team=small).level
    assert table_teams(client.get(f"{url}&level={small_level}").content.decode()) == []
    heat = client.get(f"/reports/heatmap.json?survey={survey.pk}").json()
    assert heat["teams"] == ["Z large"]


def test_a_withheld_team_hides_only_its_own_parents_rollup(client, framework, admin_user):
    parent = TeamFactory(slug="parent", name="Parent")
    other_parent = TeamFactory(slug="other-parent", name="Other parent")
    children = [TeamFactory(slug=f"c{i}", name=f"Child {i}", parent=parent) for i in range(2)]
    small = TeamFactory(slug="small", name="Small", parent=other_parent)
    alone = TeamFactory(slug="alone", name="Alone")  # withheld, with no parent
    survey = SurveyFactory(framework=framework, teams=[*children, small, alone], anonymous=True)
    survey.min_group_size = 2
    survey.save()
    for team in children:
        submit(survey, team, 3, people=2)
    submit(survey, small, 3, people=1)
    submit(survey, alone, 3, people=1)
    survey.status, survey.closed_at = "closed", timezone.now()
    survey.save()
    services.aggregate(survey=survey)
    client.force_login(admin_user)
    heat = client.get(f"/reports/heatmap.json?survey={survey.pk}").json()
    assert heat["teams"] == ["Parent", "Child 0", "Child 1"]  # not "Other parent"
    page = client.get(f"/reports/?survey={survey.pk}").content.decode()
    rollups = page[page.index('id="rollups-h"') : page.index('id="teams-h"')]
    assert "Parent" in rollups and "Other parent" in rollups
    assert rollups.count("Not enough responses (1 of 2)") == 1  # Other parent's own roll-up
    assert "<strong>75.0</strong>" in rollups  # Parent's


def test_a_manager_of_one_team_sees_that_team_only(client, org):
    survey, teams = org
    manager = MembershipFactory(team=teams[3], role="manager").user
    client.force_login(manager)
    page = client.get(f"/reports/?survey={survey.pk}").content.decode()
    assert table_teams(page) == ["Beta 0"] and "Alpha" not in page
    heat = client.get(f"/reports/heatmap.json?survey={survey.pk}").json()
    assert heat["teams"] == ["Beta 0"]
    client.logout()
    assert client.get(f"/reports/heatmap.json?survey={survey.pk}").status_code == 302


def test_cached_pages_renew_with_what_they_show(client, org, admin_user):
    survey, teams = org
    client.force_login(admin_user)
    team_url = f"/reports/teams/{teams[1].slug}/?survey={survey.pk}"
    org_url = f"/reports/?survey={survey.pk}"
    assert "1 / 1" in client.get(org_url).content.decode()
    client.get(team_url)  # cached now
    # A submission: pending in the team report, counted on the organisation page.
    assert "being scored" not in client.get(team_url).content.decode()
    submit(survey, teams[1], 4)
    assert "newer submissions are being scored" in client.get(team_url).content.decode()
    assert "2 / 2" in client.get(org_url).content.decode()
    services.aggregate(survey=survey, team_ids=[teams[1].pk])
    page = client.get(team_url).content.decode()
    assert '<span class="kpi-value">2</span>' in page and "being scored" not in page
    # A rename shows on both pages at once.
    Team.objects.filter(pk=teams[1].pk).update(name="Renamed", updated_at=timezone.now())
    assert "Renamed" in client.get(org_url).content.decode()
    teams[1].refresh_from_db()
    assert "Renamed" in client.get(team_url).content.decode()


def test_another_teams_score_renews_a_team_report_only_when_it_moves_a_median_shown(
    client, org, admin_user
):
    """The team report shows other teams only through the organisation medians (as shown):
    a new score elsewhere that leaves them as they were keeps the cached report; one that
    moves a median, out-of-date figures or a rename renew it."""
    survey, teams = org  # dimension scores: a0 100, a1 25, a2 75, b0 0, b1 50 (median 50)
    a0, b0, b1 = teams[0], teams[3], teams[4]

    def version_of_b0():  # without the open round's quarter hour, which may tick meanwhile
        version = selectors.team_report_version(survey, b0)
        return version[:-4] + version[-3:]

    before = version_of_b0()
    assert "medians" in before  # the figures are current: keyed on the medians shown

    submit(survey, a0, 4)  # a0 stays at 100: no median moves
    services.aggregate(survey=survey, team_ids=[a0.pk])
    assert TeamScore.objects.get(survey=survey, team=a0).n_respondents == 2
    assert version_of_b0() == before
    client.force_login(admin_user)
    assert client.get(f"/reports/teams/{b0.slug}/?survey={survey.pk}").status_code == 200

    submit(survey, b1, 4)  # b1 50 -> 75: the median moves to 75
    services.aggregate(survey=survey, team_ids=[b1.pk])
    moved = version_of_b0()
    assert moved != before
    page = client.get(f"/reports/teams/{b0.slug}/?survey={survey.pk}").content.decode()
    radar = json.loads(re.search(r'id="radar-data"[^>]*>(.*?)</script>', page, re.S)[1])
    median = next(s for s in radar["series"] if s["name"] == "Organisation median")
    assert set(median["values"]) == {75.0}

    SurveyFigures.objects.filter(survey=survey).delete()  # not stored yet: every snapshot
    stale = version_of_b0()
    assert "medians" not in stale and stale != moved
    services.current_figures(survey)
    assert version_of_b0() == moved

    Team.objects.filter(pk=teams[1].pk).update(name="Renamed", updated_at=timezone.now())
    assert version_of_b0() != moved


def test_the_figures_version_reads_a_status_set_in_code_as_stored(org):
    """A survey whose status was just set in code holds the enum member: the figures the
    worker stores with it must match the version a page computes from the row read back."""
    survey, _ = org
    survey.status = Survey.Status.CLOSED
    survey.save(update_fields=["status"])
    version = selectors.snapshot_version(survey)
    read_back = Survey.objects.get(pk=survey.pk)
    assert selectors.figures_version(survey, version) == selectors.figures_version(
        read_back, version
    )
    services.survey_figures_refresh(survey)
    assert selectors.stored_figures(read_back, selectors.snapshot_version(read_back))
