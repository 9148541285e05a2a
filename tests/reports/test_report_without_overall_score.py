"""A round whose snapshot has no overall score has no change since the last round.

Found by the type checker (issue 14, section 3): once every counted response of a team is
withdrawn, its snapshot goes empty (overall score and level None), and
TeamReport.overall_delta subtracted the previous round's score from that None (TypeError).
The report page hid it only because Django's ``{% if ... is not None %}`` swallows an
exception in its operand.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from reports import selectors
from reports import services as report_services
from reports.models import TeamScore
from surveys import services
from tests.conftest import complete_answers
from tests.factories import MembershipFactory, SurveyFactory

pytestmark = pytest.mark.django_db


def submit(survey, team, user, score):
    return services.response_submit(
        survey=survey,
        team=team,
        respondent=user,
        respondent_key=services.respondent_key_for(user, survey),
        answers=complete_answers(survey.framework, score),
    ).response


@pytest.fixture
def emptied_round(framework, team, survey, admin_user, django_capture_on_commit_callbacks):
    """Last round scored for ``team``; this round's only counted response withdrawn."""
    now = timezone.now()
    previous = SurveyFactory(
        framework=framework,
        teams=[team],
        title="Q3 review",
        opens_at=now - timedelta(days=120),
        closes_at=now + timedelta(days=1),
    )
    submit(previous, team, MembershipFactory(team=team).user, 2)
    previous.status = "closed"
    previous.closes_at = now - timedelta(days=60)
    previous.save()
    report_services.aggregate(survey=previous)
    response = submit(survey, team, MembershipFactory(team=team).user, 3)
    report_services.aggregate(survey=survey)
    with django_capture_on_commit_callbacks(execute=True):  # re-scores the team
        services.response_withdraw(response=response, withdrawn_by=admin_user, reason="test")
    return previous, survey


def test_a_round_without_an_overall_score_shows_no_change_since_the_last(emptied_round, team):
    previous, survey = emptied_round
    empty = TeamScore.objects.get(survey=survey, team=team)
    assert (empty.score, empty.level, empty.n_respondents) == (None, None, 0)
    report = selectors.team_report(survey, team)
    assert report.previous_survey == previous
    assert report.previous_score == TeamScore.objects.get(survey=previous, team=team).score
    assert report.previous_score is not None
    assert report.overall_delta is None
    assert report.level_name == ""
