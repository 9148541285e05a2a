"""Export jobs (issue 17): POST /api/v1/exports/ creates a job a worker runs (eagerly here;
tests/integration runs a real worker), with the synchronous endpoints' validation, admins
only, a signed download URL that expires, the file in Django's storage, audit entries,
beat's cleanup of expired files, and the 413 of synchronous exports above the limit."""

# Tests take the imported fixture ``answered`` as an argument, which ruff reads as a
# redefinition.
# ruff: noqa: F811
from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core.files.storage import storages
from django.utils import timezone
from rest_framework.test import APIClient

from config.celery import app as celery_app
from reports.exports import export_rows_upper_bound
from reports.models import ExportAudit, ExportJob
from reports.tasks import delete_expired_exports, run_export_job
from tests.reports.test_api import token_client
from tests.reports.test_exports import (
    FORMATS,
    answered,  # noqa: F401  (a fixture)
    expected_answers,
    fetch,
    parse,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """Export files go to a directory of this test (FileSystemStorage under MEDIA_ROOT)."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def admin_api(admin_user):
    return token_client(admin_user)


def create(api, django_capture_on_commit_callbacks, **body):
    """POST an export job and run it (the eager worker runs on commit); return the response."""
    with django_capture_on_commit_callbacks(execute=True):
        return api.post("/api/v1/exports/", body, format="json")


def download(api, job: dict):
    """GET a job's download URL; return the response and its body."""
    url = urlsplit(job["download_url"])
    response = api.get(f"{url.path}?{url.query}")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_export_job_writes_what_the_synchronous_export_streams(
    answered, admin_user, admin_api, django_capture_on_commit_callbacks, media, fmt
):
    response = create(
        admin_api,
        django_capture_on_commit_callbacks,
        kind="answers",
        survey=answered.pk,
        format=fmt,
    )
    assert response.status_code == 202, response.content
    created = response.json()
    assert response["Location"] == f"/api/v1/exports/{created['id']}/"
    job = admin_api.get(response["Location"]).json()
    rows = len(expected_answers(answered))
    assert job["status"] == "done", job["error"]
    assert (job["rows_written"], job["rows_estimated"], job["owner"]) == (rows, rows, "admin")
    assert job["params"] == {"survey": answered.pk, "format": fmt, "bom": False}
    assert job["download_url"].startswith("http://testserver/api/v1/exports/")
    response, body = download(admin_api, job)
    assert response.status_code == 200
    assert response["Content-Type"].startswith({"csv": "text/csv"}.get(fmt, "application/"))
    assert response["Content-Disposition"].startswith(
        f'attachment; filename="answers-survey-{answered.pk}-'
    )
    assert job["size"] == len(body)
    _, streamed = fetch(admin_api, "answers", survey=answered.pk, format=fmt)
    assert parse(body, fmt) == parse(streamed, fmt)
    # the file is in the export storage (here FileSystemStorage under MEDIA_ROOT)
    stored = ExportJob.objects.get(pk=job["id"])
    assert stored.file.name.startswith(f"exports/{job['id']}/answers-survey-")
    assert (media / stored.file.name).read_bytes() == body
    # audited as every export is, in the owner's name
    audit = ExportAudit.objects.get(pk=stored.audit_id)
    assert (audit.via, audit.user, audit.status, audit.row_count) == (
        "job",
        admin_user,
        "completed",
        rows,
    )
    assert (audit.kind, audit.format, audit.filters["survey"]) == ("answers", fmt, answered.pk)


def test_a_score_job_with_filters_exports_what_the_endpoint_does(
    answered, team, admin_api, django_capture_on_commit_callbacks
):
    since = "2000-01-01T00:00:00Z"
    response = create(
        admin_api,
        django_capture_on_commit_callbacks,
        kind="scores",
        survey=answered.pk,
        team=team.slug,
        since=since,
        format="csv",
        bom=True,
    )
    job = admin_api.get(response["Location"]).json()
    assert job["params"] == {
        "survey": answered.pk,
        "team": team.slug,
        "since": "2000-01-01T00:00:00+00:00",
        "format": "csv",
        "bom": True,
    }
    _, body = download(admin_api, job)
    _, streamed = fetch(
        admin_api,
        "scores",
        survey=answered.pk,
        team=team.slug,
        since=since,
        format="csv",
        bom="true",
    )
    assert body == streamed and body.startswith(b"\xef\xbb\xbf")
    assert {row["team"] for row in parse(body[3:], "csv")} == {team.slug}


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"survey": 1}, {"kind": ["This field is required."]}),
        ({"kind": "people", "survey": 1}, {"kind": ['"people" is not a valid choice.']}),
        ({"kind": "answers"}, {"survey": ["This field is required."]}),
        ({"kind": "answers", "survey": 999999}, {"survey": ["No survey 999999."]}),
        ({"kind": "answers", "survey": "x"}, {"survey": ["A valid integer is required."]}),
        (
            {"kind": "answers", "survey": None, "format": "pdf"},
            {"survey": ["This field may not be null."], "format": ['"pdf" is not a valid choice.']},
        ),
        ({"kind": "answers", "survey": "{survey}", "format": "json", "bom": True}, None),
        ({"kind": "answers", "survey": "{survey}", "team": "nope"}, None),
        ({"kind": "answers", "survey": "{survey}", "since": "yesterday"}, None),
    ],
)
def test_bad_input_is_a_400_with_the_synchronous_endpoints_messages(
    survey, admin_api, django_capture_on_commit_callbacks, body, errors
):
    body = {name: survey.pk if value == "{survey}" else value for name, value in body.items()}
    response = create(admin_api, django_capture_on_commit_callbacks, **body)
    assert response.status_code == 400
    if errors is not None:
        assert response.json() == errors
    else:  # the same validation, the same words, as GET /api/v1/exports/answers/
        query = {name: value for name, value in body.items() if name != "kind"}
        sync, _ = fetch(admin_api, "answers", **query)
        assert sync.status_code == 400
        assert response.json() == sync.json()
    assert not ExportJob.objects.exists()
    assert not ExportAudit.objects.exists()


