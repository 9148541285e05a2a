"""Evidence with a real worker: an upload through the API is collected, evaluated and the
team re-scored by a `celery worker` process (collect_facts -> evaluate_checks ->
aggregate_team) against the real Redis and PostgreSQL."""

from __future__ import annotations

import pytest

from evidence.models import CheckResult, FactSet, Snapshot
from reports.models import AggregationRun, QuestionScore, TeamScore
from tests.evidence.conftest import RECSYS_VERDICTS, upload
from tests.evidence.test_verdicts import verdicts
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_an_upload_is_collected_evaluated_and_scored_by_the_worker(
    real_celery, v2_round, team, evidence_client
):
    real_celery()
    response = upload(evidence_client, team.slug, repository="recsys-service")
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    snapshot_id = response.json()["id"]

    def scored() -> TeamScore | None:
        return TeamScore.objects.filter(survey=v2_round, team=team, evidence_checked__gt=0).first()

    team_score = wait_for(scored, timeout=60, message="the worker to score the evidence")
    snapshot = Snapshot.objects.get(pk=snapshot_id)
    assert snapshot.status == "collected" and snapshot.processed_at is not None
    assert FactSet.objects.filter(content=snapshot.content).count() >= 2
    assert CheckResult.objects.filter(
        content=snapshot.content, framework=v2_round.framework
    ).exists()
    # experiment-tracking, model-containerisation, dev-environments (tests.evidence.conftest)
    assert (team_score.evidence_checked, team_score.evidence_confirmed) == (8, 3)
    assert team_score.evidence_contradicted == 2
    assert verdicts(v2_round, team) == RECSYS_VERDICTS
    run = AggregationRun.objects.get(survey=v2_round, team=team)
    assert (run.trigger, run.status) == ("evidence", "done")
    evidence = QuestionScore.objects.get(
        team_score=team_score, question__key="shift-left-security"
    ).evidence
    assert {check["source"] for check in evidence} == {"recsys-service"}
    assert evidence_client.get(response["Location"]).json()["status"] == "collected"

    # The same tree again (the next CI run): facts and results are reused, not redone.
    facts, results = FactSet.objects.count(), CheckResult.objects.count()
    second = upload(evidence_client, team.slug, repository="recsys-service").json()["id"]
    wait_for(
        lambda: Snapshot.objects.filter(pk=second, status="collected").exists(),
        timeout=60,
        message="the second snapshot",
    )
    assert (FactSet.objects.count(), CheckResult.objects.count()) == (facts, results)
    assert Snapshot.objects.get(pk=second).content_id == snapshot.content_id
