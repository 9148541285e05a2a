"""Fixtures for the evidence app: fixture repositories built in memory, upload clients,
rounds with answers on framework v2.

Archives are built with tarfile + gzip (tests/maturity/test_evidence_snapshot.py's helpers);
every upload goes through the API or the services the API calls, never around them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from evidence.models import CheckResult, FactSet, Snapshot, SnapshotContent
from evidence.services import evidence_token_create
from maturity.models import Framework, Question
from surveys.models import Survey, Team
from tests.factories import AnswerFactory, SubmittedResponseFactory, SurveyFactory

# The real worker of tests/integration, for test_worker.py.
from tests.integration.conftest import real_celery, redis_url  # noqa: F401
from tests.maturity.test_evidence_snapshot import member, tgz

CI_WORKFLOW = """\
name: ci
on: [push]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: pip install -r requirements.txt
      - run: pytest
"""
SCANNING_WORKFLOW = CI_WORKFLOW + "      - run: pip-audit -r requirements.txt\n"

# The recsys repository: a Dockerfile, pinned requirements with mlflow, tests, and a GitHub
# Actions workflow that runs them; no security scan, no linter, no deploy job.
RECSYS_REPO: dict[str, str] = {
    "README.md": "# recsys\n",
    "Dockerfile": "FROM python:3.12-slim\nCOPY . /app\n",
    "requirements.txt": "mlflow==2.12.1\nscikit-learn==1.4.2\n",
    "src/recsys/train.py": "print('train')\n",
    "tests/test_train.py": "def test_train():\n    assert True\n",
    ".github/workflows/ci.yml": CI_WORKFLOW,
}

# What the team answered (one respondent) and, by hand from mlops-v2.yaml's checks and the
# facts of RECSYS_REPO, what the evidence says. A passing check confirms an answer at or
# below the level it supports; a failing one contradicts an answer at or above the level it
# contradicts, and a contradiction wins (docs/evidence-rules.md, "Verdicts"):
# - experiment-tracking 2: tracking-library (supports 2) passes (mlflow): 2 <= 2 -> confirmed
# - model-containerisation 1: packaging-defined (supports 1) passes (a Dockerfile); the
#   image is not built in CI (image-built-in-ci fails, contradicts nothing)  -> confirmed
# - code-testing 3: tests-present (supports 1, contradicts 1) and tests-in-ci (contradicts
#   2) pass, tests-gate-merges (supports 2) cannot tell (no Scorecard): the evidence shows
#   level 1, the team claims 3                                               -> unverified
# - dev-environments 1: dependencies-pinned (supports 1) passes (all pinned) and
#   dependencies-mostly-pinned (contradicts 1) passes; no dev container     -> confirmed
# - shift-left-security 3: scans-in-ci (contradicts 2) fails (GitHub Actions, no scanner)
#   and scanning-configured (supports 1) fails                               -> contradicted
# - code-review 3: lint-in-ci (contradicts 3) fails (GitHub Actions, no lint job, no
#   pre-commit); the Scorecard checks cannot tell                           -> contradicted
# - automated-deployment 3: deploy-in-ci and gated-production-deploy fail, contradict
#   nothing                                                                  -> unverified
# - data-versioning 0: data-versioning-tool fails, supports only 2           -> unverified
# - knowledge-sharing 2: no checks                                           -> "" (none)
RECSYS_ANSWERS: dict[str, int] = {
    "experiment-tracking": 2,
    "model-containerisation": 1,
    "code-testing": 3,
    "dev-environments": 1,
    "shift-left-security": 3,
    "code-review": 3,
    "automated-deployment": 3,
    "data-versioning": 0,
    "knowledge-sharing": 2,
}
RECSYS_VERDICTS: dict[str, str] = {
    "experiment-tracking": "confirmed",
    "model-containerisation": "confirmed",
    "code-testing": "unverified",
    "dev-environments": "confirmed",
    "shift-left-security": "contradicted",
    "code-review": "contradicted",
    "automated-deployment": "unverified",
    "data-versioning": "unverified",
    "knowledge-sharing": "",
}


def repo_archive(files: dict[str, str] | None = None, **options: Any) -> bytes:
    """A ``git archive``-like tar.gz of ``files`` (path -> text), built in memory."""
    files = RECSYS_REPO if files is None else files
    return tgz(*(member(path, text.encode()) for path, text in files.items()), **options)


def manifest_document(files: dict[str, str] | None = None, **metadata: Any) -> dict[str, Any]:
    """The maturity-evidence/1 manifest of ``files``: every path hashed, kept files' content
    included (what scripts/maturity-evidence sends)."""
    from maturity.evidence.snapshot import is_kept

    files = RECSYS_REPO if files is None else files
    rows = []
    for path, text in files.items():
        data = text.encode()
        row: dict[str, Any] = {
            "path": path,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
        }
        if is_kept(path):
            row["content"] = text
        rows.append(row)
    return {"format": "maturity-evidence/1", **metadata, "files": rows}


def archive_field(data: bytes, name: str = "repo.tar.gz") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/gzip")


def manifest_field(document: dict[str, Any] | bytes) -> SimpleUploadedFile:
    data = document if isinstance(document, bytes) else json.dumps(document).encode()
    return SimpleUploadedFile("manifest.json", data, content_type="application/json")


def upload_url(slug: str) -> str:
    return f"/api/v1/teams/{slug}/evidence/"


def upload(client: APIClient, slug: str, data: bytes | None = None, **fields: Any) -> Any:
    """POST a multipart upload: ``data`` as the ``archive`` file (default: RECSYS_REPO)."""
    if "manifest" not in fields:
        fields["archive"] = archive_field(repo_archive() if data is None else data)
    return client.post(upload_url(slug), fields, format="multipart")


def stored_counts() -> dict[str, int]:
    """How many rows each table an upload writes holds."""
    return {
        model.__name__: model.objects.count()
        for model in (Snapshot, SnapshotContent, FactSet, CheckResult)
    }


def token_client(key: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


@pytest.fixture
def evidence_key(team) -> str:
    """The key of a CI token of ``team`` (recsys)."""
    return evidence_token_create(team=team, name="ci")[1]


@pytest.fixture
def evidence_client(evidence_key) -> APIClient:
    return token_client(evidence_key)


@pytest.fixture
def member_client(member) -> APIClient:
    api = APIClient()
    api.force_login(member)
    return api


def question(framework: Framework, key: str) -> Question:
    return Question.objects.get(framework=framework, key=key)


def answer(survey: Survey, team: Team, answers: dict[str, int]) -> None:
    """One counted respondent of ``team`` answering ``answers`` (question key -> choice)."""
    response = SubmittedResponseFactory(survey=survey, team=team)
    for key, score in answers.items():
        AnswerFactory(response=response, question=question(survey.framework, key), score=score)


@pytest.fixture
def v2_round(v2_framework, team, other_team) -> Survey:
    """An open v2 round of recsys (the RECSYS_ANSWERS) and fraud (no answers with checks).

    Neither team declares a profile, so every question applies to both.
    """
    survey = SurveyFactory(framework=v2_framework, teams=[team, other_team], title="Q1 v2")
    answer(survey, team, RECSYS_ANSWERS)
    answer(survey, other_team, {"knowledge-sharing": 3})
    return survey


# --- a small framework with checks ------------------------------------------------------------

TINY_CHOICES = """\
          - {score: 0, label: None, description: Nothing., next_step: Start.}
          - {score: 1, label: Some, description: Some., next_step: More.}
          - {score: 2, label: Half, description: Half., next_step: More.}
          - {score: 3, label: Most, description: Most., next_step: All.}
          - {score: 4, label: All, description: All.}
