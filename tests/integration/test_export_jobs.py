"""An export job run by a real `celery worker` on Redis: the API queues it, the worker
writes the file into the storage both processes share, and the download equals what the
synchronous endpoint streams."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from reports import services
from reports.models import ExportAudit, ExportJob
from tests.integration.conftest import wait_for
from tests.reports.test_api import submit, token_client
from tests.reports.test_exports import parse

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_worker_runs_an_export_job_into_the_shared_storage(
    real_celery,
    settings,
    tmp_path,
    survey,
    team,
    other_team,
    member,
    manager,
    other_member,
    admin_user,
):
    settings.MEDIA_ROOT = tmp_path  # the worker is told the same directory below
    for user, target, score in [
        (member, team, 3),
        (manager, team, 1),
        (other_member, other_team, 2),
    ]:
        submit(survey, target, user, score)
    services.aggregate(survey=survey)
    real_celery(MEDIA_ROOT=str(tmp_path))
    api = token_client(admin_user)

    response = api.post(
        "/api/v1/exports/",
        {"kind": "answers", "survey": survey.pk, "format": "xlsx"},
        format="json",
    )
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued"  # the worker runs it, not this request
    location = response["Location"]

    def finished() -> dict | None:
        job = api.get(location).json()
        return job if job["status"] in ("done", "failed") else None

    job = wait_for(finished, timeout=60, message="the worker to run the export job")
    assert job["status"] == "done", job["error"]
    rows = 3 * survey.framework.questions.count()
    assert (job["rows_written"], job["rows_estimated"]) == (rows, rows)

    url = urlsplit(job["download_url"])
    download = api.get(f"{url.path}?{url.query}")
    assert download.status_code == 200
    body = b"".join(download.streaming_content)
    streamed = api.get(f"/api/v1/exports/answers/?survey={survey.pk}&format=xlsx")
    assert parse(body, "xlsx") == parse(b"".join(streamed.streaming_content), "xlsx")
    stored = ExportJob.objects.get(pk=job["id"])
    assert (tmp_path / stored.file.name).read_bytes() == body  # written by the worker
    audit = ExportAudit.objects.get(pk=stored.audit_id)
    assert (audit.via, audit.user, audit.status, audit.row_count) == (
        "job",
        admin_user,
        "completed",
        rows,
    )
