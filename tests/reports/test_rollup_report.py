"""A parent team that does not take a round gets a report of its roll-up, for its
managers, with the teams below it side by side (issue 18)."""

from __future__ import annotations

import pytest

from reports.services import aggregate
from surveys import services
from tests.conftest import complete_answers
from tests.factories import MembershipFactory, SurveyFactory, TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rolled_up(framework, team, other_team, member, other_member):
    org = TeamFactory(slug="org", name="Org <b>Unit</b>")
    for child in (team, other_team):
        child.parent = org
        child.save()
    survey = SurveyFactory(framework=framework, teams=[team, other_team], status="open")
    for user, child, level in ((member, team, 2), (other_member, other_team, 3)):
        services.response_submit(
            survey=survey,
            team=child,
            respondent=user,
            respondent_key=services.respondent_key_for(user, survey),
            answers=complete_answers(framework, level),
        )
    aggregate(survey=survey)
    return survey, org


def test_a_parents_manager_reads_the_roll_up_with_its_teams_side_by_side(client, rolled_up, member):
    survey, org = rolled_up
    boss = MembershipFactory(team=org, role="manager").user
    client.force_login(boss)
    response = client.get(f"/reports/teams/org/?survey={survey.pk}")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Teams below Org &lt;b&gt;Unit&lt;/b&gt;" in page
    children = page[page.index('id="children"') :]
    assert children.index("Fraud Detection") < children.index("Recommendations")
    assert f"/reports/teams/recsys/?survey={survey.pk}" in children
    assert "scores.csv" not in page  # downloads are the teams' own
    assert client.get(f"/reports/teams/org/scores.csv?survey={survey.pk}").status_code == 404
    # A member of a child team cannot read the parent's report.
    client.force_login(member)
    assert client.get(f"/reports/teams/org/?survey={survey.pk}").status_code == 404


def test_a_new_child_score_renews_the_cached_roll_up(
    client, rolled_up, framework, team, admin_user
):
    survey, org = rolled_up
    client.force_login(admin_user)
    before = client.get(f"/reports/teams/org/?survey={survey.pk}").content.decode()
    assert "withheld" not in before[before.index('id="children"') :]
    late = MembershipFactory(team=team).user
    services.response_submit(
        survey=survey,
        team=team,
        respondent=late,
        respondent_key=services.respondent_key_for(late, survey),
        answers=complete_answers(framework, 4),
    )
    aggregate(survey=survey, team_ids=[team.pk])
    after = client.get(f"/reports/teams/org/?survey={survey.pk}").content.decode()
    row = after[after.index('id="children"') :]
    recsys = row[row.index("Recommendations") :]
    assert "<td>2</td>" in recsys[:400]  # two respondents now


def test_an_anonymous_roll_up_over_a_withheld_team_is_withheld(
    client, framework, team, other_team, member, other_member, admin_user
):
    """Break-it: the roll-up pooled a withheld team with one shown beside it, so its
    answers could be worked out by difference."""
    org = TeamFactory(slug="org", name="Org")
    for child in (team, other_team):
        child.parent = org
        child.save()
    survey = SurveyFactory(
        framework=framework,
        teams=[team, other_team],
        status="open",
        anonymous=True,
        min_group_size=2,
    )
    for child, users in (
        (team, [member, MembershipFactory(team=team).user]),
        (other_team, [other_member]),
    ):
        for user in users:
            services.response_submit(
                survey=survey,
                team=child,
                respondent=user,
                respondent_key=services.respondent_key_for(user, survey),
                answers=complete_answers(framework, 2),
            )
    services.survey_close(survey=survey)
    aggregate(survey=survey)
    client.force_login(admin_user)
    page = client.get(f"/reports/teams/org/?survey={survey.pk}").content.decode()
    assert "a team below it has too few responses" in page
    assert 'id="children"' not in page and 'data-testid="overall-score"' not in page