"""
TINY_YAML = """\
slug: tiny-evidence
version: 1
title: Tiny evidence
evidence_policy: {policy}
levels:
  - {{number: 0, name: L0, threshold: 0}}
  - {{number: 1, name: L1, threshold: 20}}
  - {{number: 2, name: L2, threshold: 40}}
  - {{number: 3, name: L3, threshold: 60}}
  - {{number: 4, name: L4, threshold: 80}}
dimensions:
  - key: delivery
    name: Delivery
    seed_refs: ["Common Challenges / Deployment Automation: x"]
    questions:
      - key: containers
        text: How are models packaged?
        seed_refs: ["Common Challenges / Deployment Automation: y"]
        checks:
          - id: dockerfile-present
            title: Container image defined
            rule: {{fact: repo.dockerfiles, op: len_gte, value: {dockerfiles}}}
            supports: 2
{containers_contradicts}
        choices:
{choices}      - key: deploys
        text: How are models deployed?
        seed_refs: ["Common Challenges / Deployment Automation: z"]
        checks:
          - id: deploy-in-ci
            title: Deploy job in CI
            rule: {{fact: ci.deploy_jobs, op: len_gte, value: 1}}
            supports: 2
            contradicts: 3
        choices:
{choices}  - key: data
    name: Data
    seed_refs: ["Best Practices / Data Management: x"]
    questions:
      - key: data-versioning
        text: How is data versioned?
        seed_refs: ["Best Practices / Data Management: y"]
        choices:
{choices}"""


def tiny_spec(tmp_path, policy: str = "report", dockerfiles: int = 1, contradicts: bool = False):
    """The tiny framework: containers (a Dockerfile supports 2), deploys (a CI deploy job
    supports 2; none contradicts 3) and data-versioning (no checks), with ``policy``.

    ``dockerfiles``: how many the containers check asks for; ``contradicts``: the check
    also contradicts an answer at 1 or above when it fails.
    """
    from maturity.schema import parse_framework_file

    text = TINY_YAML.format(
        choices=TINY_CHOICES,
        policy=policy,
        dockerfiles=dockerfiles,
        containers_contradicts="            contradicts: 1" if contradicts else "",
    )
    path = tmp_path / f"tiny-{policy}-{dockerfiles}-{contradicts}.yaml"
    path.write_text(text)
    return parse_framework_file(path), path


def tiny_framework(tmp_path, **options: Any) -> Framework:
    from maturity.services import framework_load

    spec, path = tiny_spec(tmp_path, **options)
    return framework_load(spec=spec, source=str(path)).framework


# The tiny framework's repository: a Dockerfile and CI, no deploy job.
TINY_REPO: dict[str, str] = {
    "README.md": "# tiny\n",
    "Dockerfile": "FROM python:3.12-slim\n",
    ".github/workflows/ci.yml": CI_WORKFLOW,
}
