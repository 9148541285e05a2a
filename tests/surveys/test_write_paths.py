"""The two writes of a submission store the same rows.

On PostgreSQL answers given whole are written by one statement (``_submit_whole``, for
speed); every other case, and SQLite, goes through the ORM (``_submit_once``). A property
test runs both on the same input (choices, N/A and don't know, version 1 and version 2 with
a team profile) and compares every stored column that is not an id or a time.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surveys import selectors, services
from surveys.models import Answer, Response, TeamProfile
from tests.conftest import require
from tests.factories import SurveyFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

TEXT = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters=["\x00"]),
    max_size=80,
)


def answer_sets(framework, asked=None):
    """Answer sets for every question of ``framework`` (or those whose ids are in ``asked``)."""
    questions = list(framework.questions.order_by("order").prefetch_related("choices"))
    if asked is not None:
        questions = [question for question in questions if question.pk in asked]

    def one(question):
        scores = sorted(choice.score for choice in question.choices.all())
        kinds = [
            st.sampled_from(scores).map(lambda score: {"score": score}),
            st.just({"dont_know": True}),
        ]
        if question.allow_na:
            kinds.append(st.just({"na": True}))
        return st.tuples(st.one_of(kinds), TEXT).map(
            lambda pair: services.AnswerInput(question=question, comment=pair[1], **pair[0])
        )

    return st.tuples(*[one(question) for question in questions]).map(list)


def stored(response_id: int) -> tuple[dict, list[tuple]]:
    response = Response.objects.values().get(pk=response_id)
    for varying in ("id", "team_id", "respondent_key", "respondent_id", "started_at"):
        response.pop(varying)
    for moment in ("updated_at", "submitted_at"):
        response[moment] = response[moment] is not None
    answers = list(
        Answer.objects.filter(response_id=response_id)
        .order_by("question_id")
        .values_list("question_id", "score", "na", "dont_know", "comment")
    )
    return response, answers


@pytest.fixture(params=["v1", "v2"])
def round_to_answer(request):
    """A survey, its framework and a profile to give each new team (None: none): version 1,
    or version 2 with a batch-only classical profile (questions out of scope)."""
    if request.param == "v1":
        return request.getfixturevalue("survey"), None
    survey = SurveyFactory(framework=request.getfixturevalue("v2_framework"))
    return survey, {"serving": ["batch"], "model_kinds": ["classical"]}


def new_team(survey, profile):
    team = TeamFactory()
    survey.teams.add(team)
    if profile is not None:
        TeamProfile.objects.create(survey=survey, team=team, **profile)
    return team


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_the_single_statement_and_the_orm_store_identical_rows(data, round_to_answer):
    from django.db import connection

    require(connection.vendor == "postgresql", "needs PostgreSQL (set DATABASE_URL)")
    survey, profile = round_to_answer
    framework = survey.framework
    asked = selectors.team_plan(survey, new_team(survey, profile)).asked
    first, second = (
        data.draw(answer_sets(framework, asked)),
        data.draw(answer_sets(framework, asked)),
    )
    key = data.draw(st.one_of(st.none(), st.text("abcdef0123456789", min_size=1, max_size=20)))
    results = {}
    example = uuid.uuid4().hex[:8]  # examples share the test's transaction: keys must differ
    for path in ("whole", "once"):
        team = new_team(survey, profile)
        user = UserFactory()
        respondent_key = services.respondent_key_for(user, survey)
        write = services._submit_whole if path == "whole" else services._submit_once
        made = []
        for number, answers in enumerate((first, second)):  # the second supersedes
            idempotency = (
                f"{example}-{path}-{key}-{number}" if key else None,
                "f" * 64 if key else "",
            )
            result = write(survey, team, respondent_key, user, answers, idempotency)
            assert result is not None and not result.replayed
            made.append(result)
        assert [result.superseded for result in made] == [0, 1]
        results[path] = [stored(result.response.pk) for result in made]
        for (response, _), result in zip(results[path], made, strict=True):
            response.pop("idempotency_key")
            assert result.response.status == "submitted"
    assert results["whole"] == results["once"]
    assert [response["status"] for response, _ in results["whole"]] == ["superseded", "submitted"]
    assert len(results["whole"][1][1]) == len(asked)  # every asked question, nothing else