def test_only_admins_create_read_and_download_export_jobs(
    answered, admin_api, member, manager, django_capture_on_commit_callbacks
):
    response = create(
        admin_api, django_capture_on_commit_callbacks, kind="answers", survey=answered.pk
    )
    job = admin_api.get(response["Location"]).json()
    for user in (member, manager):  # not admins: as for the synchronous exports
        api = token_client(user)
        refused = create(
            api, django_capture_on_commit_callbacks, kind="answers", survey=answered.pk
        )
        assert refused.status_code == 403
        assert refused.json()["code"] == "permission_denied"
        assert api.get(f"/api/v1/exports/{job['id']}/").status_code == 404
        response, _ = download(api, job)  # even with a valid URL
        assert response.status_code == 404
    anonymous = APIClient()
    assert anonymous.get(f"/api/v1/exports/{job['id']}/").status_code == 403
    assert download(anonymous, job)[0].status_code == 403
    # another admin may read and download it, as admins may read every export
    other_admin = type(member).objects.create_user("root2", is_staff=True)
    response, body = download(token_client(other_admin), job)
    assert response.status_code == 200 and body
    assert ExportJob.objects.count() == 1
    assert admin_api.get("/api/v1/exports/999999/").status_code == 404


def test_a_download_url_expires_and_fits_only_its_job(
    answered, admin_api, settings, django_capture_on_commit_callbacks
):
    settings.EXPORT_DOWNLOAD_URL_SECONDS = 600
    first, second = (
        admin_api.get(
            create(
                admin_api, django_capture_on_commit_callbacks, kind="scores", survey=answered.pk
            )["Location"]
        ).json()
        for _ in range(2)
    )
    expires = timezone.now() + timedelta(seconds=600)
    assert abs(datetime.fromisoformat(first["download_url_expires_at"]) - expires) < (
        timedelta(seconds=5)
    )
    # another job's token
    token = urlsplit(second["download_url"]).query
    response = admin_api.get(f"/api/v1/exports/{first['id']}/download/?{token}")
    assert response.status_code == 403
    assert response.json()["code"] == "download_url_invalid"
    tampered = admin_api.get(f"/api/v1/exports/{first['id']}/download/?token=1:abc:def")
    assert tampered.status_code == 403
    missing = admin_api.get(f"/api/v1/exports/{first['id']}/download/")
    assert (missing.status_code, missing.json()) == (400, {"token": ["This field is required."]})
    assert download(admin_api, first)[0].status_code == 200
    with time_machine.travel(timezone.now() + timedelta(seconds=601), tick=False):
        response, _ = download(admin_api, first)
        assert response.status_code == 403
        assert "expired" in response.json()["detail"]
        fresh = admin_api.get(f"/api/v1/exports/{first['id']}/").json()  # a fresh URL works
        assert download(admin_api, fresh)[0].status_code == 200


def test_beat_deletes_expired_files_and_their_download_is_gone(
    answered, admin_api, settings, media, django_capture_on_commit_callbacks
):
    settings.EXPORT_FILE_SECONDS = 3600
    jobs = [
        admin_api.get(
            create(
                admin_api, django_capture_on_commit_callbacks, kind="answers", survey=answered.pk
            )["Location"]
        ).json()
        for _ in range(2)
    ]
    old, recent = (ExportJob.objects.get(pk=job["id"]) for job in jobs)
    ExportJob.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    storage = storages["exports"]
    assert storage.exists(old.file.name) and storage.exists(recent.file.name)
    assert "delete-expired-exports" in settings.CELERY_BEAT_SCHEDULE
    task = settings.CELERY_BEAT_SCHEDULE["delete-expired-exports"]["task"]
    assert celery_app.tasks[task].name == delete_expired_exports.name
    assert delete_expired_exports.delay().get() == 1
    assert not storage.exists(old.file.name)
    assert storage.exists(recent.file.name)
    gone = admin_api.get(f"/api/v1/exports/{old.pk}/").json()
    assert (gone["status"], gone["download_url"]) == ("expired", None)
    response, _ = download(admin_api, jobs[0])  # the URL read before the cleanup
    assert (response.status_code, response.json()["code"]) == (410, "expired")
    assert delete_expired_exports() == 0  # each file once
    with time_machine.travel(timezone.now() + timedelta(seconds=3601), tick=False):
        assert delete_expired_exports() == 1
    assert not storage.exists(recent.file.name)


