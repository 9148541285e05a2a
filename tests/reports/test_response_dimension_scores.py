"""The set-based recording of per-response dimension scores against a plain reference.

``reports.services.record_response_dimension_scores`` writes, in one SQL statement (issue
17: a cold survey-wide run records every response at once), one row per (counted response,
dimension): 100 x the weighted mean of ``score / max_score`` over the response's answers
there to the questions its team is asked, null when none of those has a choice. A property
test compares it, on SQLite and PostgreSQL alike, with that rule computed response by
response in Python: random answers (choices, N/A, don't know, unanswered), random question
weights, random asked sets per team, some responses recorded before, drafts and superseded
responses that must not be recorded.
"""

from __future__ import annotations

import math

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maturity.models import Question
from maturity.scope import TeamPlan
from reports import services
from surveys.models import Answer, Response, ResponseDimensionScore

pytestmark = pytest.mark.django_db

QUESTIONS = 58  # the shipped framework, version 1
KINDS = st.sampled_from(["score", "score", "score", "na", "dont_know", "none"])


def reference_scores(survey, plans: dict[int, TeamPlan]) -> dict[tuple[int, int], float | None]:
    """Return (response id, dimension id) -> score for every counted response of the
    survey's teams in ``plans``, computed answer by answer from the rule."""
    questions = {q.pk: q for q in Question.objects.filter(framework=survey.framework)}
    dimensions = list(survey.framework.dimensions.values_list("id", flat=True))
    expected: dict[tuple[int, int], float | None] = {}
    counted = Response.objects.filter(survey=survey, status="submitted", team_id__in=list(plans))
    for response in counted:
        pairs: dict[int, list[tuple[float, float]]] = {d: [] for d in dimensions}
        for answer in Answer.objects.filter(response=response):
            question = questions[answer.question_id]
            if answer.question_id in plans[response.team_id].asked and answer.score is not None:
                pairs[question.dimension_id].append(
                    (question.weight, answer.score / question.max_score)
                )
        for dimension, values in pairs.items():
            weight = sum(w for w, _ in values)
            expected[(response.pk, dimension)] = (
                100 * sum(w * v for w, v in values) / weight if values else None
            )
    return expected


def recorded(survey) -> dict[tuple[int, int], float | None]:
    return {
        (response, dimension): score
        for response, dimension, score in ResponseDimensionScore.objects.filter(
            response__survey=survey
        ).values_list("response_id", "dimension_id", "score")
    }


def _respond(survey, team, status, answers, question_ids, index):
    response = Response.objects.create(
        survey=survey,
        team=team,
        respondent_key=f"r:{team.pk}:{index}:{status}",
        status=status,
        submitted_at=None if status == "draft" else timezone.now(),
    )
    rows = []
    for question_id, (kind, score) in zip(question_ids, answers, strict=True):
        if kind == "none":
            continue
        rows.append(
            Answer(
                response=response,
                question_id=question_id,
                score=score if kind == "score" else None,
                na=kind == "na",
                dont_know=kind == "dont_know",
            )
        )
    Answer.objects.bulk_create(rows)
    return response


responses = st.lists(
    st.tuples(
        st.sampled_from(["submitted", "submitted", "submitted", "draft", "superseded"]),
        st.lists(st.tuples(KINDS, st.integers(0, 4)), min_size=QUESTIONS, max_size=QUESTIONS),
    ),
    min_size=0,
    max_size=4,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    per_team=st.tuples(responses, responses),
    asked=st.tuples(
        st.sets(st.integers(0, QUESTIONS - 1), max_size=QUESTIONS),
        st.sets(st.integers(0, QUESTIONS - 1), max_size=QUESTIONS),
    ),
    weights=st.lists(st.integers(1, 3), min_size=QUESTIONS, max_size=QUESTIONS),
    recorded_first=st.sets(st.integers(0, 7), max_size=8),
    one_team_first=st.booleans(),
)
def test_set_based_recording_matches_the_rule_response_by_response(
    survey, team, other_team, per_team, asked, weights, recorded_first, one_team_first
):
    question_ids = list(
        Question.objects.filter(framework=survey.framework)
        .order_by("order")
        .values_list("id", flat=True)
    )
    assert len(question_ids) == QUESTIONS
    with transaction.atomic():
        for question_id, weight in zip(question_ids, weights, strict=True):
            Question.objects.filter(pk=question_id).update(weight=weight)
        teams = [team, other_team]
        made = []
        for team_, answers_of_team in zip(teams, per_team, strict=True):
            for index, (status, answers) in enumerate(answers_of_team):
                made.append(_respond(survey, team_, status, answers, question_ids, index))
        plans = {
            team_.pk: TeamPlan(
                asked=frozenset(question_ids[i] for i in asked_of_team),
                inherited={},
                out_of_scope=frozenset(),
            )
            for team_, asked_of_team in zip(teams, asked, strict=True)
        }
        # Some responses were recorded already (by earlier runs): only the others are new.
        earlier = [r for i, r in enumerate(made) if i in recorded_first and r.status == "submitted"]
        expected = reference_scores(survey, plans)
        ResponseDimensionScore.objects.bulk_create(
            ResponseDimensionScore(response_id=r.pk, dimension_id=d, score=score)
            for (r_id, d), score in expected.items()
            for r in earlier
            if r.pk == r_id
        )
        if one_team_first:
            # A team run records only its own team's responses.
            services.record_response_dimension_scores(survey, [team.pk], plans)
            assert {r for r, _ in recorded(survey)} == {r.pk for r in earlier} | {
                r.pk for r in made if r.team_id == team.pk and r.status == "submitted"
            }
        written = services.record_response_dimension_scores(survey, None, plans)
        got = recorded(survey)
        assert got.keys() == expected.keys()
        for key, want in expected.items():
            if want is None:
                assert got[key] is None, key
            else:
                assert got[key] is not None and math.isclose(got[key], want, rel_tol=1e-9), key
        assert written <= len(expected)
        assert services.record_response_dimension_scores(survey, None, plans) == 0
        transaction.set_rollback(True)
