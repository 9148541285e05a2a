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


def test_insert_rows_stores_json_values_as_the_orm_does(framework):
    """Dicts and lists go into JSON columns as the ORM stores them (COPY on PostgreSQL)."""
    from django.utils import timezone

    from common.db import insert_rows
    from evidence.models import CheckResult, SnapshotContent

    content = SnapshotContent.objects.create(
        sha256="a" * 64, manifest={}, n_files=0, n_kept=0, total_size=0
    )
    details = ["no path in repo.paths matches **/Dockerfile", 'é \\ " \t']
    facts = {"repo.paths": ["a b", "c"], "dora.deployments": None, "x": 1.5, "ok": True}
    columns = ["content_id", "framework_id", "question_key", "check_id", "passed", "details"]
    insert_rows(
        CheckResult,
        [*columns, "facts", "signature", "evaluated_at"],
        [(content.pk, framework.pk, "q", "copied", None, details, facts, "s", timezone.now())],
    )
    CheckResult.objects.create(
        content=content,
        framework=framework,
        question_key="q",
        check_id="created",
        passed=None,
        details=details,
        facts=facts,
        signature="s",
    )
    copied, created = (
        CheckResult.objects.filter(check_id=check_id).values_list("passed", "details", "facts")[0]
        for check_id in ("copied", "created")
    )
    assert copied == created == (None, details, facts)
