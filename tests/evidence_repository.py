"""Fixture repositories for tests of evidence in reports and exports (issue 16).

A repository is a tar.gz built in memory as ``git archive`` writes it, read by the upload
path's own reader (``manifest_from_archive``), stored as the team's snapshot and processed
in this process as the worker would (collect facts, evaluate checks).
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Mapping

from evidence import services
from evidence.models import Snapshot
from maturity.evidence.snapshot import manifest_from_archive
from reports import services as report_services
from surveys.models import Answer, Survey, Team
from tests.factories import SubmittedResponseFactory

# Text a repository can carry into a report: a file name and a repository name.
SCRIPT = "<script>alert(1)</script>"
SCRIPT_DOCKERFILE = f"deploy/{SCRIPT}.dockerfile"
HOSTILE_SOURCE = "<img src=x onerror=alert(2)>"

# A GitHub Actions workflow that builds an image and runs no tests.
BUILD_ONLY_WORKFLOW = """\
name: build
on: [push]
jobs:
  image:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: docker build -t model .
"""

# With the team answering choice 2 everywhere, on framework v2 this repository
# confirms model-containerisation: CI builds the image from pinned requirements
# ("image-built-in-ci" supports 2, at the answer; the Dockerfile alone, "packaging-defined",
# supports only 1 and would confirm nothing above it), and contradicts code-testing
# (GitHub Actions runs no tests: "tests-in-ci" contradicts 2 and above).
# The Dockerfile's name is markup, as a hostile or careless repository could have it.
CONTRADICTING_REPOSITORY = {
    SCRIPT_DOCKERFILE: "FROM python:3.12-slim\n",
    "requirements.txt": "scikit-learn==1.4.2\n",
    "tests/test_features.py": "def test_nothing():\n    assert True\n",
    ".github/workflows/build.yml": BUILD_ONLY_WORKFLOW,
    "README.md": "# model\n",
}
CONFIRMED = "model-containerisation"
CONTRADICTED = "code-testing"


def repository_archive(files: Mapping[str, str], prefix: str = "model-repo/") -> bytes:
    """Return ``files`` (path -> text) as a ``git archive --prefix`` tar.gz."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for path, text in files.items():
            data = text.encode()
            member = tarfile.TarInfo(prefix + path)
            member.size = len(data)
            member.mode = 0o644
            tar.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


def store_evidence(team: Team, files: Mapping[str, str], *, source: str) -> Snapshot:
    """Upload ``files`` as the team's repository ``source`` and process it here."""
    archive = io.BytesIO(repository_archive(files))
    manifest = manifest_from_archive(archive, services.upload_limits())
    snapshot = services.snapshot_store(
        team=team, manifest=manifest, kind=Snapshot.Kind.ARCHIVE, source=source, defer=True
    )
    processed = services.snapshot_process(snapshot.pk)
    assert processed.status == Snapshot.Status.COLLECTED, processed.error
    return processed


def answer_everything(survey: Survey, team: Team, choice: int, respondents: int = 1) -> None:
    """Write ``respondents`` counted responses answering every question at ``choice``
    (capped at the question's highest choice)."""
    questions = list(survey.framework.questions.order_by("order"))
    for _ in range(respondents):
        response = SubmittedResponseFactory(survey=survey, team=team)
        Answer.objects.bulk_create(
            Answer(response=response, question=question, score=min(choice, question.max_score))
            for question in questions
        )


def score_with_evidence(survey: Survey, *, evidenced: Team, unevidenced: Team) -> None:
    """The round of the evidence tests, scored: ``evidenced`` answered 2 everywhere and its
    repository (``CONTRADICTING_REPOSITORY``, source "model-repo") confirms one answer and
    contradicts another; ``unevidenced`` answered 0 and uploaded nothing (its checked
    answers are unverified)."""
    answer_everything(survey, evidenced, 2)
    answer_everything(survey, unevidenced, 0)
    store_evidence(evidenced, CONTRADICTING_REPOSITORY, source="model-repo")
    report_services.aggregate(survey=survey)