def test_a_job_whose_filters_no_longer_hold_fails_with_the_reason(
    answered, team, admin_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):  # not run yet
        response = admin_api.post(
            "/api/v1/exports/",
            {"kind": "answers", "survey": answered.pk, "team": team.slug},
            format="json",
        )
    assert response.json()["status"] == "queued"
    job_id = response.json()["id"]
    answered.teams.remove(team)  # before a worker takes the job
    assert run_export_job(job_id) == "failed"
    job = admin_api.get(f"/api/v1/exports/{job_id}/").json()
    assert job["status"] == "failed"
    assert job["error"] == (
        f"The export's filters are no longer valid: team: Team '{team.slug}' is not part of "
        "this survey."
    )
    assert job["download_url"] is None
    response, _ = download(admin_api, {"download_url": f"/api/v1/exports/{job_id}/download/?x"})
    assert response.status_code == 400
    assert run_export_job(job_id) == "skipped"  # a redelivered message does nothing more


def test_a_job_not_done_has_no_file_to_download(answered, admin_api):
    job = ExportJob.objects.create(kind="answers", format="csv", params={"survey": answered.pk})
    from reports.exports import export_download_token

    token, _ = export_download_token(job)
    response = admin_api.get(f"/api/v1/exports/{job.pk}/download/?token={token}")
    assert (response.status_code, response.json()["code"]) == (409, "not_ready")


@pytest.mark.parametrize("kind", ["answers", "scores"])
def test_a_synchronous_export_above_the_limit_is_a_413_that_says_what_to_do(
    answered, admin_api, settings, django_capture_on_commit_callbacks, kind
):
    _, body = fetch(admin_api, kind, survey=answered.pk, format="csv")
    rows = len(parse(body, "csv"))
    settings.EXPORT_SYNC_MAX_ROWS = rows - 1
    before = ExportAudit.objects.count()
    response, _ = fetch(admin_api, kind, survey=answered.pk, format="xlsx")
    assert response.status_code == 413
    refused = response.json()
    assert refused["code"] == "export_too_large"
    assert refused["max_rows"] == rows - 1
    assert refused["rows_estimated"] >= rows  # an upper bound, never below the truth
    assert "POST /api/v1/exports/" in refused["detail"]
    assert refused["job"] == {"kind": kind, "survey": answered.pk, "format": "xlsx", "bom": False}
    assert ExportAudit.objects.count() == before  # nothing was exported
    # the body it gives is a job that works
    response = create(admin_api, django_capture_on_commit_callbacks, **refused["job"])
    job = admin_api.get(response["Location"]).json()
    assert (job["status"], job["rows_written"]) == ("done", rows)
    settings.EXPORT_SYNC_MAX_ROWS = refused["rows_estimated"]  # at the limit: streamed
    assert fetch(admin_api, kind, survey=answered.pk, format="csv")[0].status_code == 200


def test_the_upper_bound_is_exact_for_complete_responses_and_follows_the_filters(
    answered, team, other_team
):
    from reports.exports import ExportRequest

    everything = export_rows_upper_bound(ExportRequest(kind="answers", survey=answered))
    assert everything == len(expected_answers(answered))  # every response answers everything
    one_team = export_rows_upper_bound(ExportRequest(kind="answers", survey=answered, team=team))
    assert one_team == 2 * answered.framework.questions.count()
    future = export_rows_upper_bound(
        ExportRequest(kind="answers", survey=answered, since=timezone.now() + timedelta(days=1))
    )
    assert future == 0
    dimensions = answered.framework.dimensions.count()
    scores = export_rows_upper_bound(ExportRequest(kind="scores", survey=answered))
    assert scores == 2 * (dimensions + 1)


def test_beat_fails_jobs_whose_worker_or_message_was_lost(answered, admin_user, settings):
    settings.CELERY_TASK_TIME_LIMIT = 300
    settings.AGGREGATION_RECOVERY_MARGIN = 60
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 480}
    now = timezone.now()

    def job(status, **times):
        made = ExportJob.objects.create(
            owner=admin_user, kind="scores", format="csv", params={"survey": answered.pk}
        )
        ExportJob.objects.filter(pk=made.pk).update(status=status, **times)
        return made.pk

    lost_queued = job("queued", created_at=now - timedelta(seconds=541))
    waiting = job("queued", created_at=now - timedelta(seconds=539))
    lost_running = job("running", started_at=now - timedelta(seconds=361))
    running = job("running", started_at=now - timedelta(seconds=359))
    assert delete_expired_exports() == 0  # no file to delete; the lost jobs are failed
    status = dict(ExportJob.objects.values_list("pk", "status"))
    assert (status[lost_queued], status[lost_running]) == ("failed", "failed")
    assert (status[waiting], status[running]) == ("queued", "running")
    assert "lost" in ExportJob.objects.get(pk=lost_queued).error
    assert run_export_job(lost_queued) == "skipped"  # a late message does nothing
