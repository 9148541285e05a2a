"""config.db: the helpers for hot paths that leave the ORM's query building."""

from __future__ import annotations

import pytest
from django.db import connection

from common.db import JoinedRow
from surveys.models import Survey, Team

pytestmark = pytest.mark.django_db


def test_joined_row_builds_instances_as_the_orm_does(survey, team):
    """Each backend's converters apply: on SQLite, datetimes come back as text otherwise."""
    team.parent = Team.objects.create(slug="ml", name="ML")
    team.save()
    joined = JoinedRow((Survey, "s"), (Team, "t"))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {joined.select_list}, 42 FROM surveys_survey s"  # noqa: S608
            " JOIN surveys_survey_teams st ON st.survey_id = s.id"
            " JOIN surveys_team t ON t.id = st.team_id WHERE s.id = %s AND t.id = %s",
            [survey.pk, team.pk],
        )
        (read_survey, read_team), rest = joined.read(cursor.fetchone())
    assert rest == [42]
    for read, model in [(read_survey, Survey), (read_team, Team)]:
        stored = model.objects.get(pk=read.pk)
        for field in model._meta.concrete_fields:
            assert getattr(read, field.attname) == getattr(stored, field.attname), field.name
            assert type(getattr(read, field.attname)) is type(getattr(stored, field.attname))
        assert not read._state.adding
    assert read_team.parent.slug == "ml"
