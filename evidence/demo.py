"""Demo repositories for ``manage.py seed_demo``: what two demo teams' repositories hold.

Each is built as a ``git archive --format=tar.gz --prefix=<name>/`` would be (a pax global
header with the commit id, everything under one folder) and goes through the same path as
an upload: maturity.evidence.snapshot.manifest_from_archive, then the worker's steps. The
contents are small but realistic, chosen so that the evidence confirms some of the teams'
answers and contradicts others (no security scanner in CI, few reviewed changes).
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from datetime import UTC, datetime, timedelta

_WORKFLOW_CI = """\
name: ci
on:
  pull_request:
  push:
    branches: [main]
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: pip install ruff mypy && ruff check . && mypy src
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: pip install -r requirements.txt
      - run: pytest -q tests
  image:
    needs: [lint, test]
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: docker/build-push-action@v6
        with:
          push: ${{ github.ref == 'refs/heads/main' }}
          tags: registry.example.com/recsys/ranker:${{ github.sha }}
"""

_WORKFLOW_DEPLOY = """\
name: deploy
on:
  push:
    tags: ["v*"]
jobs:
  deploy-production:
    runs-on: ubuntu-latest
    environment: production
    steps:
      - uses: actions/checkout@v4
      - run: helm upgrade --install ranker deploy/helm/ranker --set image.tag=${{ github.sha }}
"""

_WORKFLOW_TRAIN = """\
name: retrain
on:
  schedule:
    - cron: "0 3 * * 1"
  workflow_dispatch:
jobs:
  retrain:
    runs-on: [self-hosted, gpu]
    steps:
      - uses: actions/checkout@v4
      - run: dvc repro train && python -m ranker.train --register
"""

_REQUIREMENTS = """\
mlflow==2.17.2
feast==0.40.1
great-expectations==1.2.4
evidently==0.4.40
prometheus-client==0.21.0
shap==0.46.0
scikit-learn==1.5.2
lightgbm==4.5.0
fastapi==0.115.5
pytest==8.3.3
"""


def _ci_runs(now: datetime, deploys: int, failures: tuple[int, ...]) -> str:
    """A ``gh run list --json ...`` export: weekly deploys over ``deploys`` weeks, the
    given ones failed and restored by a successful run two hours later."""
    runs, number = [], 1000
    for week in range(deploys):
        started = now - timedelta(days=7 * (deploys - week))
        failed = week in failures
        runs.append(
            {
                "databaseId": number,
                "name": "deploy",
                "workflowName": "deploy",
                "event": "push",
                "headBranch": f"v1.{week}.0",
                "status": "completed",
                "conclusion": "failure" if failed else "success",
                "createdAt": started.isoformat().replace("+00:00", "Z"),
                "updatedAt": (started + timedelta(minutes=9)).isoformat().replace("+00:00", "Z"),
            }
        )
        number += 1
        if failed:
            fixed = started + timedelta(hours=2)
            runs.append(
                {
                    **runs[-1],
                    "databaseId": number,
                    "conclusion": "success",
                    "createdAt": fixed.isoformat().replace("+00:00", "Z"),
                    "updatedAt": (fixed + timedelta(minutes=9)).isoformat().replace("+00:00", "Z"),
                }
            )
            number += 1
    return json.dumps(runs, indent=1)


def _scorecard(code_review: int, branch_protection: int) -> str:
    checks = [
        {
            "name": "Code-Review",
            "score": code_review,
            "reason": f"Found {code_review}/10 approved changesets",
        },
        {
            "name": "Branch-Protection",
            "score": branch_protection,
            "reason": "branch protection is not maximal",
        },
        {"name": "CI-Tests", "score": 9, "reason": "27 out of 30 merged PRs checked by a CI test"},
        {"name": "Pinned-Dependencies", "score": 7, "reason": "dependency not pinned by hash"},
        {"name": "SAST", "score": 0, "reason": "SAST tool is not run on all commits"},
    ]
    return json.dumps(
        {
            "date": "2026-11-30",
            "repo": {"name": "git.example.com/recsys/ranker"},
            "score": 6.1,
            "checks": checks,
        },
        indent=1,
    )


def repositories(now: datetime) -> dict[str, tuple[str, dict[str, str]]]:
    """Return, per demo team slug, (repository name, {path: text}) of its repository."""
    recsys = {
        "README.md": "# Ranker\nThe recommendations ranking model and its service.\n",
        "Dockerfile": "FROM python:3.12-slim\nCOPY . /app\nRUN pip install -r requirements.txt\n",
        "requirements.txt": _REQUIREMENTS,
        ".github/workflows/ci.yml": _WORKFLOW_CI,
        ".github/workflows/deploy.yml": _WORKFLOW_DEPLOY,
        ".github/workflows/retrain.yml": _WORKFLOW_TRAIN,
        ".github/CODEOWNERS": "* @recsys/ranking\n",
        "catalog-info.yaml": (
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: ranker\n"
            "spec:\n  type: service\n  owner: group:recsys\n  lifecycle: production\n"
        ),
        "dvc.yaml": "stages:\n  train:\n    cmd: python -m ranker.train\n    deps: [d.parquet]\n",
        "MODEL_CARD.md": "# Ranker model card\nIntended use, data, evaluation, limits.\n",
        "deploy/helm/ranker/Chart.yaml": "apiVersion: v2\nname: ranker\nversion: 1.4.0\n",
        "src/ranker/__init__.py": "",
        "src/ranker/train.py": "def main() -> None:\n    ...\n",
        "src/ranker/features.py": "def features(events):\n    return events\n",
        "tests/test_features.py": "def test_features():\n    assert True\n",
        ".maturity/ci-runs.json": _ci_runs(now, deploys=12, failures=(4, 9)),
        ".maturity/scorecard.json": _scorecard(code_review=3, branch_protection=8),
    }
    fraud = {
        "README.md": "# Fraud scoring\n",
        "Dockerfile": "FROM python:3.11\nCOPY . /srv\n",
        "requirements.txt": "scikit-learn>=1.3\nxgboost\nfastapi\nprometheus-client\n",
        ".github/workflows/build.yml": (
            "name: build\non: [push]\njobs:\n  image:\n    runs-on: ubuntu-latest\n    steps:\n"
            "      - uses: actions/checkout@v4\n      - run: docker build -t fraud:latest .\n"
        ),
        "notebooks/train.ipynb": "{}",
        "src/score.py": "def score(x):\n    return 0.0\n",
        ".maturity/scorecard.json": _scorecard(code_review=1, branch_protection=0),
    }
    return {"recsys": ("recsys-ranker", recsys), "fraud": ("fraud-scoring", fraud)}


def archive(name: str, files: dict[str, str], commit: str) -> bytes:
    """Return ``files`` as ``git archive --format=tar.gz --prefix=<name>/`` would."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped:
        with tarfile.open(
            fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": commit}
        ) as tar:
            for path, text in sorted(files.items()):
                data = text.encode()
                info = tarfile.TarInfo(f"{name}/{path}")
                info.size, info.mode, info.mtime = len(data), 0o644, 1764547200
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def demo_now() -> datetime:
    return datetime.now(UTC)
