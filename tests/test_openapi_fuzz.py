"""Schemathesis against /api/schema/: no 500s, no undocumented status codes or content types,
no response that breaks its schema, as an admin and as a member (token auth), in-process
through the WSGI application.

Bounded: a few examples per operation and role (FUZZ_EXAMPLES), half of them aimed at
objects that exist, so that the run takes well under two minutes.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from actions.services import ActionInput, action_create
from common.events import EVENTS
from notifications.services import deliveries_create, webhook_create
from reports import health, services
from reports.authentication import api_token_create
from reports.campaign_progress import campaign_progress_refresh
from reports.exports import ExportRequest, export_job_create
from reports.models import AggregationRun
from surveys import services as survey_services
from surveys.models import Membership
from tests.campaign_world import make_campaign
from tests.conftest import complete_answers
from trackers.services import connection_create
from trackers.validation import connection_clean

pytestmark = [pytest.mark.django_db, pytest.mark.fuzz]

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def wsgi_app():
    """The WSGI application, kept inside the test's transaction.

    Like Django's test client, stop request signals from closing the connection that holds
    the test transaction.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def world(survey, team, other_team, member, manager, other_member, admin_user):
    """Answers, scores and a run, so that fuzzing also reaches real objects."""
    for user, target, score in [
        (member, team, 3),
        (manager, team, 1),
        (other_member, other_team, 2),
    ]:
        survey_services.response_submit(
            survey=survey,
            team=target,
            respondent=user,
            respondent_key=survey_services.respondent_key_for(user, survey),
            answers=complete_answers(survey.framework, score),
        )
    services.aggregate(survey=survey)
    health.question_health_refresh(survey=survey)
    job = export_job_create(ExportRequest(kind="scores", survey=survey), owner=admin_user)
    # A webhook to nowhere (the discard port) with one delivery in its log.
    webhook = webhook_create(
        url="http://127.0.0.1:9/hook", secret="fuzz-secret-0123456789", events=EVENTS, by=None
    )
    [delivery] = deliveries_create(event="scores.updated", payload={"teams": []})
    campaign = make_campaign(team, dimension="monitoring-feedback", level=2)
    campaign_progress_refresh(campaign)
    # A tracker nothing answers at (the discard port): pushes and tests are 502s.
    tracker = connection_create(
        values=connection_clean(
            {
                "provider": "github",
                "name": "fuzz",
                "base_url": "http://127.0.0.1:9",
                "target": "acme/app",
                "token": "fuzz-token",
                "team": None,
            },
            instance=None,
        ),
        by=admin_user,
    )
    question_key = survey.framework.questions.order_by("order").first().key
    action = action_create(ActionInput(team, survey, question_key), by=manager)
    return {
        "tracker": tracker.pk,
        "action": action.pk,
        "webhook": webhook.pk,
        "delivery": delivery.pk,
        "campaign": campaign.pk,
        "export_job": job.pk,
        "survey": survey.pk,
        "membership": Membership.objects.filter(user=member).first().pk,
        "run": AggregationRun.objects.first().pk,
        "team": team.slug,
        "framework": survey.framework.slug,
    }


def known_path_parameters(path: str, world: dict) -> dict:
    if "{survey_id}" in path or path.startswith("/api/v1/surveys/{id}"):
        return {"survey_id": world["survey"], "id": world["survey"], "slug": world["team"]}
    if path.startswith("/api/v1/trackers/{id}"):
        return {"id": world["tracker"]}
    if path.startswith("/api/v1/actions/{pk}"):
        return {"pk": world["action"]}
    if path.startswith("/api/v1/memberships/{id}"):
        return {"id": world["membership"]}
    if path.startswith("/api/v1/aggregation-runs/{id}"):
        return {"id": world["run"]}
    if path.startswith("/api/v1/teams/{slug}"):
        return {"slug": world["team"]}
    if path.startswith("/api/v1/frameworks/{slug}"):
        return {"slug": world["framework"]}
    if path.startswith("/api/v1/exports/{job_id}"):
        return {"job_id": world["export_job"]}
    if path.startswith("/api/v1/webhooks/{id}"):
        return {"id": world["webhook"], "delivery_id": world["delivery"]}
    if path.startswith("/api/v1/campaigns/{id}"):
        return {"id": world["campaign"]}
    return {}


@pytest.mark.parametrize("role", ["admin_user", "member"])
def test_api_conforms_to_its_openapi_schema(request, role, wsgi_app, world):
    user = request.getfixturevalue(role)
    _, key = api_token_create(user=user, name="fuzz")
    headers = {"Authorization": f"Token {key}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 66  # every operation in config/api.py
    failures = []
    for operation in operations:
        known = {
            name: value
            for name, value in known_path_parameters(operation.path, world).items()
            if f"{{{name}}}" in operation.path
        }
        wants_survey = "/exports/" in operation.path or "/question-health/" in operation.path
        query = {"survey": world["survey"]} if wants_survey else None
        strategy = st.one_of(
            operation.as_strategy(),
            operation.as_strategy(path_parameters=known or None, query=query),
        )

        @given(case=strategy)
        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Exception as error:  # noqa: BLE001  (collect every operation's failure)
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
    assert not failures, "\n\n".join(failures)
