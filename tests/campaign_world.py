"""Scored rounds and campaigns for the campaign tests (tests/campaigns, tests/reports).

Rounds are answered through the submission service and scored by reports.services.aggregate,
the real pipeline; campaigns are made by campaigns.services.campaign_create.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.utils import timezone

from campaigns import services as campaign_services
from campaigns.models import Campaign
from maturity.models import Framework
from reports import services
from surveys import services as survey_services
from surveys.models import Survey, Team
from tests.conftest import complete_answers
from tests.factories import MembershipFactory, SurveyFactory, UserFactory

# The shipped mlops framework has this dimension in both versions (levels 0-4 at
# 0/20/40/60/80): every answer at s gives it 25*s points, level s.
MONITORING = "monitoring-feedback"


def dimension_answers(framework: Framework, dimension: str, score: int) -> dict[str, int]:
    """Answers (by question key) putting every question of ``dimension`` at ``score``."""
    keys = framework.questions.filter(dimension__key=dimension).values_list("key", flat=True)
    return dict.fromkeys(keys, score)


def submit(survey: Survey, team: Team, score: int = 2, **by_key: int | str) -> None:
    """One new member of ``team`` submits a complete response (``by_key`` overrides)."""
    user = MembershipFactory(team=team).user
    survey_services.response_submit(
        survey=survey,
        team=team,
        respondent=user,
        respondent_key=survey_services.respondent_key_for(user, survey),
        answers=complete_answers(survey.framework, score, **by_key),
    )


def scored_round(
    framework: Framework,
    answers: dict[Team, list[dict[str, int | str]]],
    *,
    title: str,
    days_ago: int,
    closed: bool = True,
    anonymous: bool = False,
    min_group_size: int = 3,
    extra_teams: tuple[Team, ...] = (),
    members_see_results: bool = True,
) -> Survey:
    """A round of ``answers``' teams (and ``extra_teams``, which do not answer), opened
    ``days_ago`` days ago; each team gets one respondent per dict of overrides (key ->
    score; ``"*"`` the default score, 2). Closed (unless ``closed`` is False), then scored
    survey-wide."""
    now = timezone.now()
    survey = SurveyFactory(
        framework=framework,
        teams=[*answers, *extra_teams],
        title=title,
        opens_at=now - timedelta(days=days_ago),
        closes_at=now + timedelta(days=30),
        anonymous=anonymous,
        min_group_size=min_group_size,
        members_see_results=members_see_results,
    )
    for team, respondents in answers.items():
        for overrides in respondents:
            overrides = dict(overrides)
            default = int(overrides.pop("*", 2))
            submit(survey, team, default, **overrides)
    if closed:
        survey.status = Survey.Status.CLOSED
        survey.closed_at = now - timedelta(days=max(days_ago - 7, 0))
        survey.closes_at = survey.closed_at
        survey.save()
    services.aggregate(survey=survey)
    return survey


def lead() -> object:
    return UserFactory(username="campaign-lead", is_staff=True)


def make_campaign(
    parent: Team,
    *,
    dimension: str = "",
    level: int | None = None,
    question: str = "",
    choice: int | None = None,
    framework: Framework | None = None,
    due: date | None = None,
    title: str = "Monitoring everywhere",
) -> Campaign:
    """A campaign made by an admin through the service (progress not computed yet)."""
    kind = "dimension" if dimension else "question"
    return campaign_services.campaign_create(
        campaign_services.CampaignInput(
            title=title,
            parent=parent,
            goal_kind=kind,
            goal_key=dimension or question,
            goal_minimum=level if dimension else choice,  # type: ignore[arg-type]
            due=due or timezone.localdate() + timedelta(days=90),
            framework=framework,
        ),
        by=lead(),
    )
