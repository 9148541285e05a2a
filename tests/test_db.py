"""common.db: the helpers for the hot reads that leave the ORM's query building."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from common.db import columns_of, instance_from_row
from maturity.models import Framework, Question
from surveys.models import Response, Survey, Team

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", [Survey, Team, Framework, Question, Response, get_user_model()])
def test_instance_from_row_reads_a_row_as_the_orm_does(model, survey, team, member, framework):
    """Same values, same types, on SQLite (text datetimes, 0/1 booleans, JSON text) and
    PostgreSQL alike."""
    from surveys import services
    from tests.conftest import complete_answers

    team.parent = Team.objects.create(slug="ml", name="ML")
    team.save()
    services.response_submit(
        survey=survey,
        team=team,
        respondent=member,
        respondent_key=services.respondent_key_for(member, survey),
        answers=complete_answers(framework),
    )
    table = model._meta.db_table
    for stored in model.objects.all()[:5]:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {columns_of(model, 'x')} FROM {table} x WHERE x.id = %s",  # noqa: S608
                [stored.pk],
            )
            read = instance_from_row(model, cursor.fetchone())
        for field in model._meta.concrete_fields:
            mine, theirs = getattr(read, field.attname), getattr(stored, field.attname)
            assert mine == theirs, field.name
            assert type(mine) is type(theirs), field.name
        assert not read._state.adding
