"""Question health with a real worker: the survey-wide run at the close stores it."""

from __future__ import annotations

import pytest
from django.db import transaction

from reports.models import AggregationRun, DimensionHealth, QuestionHealth
from surveys import services
from tests.conftest import complete_answers
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_closing_a_survey_has_the_worker_store_its_question_health(
    real_celery, survey, team, other_team, member, manager, other_member
):
    real_celery()
    # Two respondents of one team who disagree on everything (3 and 1): Krippendorff's
    # alpha of one unit with two different values is 0, below 0.667, so every question is
    # ambiguous; the other team's single answer counts in the rates only.
    for user, target, score in [
        (member, team, 3),
        (manager, team, 1),
        (other_member, other_team, 2),
    ]:
        services.response_submit(
            survey=survey,
            team=target,
            respondent=user,
            respondent_key=services.respondent_key_for(user, survey),
            answers=complete_answers(survey.framework, score),
        )
    with transaction.atomic():
        services.survey_close(survey=survey)

    questions = survey.framework.questions.count()
    wait_for(
        lambda: QuestionHealth.objects.filter(survey=survey).count() == questions,
        timeout=60,
        message="the worker to store the question health",
    )
    run = AggregationRun.objects.get(survey=survey, team=None)
    assert (run.status, run.trigger) == ("done", "survey closed")
    rows = list(QuestionHealth.objects.filter(survey=survey))
    assert {(row.n_answers, row.agreement_teams, tuple(row.flags)) for row in rows} == {
        (3, 1, ("ambiguous",))
    }
    assert all(row.agreement == pytest.approx(0.0, abs=1e-12) for row in rows)
    assert all(row.computed_at >= survey.closed_at for row in rows)
    assert DimensionHealth.objects.filter(survey=survey).count() == (
        survey.framework.dimensions.count()
    )
