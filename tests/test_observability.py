"""Request ids in responses and logs; /metrics is protected and counts real events."""

from __future__ import annotations

import json
import logging

import pytest

from config.observability import JsonFormatter, RequestIdFilter, RequestIdMiddleware
from reports import services
from tests.conftest import complete_answers


def test_every_response_carries_a_request_id(client):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]
    assert len(first) == 32 and first != second
    assert client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    # Nonsense (or an injection attempt) is replaced, not echoed.
    replaced = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\r\nx")["X-Request-ID"]
    assert replaced != "bad id\r\nx" and len(replaced) == 32


def test_log_lines_written_during_a_request_are_json_with_its_id(rf):
    records = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Capture()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.observability")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    def view(request):
        from django.http import HttpResponse

        logger.info("scoring team %s", "recsys")
        return HttpResponse("ok")

    response = RequestIdMiddleware(view)(rf.get("/", HTTP_X_REQUEST_ID="req-42"))
    logger.removeHandler(handler)
    line = json.loads(records[0])
    assert line["message"] == "scoring team recsys"
    assert line["request_id"] == "req-42" == response["X-Request-ID"]
    assert line["level"] == "INFO" and line["logger"] == "tests.observability"


@pytest.mark.django_db
def test_metrics_need_the_token_when_one_is_set(client, settings):
    settings.METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.1.2.3"]
    assert client.get("/metrics").status_code == 403  # the test client is 127.0.0.1


@pytest.mark.django_db
def test_metrics_count_submissions_and_aggregation_runs(client, survey, team, member, framework):
    from surveys import services as survey_services

    survey_services.response_submit(
        survey=survey,
        team=team,
        respondent=member,
        respondent_key=f"u:{member.pk}",
        answers=complete_answers(framework),
    )
    services.aggregate(survey=survey)
    body = client.get("/metrics").content.decode()
    assert 'maturity_submissions_total{status="submitted"} 1.0' in body
    assert 'maturity_aggregation_runs_total{status="done"} 1.0' in body
    assert "maturity_stale_teams 0.0" in body
    assert 'maturity_aggregation_seconds_total{phase="load"}' in body
    assert "django_http_requests_total_by_method_total" in body  # django-prometheus
