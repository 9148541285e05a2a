"""The choice a verdict compares is the roadmap's: reports.action_verification.choice_of over
a stored question mean equals the scoring engine's ``current_score`` (maturity.scoring) for
every roadmap step, whatever the answers (two code paths that must agree)."""

from __future__ import annotations

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reports import services
from reports.action_verification import choice_of
from reports.models import QuestionScore, TeamRecommendation
from tests.factories import AnswerFactory, SubmittedResponseFactory

pytestmark = pytest.mark.django_db


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    answers=st.lists(
        st.lists(st.one_of(st.none(), st.integers(0, 4)), min_size=8, max_size=8),
        min_size=1,
        max_size=5,
    )
)
def test_the_verdicts_choice_is_the_roadmaps_current_choice(survey, team, answers):
    questions = list(survey.framework.questions.order_by("order")[:8])
    with transaction.atomic():
        for row in answers:
            response = SubmittedResponseFactory(survey=survey, team=team)
            for question, score in zip(questions, row, strict=True):
                if score is not None:
                    AnswerFactory(
                        response=response, question=question, score=min(score, question.max_score)
                    )
        services.aggregate(survey=survey, team_ids=[team.pk])
        steps = TeamRecommendation.objects.filter(
            team_score__survey=survey, team_score__team=team
        ).select_related("question")
        means = {
            row.question_id: row.mean
            for row in QuestionScore.objects.filter(
                team_score__survey=survey, team_score__team=team
            )
        }
        for step in steps:
            assert choice_of(means[step.question_id], step.question.max_score) == step.current_score
        transaction.set_rollback(True)
