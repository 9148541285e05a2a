"""A team report read "as the ML Test Score": the page, the API, permissions and anonymity.

The arithmetic is maturity.standards.ml_test_score (tested purely in
tests/maturity/test_ml_test_score.py); here: it is fed the persisted question scores of the
team, a v1 round says plainly that it maps no test, and who may not read the team report
may not read this either.
"""

from __future__ import annotations

import pytest

from maturity.standards import ML_TEST_SCORE
from reports import selectors, services
from reports.models import TeamScore
from surveys.models import TeamProfile
from tests.factories import SurveyFactory
from tests.reports.test_api import submit, token_client
from tests.reports.trendy import load_mlops_v2, load_trendy

pytestmark = pytest.mark.django_db


@pytest.fixture
def mlops_v2(mlops_framework):
    return load_mlops_v2()


@pytest.fixture
def v2_round(mlops_v2, team, other_team, member, manager, other_member):
    """A round on the (unpublished) shipped v2: team answers 3 and 2 everywhere (mean 0.625,
    half a point per test), other_team 3 (a full point)."""
    survey = SurveyFactory(framework=mlops_v2, teams=[team, other_team], title="V2 round")
    submit(survey, team, member, 3)
    submit(survey, team, manager, 2)
    submit(survey, other_team, other_member, 3)
    services.aggregate(survey=survey)
    return survey


def url(survey, team) -> str:
    return f"/reports/teams/{team.slug}/ml-test-score/?survey={survey.pk}"


def api_url(survey, team) -> str:
    return f"/api/v1/surveys/{survey.pk}/ml-test-score/?team={team.slug}"


def test_a_small_framework_is_scored_from_the_teams_question_scores(tmp_path, team, member):
    _, v2 = load_trendy(tmp_path)
    survey = SurveyFactory(framework=v2, teams=[team])
    # schema 2/4, skew 2/4 -> half a point each; canary-release 3/4 -> 1; rollback 1/4 -> 0.
    submit(survey, team, member, 2, **{"canary-release": 3, "rollback": 1})
    services.aggregate(survey=survey)
    result = selectors.team_ml_test_score(survey, team)
    assert result.mapped and not result.withheld
    assert {s.key: s.score for s in result.sections} == {
        "data": 0.5,
        "model": 0.0,
        "infra": 1.0,
        "monitor": 0.5,
    }
    assert result.score.overall == 0.0  # the minimum: no model test is mapped
    assert result.score.reading.startswith("More of a research project")
    tests = {t.test: t for s in result.sections for t in s.tests}
    assert len(tests) == len(ML_TEST_SCORE)
    assert tests["infra-6"].points == 1.0 and tests["infra-7"].points == 0.0
    assert [q.question.key for q in tests["monitor-3"].questions] == ["training-serving-skew"]
    assert tests["monitor-3"].questions[0].mean_on_scale == pytest.approx(2.0)
    assert tests["model-1"].points is None and tests["model-1"].questions == []


def test_the_shipped_v2_maps_every_test_and_the_overall_is_the_lowest_section(
    v2_round, team, other_team
):
    half = selectors.team_ml_test_score(v2_round, team)
    assert {s.key: s.score for s in half.sections} == dict.fromkeys(
        ("data", "model", "infra", "monitor"), 3.5
    )
    assert half.score.overall == 3.5
    assert half.score.reading.startswith("Strong levels of automated testing")
    full = selectors.team_ml_test_score(v2_round, other_team)
    assert full.score.overall == 7.0
    assert full.score.reading == "Exceptional levels of automated testing and monitoring."


def test_a_question_out_of_scope_for_the_teams_profile_is_marked(v2_round, team):
    TeamProfile.objects.create(survey=v2_round, team=team, serving=["batch"])
    result = selectors.team_ml_test_score(v2_round, team)
    tests = {t.test: t for s in result.sections for t in s.tests}
    marks = {q.question.key: q.out_of_scope for q in tests["monitor-6"].questions}
    assert marks == {"load-testing": True, "service-monitoring": False}


