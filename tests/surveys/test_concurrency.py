"""Concurrency on PostgreSQL: one idempotency key stores one response; racing resubmissions
leave exactly one counted response."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from surveys import services
from surveys.models import Answer, Response
from tests.conftest import complete_answers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]


def run_parallel(count: int, action):
    def wrapped(index: int):
        try:
            return action(index)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(wrapped, range(count)))


def test_twenty_parallel_requests_with_one_key_store_one_response(survey, team, member, framework):
    answers = complete_answers(framework, 2)
    key = services.respondent_key_for(member, survey)

    def submit(_: int):
        result = services.response_submit(
            survey=survey,
            team=team,
            respondent=member,
            respondent_key=key,
            answers=answers,
            idempotency_key="same-key",
        )
        return result.response.pk, result.replayed

    results = run_parallel(20, submit)
    assert len({pk for pk, _ in results}) == 1
    assert sum(1 for _, replayed in results if not replayed) == 1
    assert Response.objects.filter(status="submitted").count() == 1
    assert Response.objects.exclude(status="draft").count() == 1
    assert Answer.objects.filter(response__status="submitted").count() == len(answers)


def test_racing_resubmissions_leave_exactly_one_counted_response(survey, team, member, framework):
    key = services.respondent_key_for(member, survey)

    def submit(index: int):
        return services.response_submit(
            survey=survey,
            team=team,
            respondent=member,
            respondent_key=key,
            answers=complete_answers(framework, index % 5),
        ).response.pk

    pks = run_parallel(10, submit)
    assert len(set(pks)) == 10
    counted = Response.objects.filter(respondent_key=key, status="submitted")
    assert counted.count() == 1
    assert Response.objects.filter(respondent_key=key, status="superseded").count() == 9
    # The counted response is whole: one answer per question, all with the same score.
    winner = counted.get()
    assert winner.answers.count() == framework.questions.count()
    assert winner.answers.values("score").distinct().count() == 1
