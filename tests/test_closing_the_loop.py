"""Issue 19's round trip, through the pages a manager uses: a roadmap step becomes an action,
is pushed to the team's GitHub (the local fake tracker, over HTTP), is closed there, comes
back done through GitHub's signed webhook, and the next round's scores verify it."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from actions.models import Action
from reports.models import TeamRecommendation
from surveys import services as survey_services
from tests.conftest import complete_answers
from tests.factories import SurveyFactory
from tests.trackers.conftest import WEBHOOK_SECRET, connect, fake  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def submit(survey, team, user, score, **overrides):
    survey_services.response_submit(
        survey=survey,
        team=team,
        respondent=user,
        respondent_key=survey_services.respondent_key_for(user, survey),
        answers=complete_answers(survey.framework, score, **overrides),
    )


def test_roadmap_step_to_action_to_github_and_back_then_verified_by_the_next_round(
    django_capture_on_commit_callbacks,
    fake,  # noqa: F811 - fixture
    connect,  # noqa: F811 - fixture
    framework,
    team,
    manager,
    member,
):
    first = SurveyFactory(
        framework=framework,
        teams=[team],
        title="Q3",
        opens_at=timezone.now() - timezone.timedelta(days=90),
    )
    with django_capture_on_commit_callbacks(execute=True):
        submit(first, team, member, 1)
    step = (
        TeamRecommendation.objects.filter(team_score__survey=first, team_score__team=team)
        .order_by("rank")
        .first()
    )
    assert step is not None and step.current_score == 1
    github = connect("github")

    # The manager tracks the roadmap's first step from the team report.
    browser = Client()
    browser.force_login(manager)
    report = f"/reports/teams/{team.slug}/?survey={first.pk}"
    page = browser.get(report).content.decode()
    assert f'data-question="{step.question.key}"' in page and 'id="new-action"' in page
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(
            f"/reports/teams/{team.slug}/actions/?survey={first.pk}",
            {"question": step.question.key, "owner": str(member.pk), "due": "2027-03-31"},
        )
    assert response.status_code == 302
    action = Action.objects.get()
    assert (action.question, action.status) == (step.question, "open")
    assert "Push to GitHub" in browser.get(report).content.decode()

    # Pushed to GitHub as an issue, linked from the report.
    response = browser.post(f"/trackers/actions/{action.pk}/push/")
    assert response.status_code == 302
    issue = fake.github_issue("acme/ml-platform", 1)
    assert issue["title"] == action.title and issue["state"] == "open"
    action.refresh_from_db()
    assert action.external_url == "https://github.com/acme/ml-platform/issues/1"
    assert "GitHub #1" in browser.get(report).content.decode()

    # Closed in GitHub as completed; GitHub's signed webhook brings it back as done.
    fake.github_set_state("acme/ml-platform", 1, "closed", "completed")
    delivery = fake.github_webhook("acme/ml-platform", 1, "closed", WEBHOOK_SECRET)
    with django_capture_on_commit_callbacks(execute=True):
        response = delivery.post(Client(), f"/trackers/webhooks/{github.public_id}/")
    assert response.status_code in (200, 202, 204), response.content
    action.refresh_from_db()
    assert action.status == "done" and action.verification == ""

    # Next quarter the team answers that question one choice higher: verified.
    second = SurveyFactory(framework=framework, teams=[team], title="Q4", opens_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        submit(second, team, member, 1, **{step.question.key: 2})
    action.refresh_from_db()
    assert (action.verification, action.baseline_score, action.verified_score) == ("verified", 1, 2)
    assert action.verified_survey == second
    page = browser.get(f"/reports/teams/{team.slug}/?survey={second.pk}").content.decode()
    assert f'id="action-{action.pk}"' in page and ">verified<" in page
    page = browser.get("/reports/actions/").content.decode()
    assert 'data-testid="verified-share">100 %' in page