def test_the_page_shows_a_table_per_section_and_the_papers_reading(client, v2_round, team, manager):
    client.force_login(manager)
    report = client.get(f"/reports/teams/{team.slug}/?survey={v2_round.pk}").content.decode()
    assert f'href="{url(v2_round, team)}"' in report.replace("&amp;", "&")
    page = client.get(url(v2_round, team))
    assert page.status_code == 200
    html = page.content.decode()
    for section in ("Features and data", "Model development", "ML infrastructure", "Monitoring"):
        assert section in html
    assert 'data-testid="mlts-overall">3.5<' in html
    assert "Strong levels of automated testing" in html
    assert 'data-test="monitor-3"' in html and "feature-consistency" in html


def test_a_v1_round_says_plainly_that_it_maps_no_test(client, survey, team, member, manager):
    submit(survey, team, member, 3)
    services.aggregate(survey=survey)
    assert selectors.team_ml_test_score(survey, team).mapped is False
    client.force_login(manager)
    html = client.get(url(survey, team)).content.decode()
    assert "maps no ML Test Score tests" in html and "mlts-overall" not in html
    body = token_client(manager).get(api_url(survey, team)).json()
    assert body["mapped"] is False and body["overall"] is None and body["sections"] == []
    assert body["detail"] == "This framework version maps no ML Test Score tests."
    assert (body["framework"], body["framework_version"]) == ("mlops", 1)


def test_who_may_not_read_the_team_report_may_not_read_this(
    client, v2_round, team, member, other_member
):
    client.force_login(other_member)
    assert client.get(url(v2_round, team)).status_code == 404
    assert token_client(other_member).get(api_url(v2_round, team)).status_code == 404
    v2_round.members_see_results = False
    v2_round.save()
    client.force_login(member)
    assert client.get(f"/reports/teams/{team.slug}/?survey={v2_round.pk}").status_code == 404
    assert client.get(url(v2_round, team)).status_code == 404


def test_a_withheld_team_shows_nothing_but_the_reason(client, v2_round, team, manager, admin_user):
    v2_round.anonymous = True
    v2_round.min_group_size = 3
    v2_round.status = "closed"
    v2_round.save()
    result = selectors.team_ml_test_score(v2_round, team)
    assert result.withheld and result.score is None and result.sections == []
    client.force_login(admin_user)
    html = client.get(url(v2_round, team)).content.decode()
    assert "Not enough responses (2 of 3)" in html and "mlts-overall" not in html
    body = token_client(admin_user).get(api_url(v2_round, team)).json()
    assert body == {
        "team": team.slug,
        "withheld": True,
        "reason": "too_few_respondents",
        "n_respondents": 2,
        "min_group_size": 3,
    }


def test_the_api_gives_each_section_test_and_question(v2_round, team, manager):
    api = token_client(manager)
    response = api.get(api_url(v2_round, team))
    assert response.status_code == 200
    body = response.json()
    assert (body["framework"], body["framework_version"], body["mapped"]) == ("mlops", 2, True)
    assert body["overall"] == 3.5 and body["reading"].startswith("Strong levels")
    assert [s["section"] for s in body["sections"]] == ["data", "model", "infra", "monitor"]
    monitor_3 = next(t for t in body["sections"][3]["tests"] if t["test"] == "monitor-3")
    assert monitor_3["points"] == 0.5
    assert monitor_3["questions"][0] == {
        "question": "feature-consistency",
        "text": v2_round.framework.questions.get(key="feature-consistency").text,
        "mean": pytest.approx(0.625),
        "out_of_scope": False,
    }


def test_the_api_refuses_a_missing_or_unknown_team_without_a_500(v2_round, team, manager):
    api = token_client(manager)
    missing = api.get(f"/api/v1/surveys/{v2_round.pk}/ml-test-score/")
    assert missing.status_code == 400 and "team" in missing.json()
    assert api.get(f"/api/v1/surveys/{v2_round.pk}/ml-test-score/?team=nope").status_code == 404
    assert api.get(f"/api/v1/surveys/999999/ml-test-score/?team={team.slug}").status_code == 404
    TeamScore.objects.filter(survey=v2_round, team=team).delete()
    assert api.get(api_url(v2_round, team)).status_code == 404  # no scores yet


def test_a_team_without_scores_has_no_reading(v2_round, team):
    TeamScore.objects.filter(survey=v2_round, team=team).delete()
    result = selectors.team_ml_test_score(v2_round, team)
    assert result.withheld and result.withheld_reason is None and result.score is None
