"""POST /api/v1/teams/{slug}/evidence/: an upload answers 202 with the snapshot, which the
pipeline then collects; a hostile upload answers 400 naming what it broke and writes nothing."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile

import pytest

from evidence.models import FactSet, Snapshot
from maturity.evidence.snapshot import manifest_from_json
from tests.evidence.conftest import (
    RECSYS_REPO,
    archive_field,
    manifest_document,
    manifest_field,
    repo_archive,
    stored_counts,
    upload,
    upload_url,
)
from tests.evidence.test_verdicts import store
from tests.maturity.test_evidence_snapshot import (
    BILLION_LAUGHS,
    gz,
    member,
    tar_bytes,
    tgz,
    zero_bomb,
)

pytestmark = pytest.mark.django_db

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_an_archive_upload_answers_202_and_the_pipeline_collects_it(
    evidence_client, team, django_capture_on_commit_callbacks
):
    data = repo_archive(global_pax={"comment": COMMIT})
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = upload(evidence_client, team.slug, data, repository="recsys-service")

    assert response.status_code == 202, response.json()
    body = response.json()
    snapshot = Snapshot.objects.get()
    assert body["id"] == snapshot.pk
    assert body["team"] == "recsys"
    assert body["source"] == "recsys-service"
    assert body["kind"] == "archive"
    assert body["commit"] == COMMIT
    # The answer is built before the worker runs: pending, whatever happened next.
    assert body["status"] == "pending"
    assert body["n_files"] == len(RECSYS_REPO)
    assert body["n_kept"] == 3  # Dockerfile, requirements.txt, the workflow
    assert body["sha256"] == snapshot.content.sha256
    assert len(body["sha256"]) == 64
    assert response["Location"] == f"/api/v1/teams/recsys/evidence/{snapshot.pk}/"
    assert body["url"] == response["Location"]
    assert len(callbacks) >= 1

    snapshot.refresh_from_db()
    assert snapshot.status == "collected" and snapshot.error == ""
    assert snapshot.processed_at is not None
    collectors = set(FactSet.objects.values_list("collector", flat=True))
    assert {"repo", "dependencies"} <= collectors

    followed = evidence_client.get(response["Location"])
    assert followed.status_code == 200
    assert followed.json()["status"] == "collected"
    assert followed.json()["processed_at"] is not None
    listed = evidence_client.get(upload_url(team.slug)).json()
    assert [row["id"] for row in listed] == [snapshot.pk]


def test_without_the_on_commit_callbacks_the_snapshot_stays_pending(evidence_client, team):
    response = upload(evidence_client, team.slug)
    assert response.status_code == 202
    assert Snapshot.objects.get().status == "pending"
    assert not FactSet.objects.exists()


def test_a_manifest_file_upload_reads_like_the_archive(
    evidence_client, team, django_capture_on_commit_callbacks
):
    document = manifest_document(repository="recsys", commit=COMMIT)
    with django_capture_on_commit_callbacks(execute=True):
        response = evidence_client.post(
            upload_url(team.slug), {"manifest": manifest_field(document)}, format="multipart"
        )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["kind"], body["source"], body["commit"]) == ("manifest", "recsys", COMMIT)
    # The same tree as an archive has the same content address.
    assert body["sha256"] == manifest_from_json(json.dumps(document).encode()).sha256
    assert evidence_client.get(response["Location"]).json()["status"] == "collected"

    with django_capture_on_commit_callbacks(execute=True):
        again = upload(evidence_client, team.slug, repo_archive())
    assert again.json()["sha256"] == body["sha256"]
    assert Snapshot.objects.count() == 2
    assert stored_counts()["SnapshotContent"] == 1


def test_a_json_body_is_a_manifest_upload(
    evidence_client, team, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = evidence_client.post(
            upload_url(team.slug), manifest_document(repository="from-ci"), format="json"
        )
    assert response.status_code == 202, response.json()
    assert (response.json()["kind"], response.json()["source"]) == ("manifest", "from-ci")
    assert evidence_client.get(response["Location"]).json()["status"] == "collected"


def test_a_snapshot_of_another_team_is_not_found(member_client, team, other_team):
    theirs = store(other_team)
    assert member_client.get(f"{upload_url(other_team.slug)}{theirs.pk}/").status_code == 404
    response = member_client.get(f"{upload_url(team.slug)}{theirs.pk}/")
    assert response.status_code == 404


# --- hostile uploads -----------------------------------------------------------------------


def _entry(path: str, data: bytes = b"x", **extra) -> dict:
    return {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data), **extra}


def _manifest(*rows: dict) -> dict:
    return {"format": "maturity-evidence/1", "files": list(rows)}


def _kept(path: str, text: str) -> dict:
    return _entry(path, text.encode(), content=text)


# Each row: id, field ("archive" | "manifest" | "json"), payload, settings, code, a fragment
# the message must hold, the path the answer names (None: none).
# fmt: off
HOSTILE_UPLOADS = [
    ("dotdot", "archive", tgz(member("../etc/passwd", b"x")), {}, "path_traversal", "'../etc/passwd'", "../etc/passwd"),
    ("absolute", "archive", tgz(member("/etc/passwd", b"x")), {}, "absolute_path", "'/etc/passwd'", "/etc/passwd"),
    ("symlink", "archive", tgz(member("link", kind=tarfile.SYMTYPE, linkname="../../secret")), {}, "symlink", "'../../secret'", "link"),
    ("hard-link", "archive", tgz(member("a.txt", b"x"), member("b.txt", kind=tarfile.LNKTYPE, linkname="a.txt")), {}, "hard_link", "'b.txt' is a hard link", "b.txt"),
    ("char-device", "archive", tgz(member("dev/null", kind=tarfile.CHRTYPE, devmajor=1, devminor=3)), {}, "special_file", "character device", "dev/null"),
    ("fifo", "archive", tgz(member("pipe", kind=tarfile.FIFOTYPE)), {}, "special_file", "'pipe' is a FIFO", "pipe"),
    ("gzip-bomb", "archive", zero_bomb(4), {"EVIDENCE_MAX_EXPANDED_BYTES": 1024 * 1024}, "too_large_expanded", "max_expanded=1048576", None),
    ("declared-too-large", "archive", tgz(member("big.bin", bytes(2 * 1024 * 1024))), {"EVIDENCE_MAX_EXPANDED_BYTES": 1024 * 1024}, "too_large_expanded", "'big.bin' takes the files past max_expanded=1048576", "big.bin"),
    ("duplicate", "archive", tgz(member("a.txt", b"1"), member("a.txt", b"2")), {}, "duplicate_entry", "'a.txt' appears more than once", "a.txt"),
    ("non-utf8-name", "archive", tgz(member("caf\udce9.txt", b"x"), fmt=tarfile.GNU_FORMAT), {}, "non_utf8_name", "caf\\xe9.txt", "caf\\xe9.txt"),
    ("not-gzip", "archive", tar_bytes(member("a.txt", b"x")), {}, "not_gzip", "not gzip", None),
    ("truncated", "archive", tgz(member("a.txt", os.urandom(3000)))[:-100], {}, "truncated", "truncated upload", None),
    ("gzip-of-text", "archive", gz(b"not a tar archive\n" * 40), {}, "not_tar", "not a readable tar", None),
    ("unsafe-yaml-tag", "archive", tgz(member(".gitlab-ci.yml", b"job: !!python/object/apply:os.system [id]\n")), {}, "unsafe_yaml", "'.gitlab-ci.yml'", ".gitlab-ci.yml"),
    ("unsafe-yaml-bomb", "archive", tgz(member(".github/workflows/ci.yml", BILLION_LAUGHS.encode())), {}, "unsafe_yaml", "'.github/workflows/ci.yml'", ".github/workflows/ci.yml"),
    ("too-many-entries", "archive", tgz(*(member(f"f{n}.txt", b"x") for n in range(4))), {"EVIDENCE_MAX_ENTRIES": 3}, "too_many_entries", "max_entries=3", "f3.txt"),
    ("archive-over-compressed-limit", "archive", tgz(member("noise.bin", os.urandom(20_000))), {"EVIDENCE_MAX_COMPRESSED_BYTES": 10_000}, "too_large_compressed", "limit of 10000 bytes (EVIDENCE_MAX_COMPRESSED_BYTES)", None),
    ("manifest-not-json", "manifest", b"{not json", {}, "bad_manifest", "not JSON", None),
    ("manifest-wrong-format", "manifest", json.dumps({"format": "maturity-evidence/9", "files": []}).encode(), {}, "unsupported_format", "maturity-evidence/9", None),
    ("manifest-traversal", "manifest", _manifest(_entry("../x")), {}, "path_traversal", "'../x'", "../x"),
    ("manifest-content-not-allowed", "manifest", _manifest(_entry("src/app.py", b"x", content="x")), {}, "content_not_allowed", "'src/app.py'", "src/app.py"),
    ("manifest-content-mismatch", "manifest", _manifest(_entry("Dockerfile", b"FROM x", content="FROM y")), {}, "content_mismatch", "'Dockerfile'", "Dockerfile"),
    ("manifest-unsafe-yaml", "manifest", _manifest(_kept("catalog-info.yaml", BILLION_LAUGHS)), {}, "unsafe_yaml", "'catalog-info.yaml'", "catalog-info.yaml"),
    ("manifest-too-many-files", "manifest", _manifest(*(_entry(f"f{n}") for n in range(4))), {"EVIDENCE_MAX_ENTRIES": 3}, "too_many_entries", "4 files, more than max_entries=3", None),
    ("json-duplicate-path", "json", _manifest(_entry("./a.txt"), _entry("a.txt")), {}, "duplicate_entry", "'a.txt' appears more than once", "a.txt"),
    ("json-absolute", "json", _manifest(_entry("/etc/shadow")), {}, "absolute_path", "'/etc/shadow'", "/etc/shadow"),
    ("json-not-an-object", "json", [], {}, "bad_manifest", "must be a JSON object", None),
]
# fmt: on


def _post(client, slug: str, field: str, payload):
    url = upload_url(slug)
    if field == "archive":
        return client.post(url, {"archive": archive_field(payload)}, format="multipart")
    if field == "manifest":
        return client.post(url, {"manifest": manifest_field(payload)}, format="multipart")
    return client.post(url, payload, format="json")


@pytest.mark.parametrize(
    ("field", "payload", "overrides", "code", "fragment", "path"),
    [row[1:] for row in HOSTILE_UPLOADS],
    ids=[row[0] for row in HOSTILE_UPLOADS],
)
def test_a_hostile_upload_is_refused_with_its_code_and_nothing_is_written(
    evidence_client,
    team,
    settings,
    django_capture_on_commit_callbacks,
    field,
    payload,
    overrides,
    code,
    fragment,
    path,
):
    for name, value in overrides.items():
        setattr(settings, name, value)
    before = stored_counts()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = _post(evidence_client, team.slug, field, payload)

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == code
    assert fragment in body["detail"]
    assert body.get("path") == path
    assert stored_counts() == before
    assert callbacks == []


def test_the_hostile_table_has_at_least_fifteen_shapes_and_covers_every_route():
    assert len(HOSTILE_UPLOADS) >= 15
    assert len({row[4] for row in HOSTILE_UPLOADS}) >= 15
    assert {row[1] for row in HOSTILE_UPLOADS} == {"archive", "manifest", "json"}


def test_a_body_declared_over_the_compressed_limit_is_refused_before_it_is_read(
    evidence_client, team, settings
):
    settings.EVIDENCE_MAX_COMPRESSED_BYTES = 1000
    before = stored_counts()
    # Over the limit plus the 1 MB allowance for the multipart envelope.
    big = archive_field(tgz(member("noise.bin", os.urandom(1_100_000))))
    response = evidence_client.post(upload_url(team.slug), {"archive": big}, format="multipart")
    assert response.status_code == 400
    assert response.json()["code"] == "too_large_compressed"
    assert "limit of 1000 bytes (EVIDENCE_MAX_COMPRESSED_BYTES)" in response.json()["detail"]
    assert stored_counts() == before


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(
            lambda: {
                "archive": archive_field(repo_archive()),
                "manifest": manifest_field(manifest_document()),
            },
            id="both",
        ),
        pytest.param(lambda: {"repository": "recsys"}, id="neither"),
    ],
)
def test_exactly_one_of_archive_and_manifest_is_accepted(evidence_client, team, fields):
    before = stored_counts()
    response = evidence_client.post(upload_url(team.slug), fields(), format="multipart")
    assert response.status_code == 400
    assert response.json() == {
        "non_field_errors": ["Send exactly one of the fields `archive` and `manifest`."]
    }
    assert stored_counts() == before


def test_a_repository_name_over_100_characters_is_refused(evidence_client, team):
    before = stored_counts()
    response = upload(evidence_client, team.slug, repo_archive(), repository="r" * 101)
    assert response.status_code == 400
    assert response.json() == {"repository": ["At most 100 characters."]}
    assert stored_counts() == before


def test_an_upload_for_an_archived_team_is_refused(member_client, team):
    from django.utils import timezone

    team.archived_at = timezone.now()
    team.save(update_fields=["archived_at"])
    before = stored_counts()
    response = upload(member_client, team.slug)
    assert response.status_code == 400
    assert response.json()["code"] == "archived"
    assert stored_counts() == before
