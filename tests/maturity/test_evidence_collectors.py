"""The evidence collectors on realistic repository snapshots, the plug-in registry, and junk.

Pure code: no database. Every expected figure below is worked out by hand in a comment
next to the fixture it comes from.
"""

from __future__ import annotations

import json
import math
import sys
import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maturity.evidence.collectors import (
    BUILTIN_COLLECTORS,
    CollectedFacts,
    clear_registry_cache,
    collect_all,
    fact_catalogue,
    refused_plugins,
    registry,
)
from maturity.evidence.collectors.gitlab_ci import GitLabConfig, gitlab_job
from maturity.evidence.facts import (
    BUILTIN_FACTS,
    CI_FACTS,
    CI_RUN_FACTS,
    DEPENDENCY_FACTS,
    REPO_FACTS,
    SCORECARD_FACTS,
    FactSpec,
)
from maturity.evidence.reader import SnapshotReader


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# --- GitHub Actions -----------------------------------------------------------------------

CI_WORKFLOW = dedent(
    """
    name: CI
    on:
      push:
        branches: [main]
      pull_request:
    permissions:
      contents: read
    jobs:
      lint:
        runs-on: ubuntu-latest
        steps:
          - uses: actions/checkout@v4
          - uses: actions/setup-python@v5
            with:
              python-version: "3.11"
          - run: pip install ruff mypy
          - run: |
              ruff check .
              mypy src
      test:
        name: Unit tests
        runs-on: ubuntu-latest
        steps:
          - uses: actions/checkout@v4
          - run: pip install -r requirements-dev.txt && pip install pytest
          - run: >-
              python -m pytest -q
              --cov=src
      install-only:
        runs-on: ubuntu-latest
        steps:
          - run: pip install pytest tox
      build-image:
        runs-on: ubuntu-latest
        steps:
          - uses: docker/setup-buildx-action@v3
          - uses: docker/build-push-action@v6
            with:
              push: false
              tags: recsys:ci
      codeql:
        runs-on: ubuntu-latest
        permissions:
          security-events: write
        steps:
          - uses: github/codeql-action/init@v3
            with:
              languages: python
          - uses: github/codeql-action/analyze@v3
      dependency-review:
        if: github.event_name == 'pull_request'
        runs-on: ubuntu-latest
        steps:
          - uses: actions/dependency-review-action@v4
    """
)

DEPLOY_WORKFLOW = dedent(
    """
    name: Deploy
    on:
      push:
        tags: ["v*"]
      workflow_dispatch:
    jobs:
      staging:
        runs-on: ubuntu-latest
        environment: staging
        steps:
          - run: helm upgrade --install recsys chart/ -f values-staging.yaml
      prod:
        needs: staging
        runs-on: ubuntu-latest
        environment:
          name: production
          url: https://recsys.example.com
        steps:
          - run: helm upgrade --install recsys chart/ -f values-prod.yaml
      preprod-smoke:
        runs-on: ubuntu-latest
        environment: preprod
        steps:
          - run: pytest tests/deploy/smoke
    """
)

RETRAIN_WORKFLOW = dedent(
    """
    name: Nightly retrain
    on:
      schedule:
        - cron: "0 3 * * *"
      workflow_dispatch:
    jobs:
      retrain:
        runs-on: [self-hosted, gpu]
        container:
          image: ghcr.io/acme/trainer:1.4
        steps:
          - uses: actions/checkout@v4
          - name: Train the ranking model
            run: python -m recsys.train --config configs/ranker.yaml
          - run: trivy fs --exit-code 1 .
      report:
        runs-on: ubuntu-latest
        steps:
          - run: python scripts/summarise.py
    """
)

# --- GitLab CI ----------------------------------------------------------------------------

GITLAB_CI = dedent(
    """
    include:
      - template: Security/SAST.gitlab-ci.yml
      - component: $CI_SERVER_FQDN/components/secret-detection/secret-detection@1.1
      - local: /ci/train.gitlab-ci.yml
      - local: ci/missing.yml
      - project: acme/ci-templates
        file: /python.yml
      - remote: https://example.com/ci.yml

    stages: [lint, test, build, deploy]

    variables:
      PIP_CACHE_DIR: "$CI_PROJECT_DIR/.cache/pip"

    default:
      image: python:3.11

    .python: &python
      before_script:
        - pip install -r requirements.txt
      cache:
        paths: [.cache/pip]

    .setup:
      script:
        - export PYTHONPATH=src

    lint:
      <<: *python
      stage: lint
      script:
        - ruff check .

    unit-tests:
      <<: *python
      stage: test
      script:
        - !reference [.setup, script]
        - tox -e py311

    bandit:
      stage: test
      script: [pip install bandit, bandit -r src]

    build-image:
      stage: build
      image:
        name: gcr.io/kaniko-project/executor:v1.23.0-debug
        entrypoint: [""]
      script:
        - /kaniko/executor --context $CI_PROJECT_DIR --destination $CI_REGISTRY_IMAGE:$CI_COMMIT_SHA

    .deploy:
      stage: deploy
      image: alpine/helm:3.15
      script:
        - helm upgrade --install recsys chart/

    deploy-staging:
      extends: .deploy
      environment: staging

    deploy-production:
      extends: .deploy
      environment:
        name: production
      rules:
        - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
          when: manual

    stop-review:
      stage: deploy
      script: [echo stop]
      environment:
        name: review/$CI_COMMIT_REF_SLUG
        action: stop
      when: manual
    """
)

GITLAB_TRAIN = dedent(
    """
    retrain-model:
      stage: build
      image: python:3.11
      script:
        - python -m recsys.train --epochs 20
      rules:
        - if: $CI_PIPELINE_SOURCE == "schedule"
        - if: $CI_PIPELINE_SOURCE == "push"
          when: never

    nightly-report:
      stage: build
      script: [python scripts/report.py]
      only: [schedules]
    """
)

# --- Dependencies ---------------------------------------------------------------------------

# Requirement lines counted for deps.pinned_ratio: numpy (pinned), pandas, scikit-learn
# (== with a wildcard), mlflow (pinned), great_expectations (pinned, with a hash),
# Prometheus_Client (pinned), torch @ url: 7 lines, 4 pinned. Editable lines, options and
# the -r include are not requirement lines.
REQUIREMENTS = dedent(
    """
    # Runtime dependencies
    -r requirements/base.txt
    numpy==1.26.4
    pandas>=2.0,<3
    scikit-learn==1.5.*  # any patch release
    mlflow[extras]==2.16.0 ; python_version >= "3.10"
    great_expectations==0.18.19 \\
        --hash=sha256:0a1b2c3d4e5f
    Prometheus_Client==0.20.0
    -e git+https://github.com/acme/featurekit.git#egg=featurekit
    -e .
    --extra-index-url https://pypi.example.com/simple
    torch @ https://download.pytorch.org/whl/cpu/torch-2.3.0-cp311-none-linux_x86_64.whl
    -c constraints.txt
    """
)
# 3 more lines, 2 pinned (pytest, ray): 10 lines, 6 pinned over both files -> 0.6.
# requirements.txt is read once although this file includes it.
REQUIREMENTS_DEV = dedent(
    """
    -r requirements.txt
    pytest==8.3.3
    hypothesis>=6
    ray[serve]==2.35.0
    """
)
PYPROJECT = dedent(
    """
    [build-system]
    requires = ["hatchling"]
    build-backend = "hatchling.build"

    [project]
    name = "recsys"
    version = "1.4.0"
    dependencies = [
        "pandera>=0.20",
        "evidently~=0.4",
        "opentelemetry-sdk>=1.27",
        "feast[redis]>=0.40",
    ]

    [project.optional-dependencies]
    serving = ["bentoml>=1.3"]

    [dependency-groups]
    dev = ["nox>=2024.4", {include-group = "lint"}]
    lint = ["ruff"]

    [tool.ruff]
    line-length = 100
    """
)
POETRY_PYPROJECT = dedent(
    """
    [tool.poetry]
    name = "recsys-api"
    version = "0.3.0"

    [tool.poetry.dependencies]
    python = "^3.11"
    fastapi = "^0.115"
    shap = "0.46.0"
    kfp = {version = "^2.9", extras = ["kubernetes"]}

    [tool.poetry.group.test.dependencies]
    deepeval = "^1.0"
    """
)
ENVIRONMENT = dedent(
    """
    name: recsys-train
    channels: [conda-forge, pytorch]
    dependencies:
      - python=3.11
      - pytorch::pytorch=2.3
      - dvc>=3.50
      - pip
      - pip:
          - wandb==0.18.0
          - fairlearn>=0.10
          - -r requirements-extra.txt
    """
)
SETUP_CFG = dedent(
    """
    [metadata]
    name = legacy-features

    [options]
    install_requires =
        dagster>=1.8
        captum

    [options.extras_require]
    monitoring = whylogs; nannyml

    [flake8]
    max-line-length = 100
    """
)
CATALOG_INFO = dedent(
    """
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Component
    metadata:
      name: recsys
    spec:
      type: service
      owner: group:default/ml-platform
      lifecycle: production
    ---
    apiVersion: backstage.io/v1alpha1
    kind: API
    metadata:
      name: recsys-api
    spec:
      owner: someone-else
      lifecycle: experimental
    """
)


def gh_run(workflow: str, created: str, updated: str, conclusion: str, **extra: object) -> dict:
    status = "completed" if conclusion else "in_progress"
    return {
        "databaseId": abs(hash((workflow, created))) % 10**10,
        "name": extra.get("name", workflow),
        "workflowName": workflow,
        "event": extra.get("event", "push"),
        "headBranch": "main",
        "status": status,
        "conclusion": conclusion,
        "createdAt": created,
        "updatedAt": updated,
    }


# The window runs from the first start (11-02 09:00) to the last (11-30 09:00): 28 days.
# Deployments: 10 runs of "Deploy" + 1 of "Publish package" = 11.
#   Successful: Deploy 11-02, 11-06, 11-12, 11-20 12:00, 11-26, Publish 11-15 = 6
#   -> frequency 6 / (28 / 7) = 1.5 a week.
#   Failed: Deploy 11-05 10:00, 11-05 14:00, 11-20 10:00, 11-28 = 4 (11-19 was cancelled)
#   -> change failure rate 4 / (6 + 4) = 0.4.
#   Restores: 11-05 10:15 (first failure finished) -> 11-06 09:15 = 23 h;
#   11-20 10:30 -> 11-20 12:30 = 2 h; 11-28 is never restored -> median (23 + 2) / 2 = 12.5 h.
# CI success rate: 15 runs, completed 13 (cancelled and in-progress left out), 8 succeeded.
GH_RUNS = [
    gh_run("CI", "2026-11-02T09:00:00Z", "2026-11-02T09:06:00Z", "success"),
    gh_run("Deploy", "2026-11-02T10:00:00Z", "2026-11-02T10:20:00Z", "success"),
    gh_run("Deploy", "2026-11-05T10:00:00Z", "2026-11-05T10:15:00Z", "failure"),
    gh_run("Deploy", "2026-11-05T14:00:00Z", "2026-11-05T14:30:00Z", "failure"),
    gh_run("Deploy", "2026-11-06T09:00:00Z", "2026-11-06T09:15:00Z", "success"),
    gh_run("CI", "2026-11-10T08:00:00Z", "2026-11-10T08:09:00Z", "failure"),
    gh_run("Deploy", "2026-11-12T10:00:00Z", "2026-11-12T10:10:00Z", "success"),
    gh_run("Publish package", "2026-11-15T10:00:00Z", "2026-11-15T10:05:00Z", "success"),
    gh_run("CI", "2026-11-15T11:00:00Z", "2026-11-15T11:00:30Z", "", name="Fix release notes"),
    gh_run("Deploy", "2026-11-19T10:00:00Z", "2026-11-19T10:10:00Z", "cancelled"),
    gh_run("Deploy", "2026-11-20T10:00:00Z", "2026-11-20T10:30:00Z", "failure"),
    gh_run("Deploy", "2026-11-20T12:00:00Z", "2026-11-20T12:30:00Z", "success"),
    gh_run("Deploy", "2026-11-26T10:00:00Z", "2026-11-26T10:20:00Z", "success"),
    gh_run("Deploy", "2026-11-28T10:00:00Z", "2026-11-28T10:20:00Z", "failure"),
    gh_run("CI", "2026-11-30T09:00:00Z", "2026-11-30T09:07:00Z", "success"),
]


def pipeline(
    pipeline_id: int, ref: str, status: str, created: str, updated: str, source: str = "push"
) -> dict:
    return {
        "id": pipeline_id,
        "iid": pipeline_id - 1000,
        "project_id": 42,
        "sha": f"{pipeline_id:040x}",
        "ref": ref,
        "status": status,
        "source": source,
        "created_at": created,
        "updated_at": updated,
        "web_url": f"https://gitlab.example.com/ml/recsys/-/pipelines/{pipeline_id}",
    }


# Window: 10-01 08:00 -> 10-15 08:00 = 14 days (2 weeks).
# Deployments (main or a version tag, not scheduled or merge-request pipelines): 10.
#   Successful: main 10-01, 10-03 12:00, 10-10, 10-13, tag v1.2.0 = 5 -> 2.5 a week.
#   Failed: main 10-03 09:00, 10-12 10:00, 10-12 11:00 = 3 -> change failure rate 3/8.
#   Restores on main: 10-03 09:20 -> 12:20 = 3 h; 10-12 10:10 -> 10-13 10:40 = 24.5 h;
#   median 13.75 h.
# Success rate: 13 pipelines, 11 completed (canceled and running left out), 6 succeeded.
GITLAB_PIPELINES = [
    pipeline(1101, "main", "success", "2026-10-01T08:00:00.000Z", "2026-10-01T08:30:00.000Z"),
    pipeline(1102, "feature/ranker", "failed", "2026-10-02T09:00:00Z", "2026-10-02T09:10:00Z"),
    pipeline(1103, "main", "failed", "2026-10-03T09:00:00Z", "2026-10-03T09:20:00Z"),
    pipeline(1104, "main", "success", "2026-10-03T12:00:00Z", "2026-10-03T12:20:00Z"),
    pipeline(1105, "main", "success", "2026-10-05T03:00:00Z", "2026-10-05T04:00:00Z", "schedule"),
    pipeline(1106, "v1.2.0", "success", "2026-10-07T10:00:00Z", "2026-10-07T10:10:00Z"),
    pipeline(1107, "main", "canceled", "2026-10-08T10:00:00Z", "2026-10-08T10:01:00Z"),
    pipeline(1108, "main", "success", "2026-10-10T10:00:00Z", "2026-10-10T10:25:00Z"),
    pipeline(
        1109,
        "refs/merge-requests/5/head",
        "failed",
        "2026-10-11T10:00:00Z",
        "2026-10-11T10:05:00Z",
        "merge_request_event",
    ),
    pipeline(1110, "main", "failed", "2026-10-12T10:00:00Z", "2026-10-12T10:10:00Z"),
    pipeline(1111, "main", "failed", "2026-10-12T11:00:00Z", "2026-10-12T11:10:00Z"),
    pipeline(1112, "main", "success", "2026-10-13T10:10:00Z", "2026-10-13T10:40:00Z"),
    pipeline(1113, "main", "running", "2026-10-15T08:00:00Z", "2026-10-15T08:05:00Z", "web"),
]

SCORECARD = {
    "date": "2026-11-30T06:12:44Z",
    "repo": {
        "name": "github.com/acme/recsys",
        "commit": "5f1c0e0d9b8a7c6b5a4d3e2f1a0b9c8d7e6f5a4b",
    },
    "scorecard": {"version": "v5.0.0", "commit": "ea7e27ed41b76ab879c862fa0ca4cc9c61764ee4"},
    "score": 7.3,
    "checks": [
        {"name": "Branch-Protection", "score": 8, "reason": "branch protection is not maximal"},
        {"name": "Code-Review", "score": 10, "reason": "all changesets reviewed"},
        {"name": "Signed-Releases", "score": -1, "reason": "no releases found"},
        {"name": "SAST", "score": 0, "reason": "SAST tool is not run on all commits"},
        {"name": "CI-Tests", "score": 9, "reason": "28 out of 31 merged PRs checked by a CI test"},
        {"name": "CII-Best-Practices", "score": 2, "reason": "badge detected: InProgress"},
        {"name": "Pinned-Dependencies", "score": 6, "reason": "dependency not pinned by hash"},
        {"name": "Some-Future-Check", "score": 5, "reason": "not in our catalogue"},
    ],
    "metadata": None,
}

KEPT = {
    ".github/workflows/ci.yml": CI_WORKFLOW,
    ".github/workflows/deploy.yml": DEPLOY_WORKFLOW,
    ".github/workflows/retrain.yaml": RETRAIN_WORKFLOW,
    ".github/dependabot.yml": "version: 2\nupdates: []\n",
    ".gitlab-ci.yml": GITLAB_CI,
    "ci/train.gitlab-ci.yml": GITLAB_TRAIN,
    "requirements.txt": REQUIREMENTS,
    "requirements-dev.txt": REQUIREMENTS_DEV,
    "pyproject.toml": PYPROJECT,
    "services/api/pyproject.toml": POETRY_PYPROJECT,
    "environment.yml": ENVIRONMENT,
    "setup.cfg": SETUP_CFG,
    "catalog-info.yaml": CATALOG_INFO,
    ".maturity/ci-runs.json": json.dumps(GH_RUNS),
    ".maturity/scorecard.json": json.dumps(SCORECARD),
    "Dockerfile": "FROM python:3.11-slim\n",
    "docker/Dockerfile.gpu": "FROM nvidia/cuda:12.4.1-runtime-ubuntu22.04\n",
    "charts/recsys/Chart.yaml": "apiVersion: v2\nname: recsys\nversion: 0.1.0\n",
    "k8s/base/kustomization.yaml": "resources: [deployment.yaml]\n",
    "dvc.yaml": "stages: {}\n",
    "MLproject": "name: recsys\n",
    ".pre-commit-config.yaml": "repos: []\n",
}
PATHS_ONLY = [
    "README.md",
    ".github/CODEOWNERS",
    ".dvc/config",
    "data/raw/events.parquet.dvc",
    "infra/main.tf",
    "infra/variables.tf",
    "charts/recsys/templates/deployment.yaml",
    "k8s/base/deployment.yaml",
    "src/recsys/__init__.py",
    "src/recsys/train.py",
    "src/recsys/ranker_test.py",
    "tests/conftest.py",
    "tests/test_ranker.py",
    "tests/fixtures/events.json",
    "web/src/app.spec.ts",
    "docs/MODEL_CARD.md",
    "services/api/poetry.lock",
    "requirements/base.txt",
    "notebooks/explore.ipynb",
]


def snapshot(kept: dict[str, str] | None = None, paths: list[str] | None = None) -> SnapshotReader:
    return SnapshotReader(PATHS_ONLY if paths is None else paths, KEPT if kept is None else kept)


def result_of(name: str, reader: SnapshotReader) -> CollectedFacts:
    (result,) = collect_all(reader, [registry()[name]])
    assert result.error is None, result.error
    return result


@pytest.fixture(autouse=True)
def fresh_registry():
    """Each test sees the entry points installed at its start (plug-in tests add some)."""
    clear_registry_cache()
    yield
    clear_registry_cache()


# --- Registry and catalogue -------------------------------------------------------------


def test_builtin_collectors_declare_exactly_the_catalogued_facts():
    declared = {c.name: dict(c.facts) for c in BUILTIN_COLLECTORS}
    assert declared == {
        "repo": REPO_FACTS,
        "ci": CI_FACTS,
        "dependencies": DEPENDENCY_FACTS,
        "ci_runs": CI_RUN_FACTS,
        "scorecard": SCORECARD_FACTS,
    }
    assert {c.version for c in BUILTIN_COLLECTORS} == {"1"}
    assert fact_catalogue() == BUILTIN_FACTS


# --- repo ---------------------------------------------------------------------------------


def test_repo_facts_come_from_the_file_list_and_the_first_backstage_entity():
    result = result_of("repo", snapshot())
    facts = result.facts
    assert facts["repo.paths"] == sorted(set(PATHS_ONLY) | set(KEPT))
    assert facts["repo.dockerfiles"] == ["Dockerfile", "docker/Dockerfile.gpu"]
    assert facts["repo.has_codeowners"] is True
    assert facts["repo.terraform_files"] == ["infra/main.tf", "infra/variables.tf"]
    assert facts["repo.helm_charts"] == ["charts/recsys/Chart.yaml"]
    assert facts["repo.kubernetes_manifests"] == [
        "k8s/base/deployment.yaml",
        "k8s/base/kustomization.yaml",
    ]
    assert facts["repo.dvc"] is True
    assert facts["repo.mlproject"] is True
    assert facts["repo.catalog_info"] is True
    assert facts["catalog.owner"] == "group:default/ml-platform"
    assert facts["catalog.lifecycle"] == "production"
    assert facts["repo.test_files"] == [
        "src/recsys/ranker_test.py",
        "tests/conftest.py",
        "tests/test_ranker.py",
        "web/src/app.spec.ts",
    ]
    assert facts["repo.model_cards"] == ["docs/MODEL_CARD.md"]
    assert facts["repo.pre_commit"] is True
    assert facts["repo.dependency_updates"] is True
    assert facts["repo.lockfiles"] == ["services/api/poetry.lock"]
    assert result.problems == []


def test_an_empty_repository_has_negative_repo_facts_and_no_catalog_facts():
    facts = result_of("repo", SnapshotReader(["README.md"], {})).facts
    assert facts["repo.dockerfiles"] == []
    assert facts["repo.has_codeowners"] is False
    assert facts["repo.dvc"] is False
    assert "catalog.owner" not in facts
    assert set(facts) == set(REPO_FACTS) - {"catalog.owner", "catalog.lifecycle"}


def test_a_catalog_info_that_does_not_parse_is_a_problem_not_a_failure():
    result = result_of("repo", SnapshotReader([], {"catalog-info.yaml": "spec: [owner: x\n"}))
    assert result.facts["repo.catalog_info"] is True
    assert "catalog.owner" not in result.facts
    assert len(result.problems) == 1
    assert result.problems[0].startswith("catalog-info.yaml: not valid YAML")


def test_an_impossible_yaml_date_or_a_huge_toml_integer_is_a_problem_not_a_crash():
    kept = {
        "catalog-info.yaml": "spec:\n  owner: 2026-02-30\n",
        "pyproject.toml": "a = " + "9" * 5000,
    }
    results = {r.name: r for r in collect_all(SnapshotReader([], kept))}
    assert results["repo"].error is None
    assert results["repo"].problems[0].startswith("catalog-info.yaml: not valid YAML")
    assert results["dependencies"].problems[0].startswith("pyproject.toml: not valid TOML")


# --- ci -----------------------------------------------------------------------------------


def test_ci_jobs_are_classified_across_github_actions_and_gitlab_ci():
    result = result_of("ci", snapshot())
    facts = result.facts
    assert facts["ci.providers"] == ["github-actions", "gitlab-ci"]
    assert facts["ci.jobs"] == [
        "ci.yml:lint",
        "ci.yml:test",
        "ci.yml:install-only",
        "ci.yml:build-image",
        "ci.yml:codeql",
        "ci.yml:dependency-review",
        "deploy.yml:staging",
        "deploy.yml:prod",
        "deploy.yml:preprod-smoke",
        "retrain.yaml:retrain",
        "retrain.yaml:report",
        # the included file's jobs come first: GitLab merges includes, then the file itself
        "ci/train.gitlab-ci.yml:retrain-model",
        "ci/train.gitlab-ci.yml:nightly-report",
        ".gitlab-ci.yml:lint",
        ".gitlab-ci.yml:unit-tests",
        ".gitlab-ci.yml:bandit",
        ".gitlab-ci.yml:build-image",
        ".gitlab-ci.yml:deploy-staging",
        ".gitlab-ci.yml:deploy-production",
        ".gitlab-ci.yml:stop-review",
    ]
    # "pip install pytest tox" installs test tools but runs no tests.
    assert facts["ci.test_jobs"] == [
        "ci.yml:test",
        "deploy.yml:preprod-smoke",
        ".gitlab-ci.yml:unit-tests",
    ]
    assert facts["ci.lint_jobs"] == ["ci.yml:lint", ".gitlab-ci.yml:lint"]
    assert facts["ci.container_builds"] == ["ci.yml:build-image", ".gitlab-ci.yml:build-image"]
    # An environment makes a deploy job; GitLab's "action: stop" job does not deploy.
    assert facts["ci.deploy_jobs"] == [
        "deploy.yml:staging",
        "deploy.yml:prod",
        "deploy.yml:preprod-smoke",
        ".gitlab-ci.yml:deploy-staging",
        ".gitlab-ci.yml:deploy-production",
    ]
    assert facts["ci.deploy_environments"] == ["preprod", "production", "staging"]
    # GitHub: production-like environment (preprod is not); GitLab: when: manual in a rule.
    assert facts["ci.gated_deploys"] == ["deploy.yml:prod", ".gitlab-ci.yml:deploy-production"]
    assert facts["ci.scheduled_workflows"] == [
        "retrain.yaml",
        "ci/train.gitlab-ci.yml:retrain-model",
        "ci/train.gitlab-ci.yml:nightly-report",
    ]
    assert facts["ci.scheduled_training"] == [
        "retrain.yaml:retrain",
        "ci/train.gitlab-ci.yml:retrain-model",
    ]
    assert facts["ci.security_scans"] == [
        "bandit",
        "codeql",
        "dependency-review",
        "gitlab-sast",
        "gitlab-secret-detection",
        "trivy",
    ]
    assert result.problems == [".gitlab-ci.yml: includes ci/missing.yml, not in the snapshot"]


def test_gitlab_anchors_merge_keys_references_and_extends_are_resolved():
    gitlab = GitLabConfig(snapshot(), [])
    unit_tests = gitlab_job(gitlab, "unit-tests", admits_schedules=False)
    # before_script from the &python anchor (<<), then !reference [.setup, script].
    assert unit_tests.commands == [
        "pip install -r requirements.txt",
        "export PYTHONPATH=src",
        "tox -e py311",
    ]
    production = gitlab_job(gitlab, "deploy-production", admits_schedules=False)
    assert production.commands == ["helm upgrade --install recsys chart/"]
    assert production.images == ["alpine/helm:3.15"]
    assert production.names == ["deploy-production", "deploy", ".deploy"]
    assert (production.environment, production.manual) == ("production", True)


def test_gitlab_workflow_rules_for_schedules_make_unconditioned_jobs_scheduled():
    gitlab_ci = dedent(
        """
        workflow:
          rules:
            - if: '$CI_PIPELINE_SOURCE == "schedule"'
            - if: $CI_COMMIT_BRANCH
        fit-model:
          script: [python fit.py]
        pushes-only:
          script: [make test]
          except: [schedules]
        """
    )
    facts = result_of("ci", SnapshotReader([], {".gitlab-ci.yml": gitlab_ci})).facts
    assert facts["ci.scheduled_workflows"] == [".gitlab-ci.yml:fit-model"]
    assert facts["ci.scheduled_training"] == [".gitlab-ci.yml:fit-model"]
    assert facts["ci.test_jobs"] == [".gitlab-ci.yml:pushes-only"]


def test_a_self_referencing_yaml_alias_is_a_skipped_file_not_a_hang():
    # A recursive alias expands without end: reader.yaml_problem refuses it (uploads refuse
    # the whole snapshot), so a reader holding one makes the collector skip the file.
    gitlab_ci = "loop: &loop\n  script: [pytest, *loop]\n  extends: loop\n"
    result = result_of("ci", SnapshotReader([], {".gitlab-ci.yml": gitlab_ci}))
    assert result.error is None
    # Not read, so "no jobs" is not known: the job facts are absent (unknown), not empty.
    assert "ci.jobs" not in result.facts and "ci.test_jobs" not in result.facts
    assert len(result.problems) == 1 and result.problems[0].startswith(".gitlab-ci.yml: ")


def test_a_workflow_whose_content_was_not_kept_is_a_problem_but_still_a_provider():
    reader = SnapshotReader([".github/workflows/huge.yml", "Jenkinsfile"], {})
    result = result_of("ci", reader)
    assert result.facts["ci.providers"] == ["github-actions", "jenkins"]
    # Regression (issue 16 QA): an unread workflow made ci.security_scans "empty" and
    # contradicted the team; its job facts are unknown instead.
    assert "ci.jobs" not in result.facts and "ci.security_scans" not in result.facts
    assert result.problems == [".github/workflows/huge.yml: content not kept in the snapshot"]


# --- dependencies -------------------------------------------------------------------------


def test_dependencies_from_requirements_pyproject_poetry_conda_and_setup_cfg():
    result = result_of("dependencies", snapshot())
    facts = result.facts
    assert facts["deps.manifests"] == [
        "environment.yml",
        "pyproject.toml",
        "requirements-dev.txt",
        "requirements.txt",
        "services/api/pyproject.toml",
        "setup.cfg",
    ]
    assert facts["deps.packages"] == sorted(
        [
            # requirements.txt (featurekit from #egg=), requirements-dev.txt
            *["numpy", "pandas", "scikit-learn", "mlflow", "great-expectations"],
            *["prometheus-client", "featurekit", "torch", "pytest", "hypothesis", "ray"],
            # pyproject.toml (PEP 621, PEP 735) and the Poetry project (python left out)
            *["pandera", "evidently", "opentelemetry-sdk", "feast", "bentoml", "nox", "ruff"],
            *["fastapi", "shap", "kfp", "deepeval"],
            # environment.yml (conda and pip) and setup.cfg
            *["pytorch", "dvc", "pip", "wandb", "fairlearn", "dagster", "captum"],
            *["whylogs", "nannyml"],
        ]
    )
    assert facts["deps.pinned_ratio"] == pytest.approx(0.6)
    assert facts["deps.experiment_tracking"] == ["mlflow", "wandb"]
    assert facts["deps.data_validation"] == ["evidently", "great-expectations", "pandera"]
    assert facts["deps.monitoring"] == [
        "evidently",
        "nannyml",
        "opentelemetry-sdk",
        "prometheus-client",
        "whylogs",
    ]
    assert facts["deps.data_versioning"] == ["dvc"]
    assert facts["deps.feature_store"] == ["feast"]
    assert facts["deps.orchestration"] == ["dagster", "kfp"]
    assert facts["deps.model_serving"] == ["bentoml", "ray[serve]"]
    assert facts["deps.testing"] == ["hypothesis", "nox", "pytest"]
    assert facts["deps.explainability"] == ["captum", "shap"]
    assert facts["deps.fairness"] == ["fairlearn"]
    assert facts["deps.llm_evaluation"] == ["deepeval"]
    assert result.problems == ["requirements/base.txt: content not kept in the snapshot"]


def test_ray_without_the_serve_extra_is_not_model_serving():
    kept = {"requirements.txt": "ray[tune]==2.35.0\nopentelemetry-exporter-otlp\n"}
    facts = result_of("dependencies", SnapshotReader([], kept)).facts
    assert facts["deps.model_serving"] == []
    assert facts["deps.monitoring"] == ["opentelemetry-exporter-otlp"]
    assert facts["deps.pinned_ratio"] == 0.5


def test_no_requirement_lines_leave_the_pinned_ratio_absent():
    facts = result_of("dependencies", SnapshotReader([], {"pyproject.toml": PYPROJECT})).facts
    assert "deps.pinned_ratio" not in facts
    assert facts["deps.manifests"] == ["pyproject.toml"]


def test_a_pyproject_with_only_tool_settings_is_not_a_dependency_manifest():
    kept = {"pyproject.toml": "[tool.ruff]\nline-length = 100\n", "setup.cfg": "[flake8]\n"}
    facts = result_of("dependencies", SnapshotReader([], kept)).facts
    assert facts["deps.manifests"] == []
    assert facts["deps.packages"] == []


# --- ci_runs (DORA) -----------------------------------------------------------------------


def test_dora_figures_from_a_github_run_history():
    result = result_of("ci_runs", snapshot())
    assert result.facts == {
        "ci.runs": 15,
        "ci.success_rate": pytest.approx(8 / 13),
        "dora.window_days": pytest.approx(28.0),
        "dora.deployments": 11,
        "dora.deployment_frequency_per_week": pytest.approx(1.5),
        "dora.change_failure_rate": pytest.approx(0.4),
        "dora.time_to_restore_hours": pytest.approx(12.5),
    }
    assert result.problems == []


def test_dora_figures_from_a_gitlab_pipeline_history():
    reader = SnapshotReader([], {".maturity/ci-runs.json": json.dumps(GITLAB_PIPELINES)})
    assert result_of("ci_runs", reader).facts == {
        "ci.runs": 13,
        "ci.success_rate": pytest.approx(6 / 11),
        "dora.window_days": pytest.approx(14.0),
        "dora.deployments": 10,
        "dora.deployment_frequency_per_week": pytest.approx(2.5),
        "dora.change_failure_rate": pytest.approx(3 / 8),
        "dora.time_to_restore_hours": pytest.approx(13.75),
    }


def test_too_short_a_history_leaves_the_dora_rates_absent():
    # Three days, two deployments: no frequency (under 7 days), no failure rate (under 5).
    runs = [
        gh_run("Deploy", "2026-11-02T10:00:00Z", "2026-11-02T10:20:00Z", "failure"),
        gh_run("Deploy", "2026-11-05T10:00:00Z", "2026-11-05T11:20:00Z", "success"),
    ]
    reader = SnapshotReader([], {".maturity/ci-runs.json": json.dumps(runs)})
    assert result_of("ci_runs", reader).facts == {
        "ci.runs": 2,
        "ci.success_rate": 0.5,
        "dora.window_days": pytest.approx(3.0),
        "dora.deployments": 2,
        "dora.time_to_restore_hours": pytest.approx(73.0),
    }


def test_no_run_history_means_no_run_facts():
    assert result_of("ci_runs", SnapshotReader(["README.md"], {})).facts == {}
    empty = SnapshotReader([], {".maturity/ci-runs.json": "[]"})
    assert result_of("ci_runs", empty).facts == {}
    wrong = result_of("ci_runs", SnapshotReader([], {".maturity/ci-runs.json": '{"runs": 3}'}))
    assert wrong.facts == {}
    assert wrong.problems == [".maturity/ci-runs.json: not a list of runs or pipelines"]


# --- scorecard ----------------------------------------------------------------------------


def test_scorecard_checks_become_snake_case_facts_and_inconclusive_ones_are_absent():
    result = result_of("scorecard", snapshot())
    assert result.facts == {
        "scorecard.score": 7.3,
        "scorecard.branch_protection": 8.0,
        "scorecard.code_review": 10.0,
        "scorecard.sast": 0.0,
        "scorecard.ci_tests": 9.0,
        "scorecard.cii_best_practices": 2.0,
        "scorecard.pinned_dependencies": 6.0,
    }
    assert all(isinstance(value, float) for value in result.facts.values())


def test_a_root_scorecard_json_is_read_when_maturity_has_none():
    reader = SnapshotReader([], {"scorecard.json": json.dumps({"score": -1, "checks": []})})
    assert result_of("scorecard", reader).facts == {}
    reader = SnapshotReader([], {"scorecard.json": json.dumps({"score": 4, "checks": []})})
    assert result_of("scorecard", reader).facts == {"scorecard.score": 4.0}


# --- collect_all --------------------------------------------------------------------------


class ScriptedCollector:
    """A plug-in-shaped collector whose output the test chooses."""

    version = "1"

    def __init__(self, name: str, output: object) -> None:
        self.name = name
        self.output = output
        self.facts = {"acme.ready": FactSpec("acme.ready", "bool", "a test fact")}

    def collect(self, reader: SnapshotReader) -> dict[str, object]:
        if isinstance(self.output, Exception):
            raise self.output
        return self.output  # type: ignore[return-value]


def test_collect_all_runs_every_registered_collector_and_reports_problems():
    results = collect_all(snapshot())
    assert [r.name for r in results] == ["repo", "ci", "dependencies", "ci_runs", "scorecard"]
    assert all(r.error is None for r in results)
    by_name = {r.name: r for r in results}
    assert by_name["ci"].problems == [
        ".gitlab-ci.yml: includes ci/missing.yml, not in the snapshot"
    ]
    assert set().union(*(r.facts for r in results)) <= set(BUILTIN_FACTS)


@pytest.mark.parametrize(
    ("output", "error"),
    [
        ({"acme.ready": True, "acme.other": 1}, "undeclared fact 'acme.other'"),
        ({"acme.ready": "yes"}, "acme.ready should be bool, got str"),
        ({"acme.ready": 1}, "acme.ready should be bool, got int"),
        (["acme.ready"], "collect() returned list, not a dict of facts"),
        (RuntimeError("boom"), "collect() raised RuntimeError: boom"),
    ],
)
def test_a_collector_breaking_its_declaration_gets_an_error_and_no_facts(output, error):
    good = ScriptedCollector("good", {"acme.ready": True})
    bad = ScriptedCollector("bad", output)
    results = collect_all(SnapshotReader([], {}), [bad, good])
    assert results[0] == CollectedFacts("bad", "1", {}, [], error)
    assert results[1] == CollectedFacts("good", "1", {"acme.ready": True}, [], None)


def test_declared_types_are_normalised_ints_to_floats_tuples_to_lists():
    class Typed:
        name, version = "typed", "1"
        facts = {
            "t.rate": FactSpec("t.rate", "float", "a rate"),
            "t.items": FactSpec("t.items", "list[str]", "items"),
            "t.count": FactSpec("t.count", "int", "a count"),
        }

        def collect(self, reader: SnapshotReader) -> dict[str, object]:
            return {"t.rate": 1, "t.items": ("a", "b"), "t.count": 3}

    (result,) = collect_all(SnapshotReader([], {}), [Typed()])
    assert result.facts == {"t.rate": 1.0, "t.items": ["a", "b"], "t.count": 3}
    assert isinstance(result.facts["t.rate"], float)
    nan = ScriptedCollector("nan", {"acme.ready": True})
    nan.facts = {"acme.ready": FactSpec("acme.ready", "float", "x")}
    nan.output = {"acme.ready": math.nan}
    assert collect_all(SnapshotReader([], {}), [nan])[0].error == (
        "acme.ready should be float, got float"
    )


# --- Plug-ins through real entry points -----------------------------------------------------

PLUGIN_MODULE = dedent(
    """
    from maturity.evidence.facts import FactSpec


    class ReadmeCollector:
        name = "acme_readme"
        version = "2"
        facts = {"acme.has_readme": FactSpec("acme.has_readme", "bool", "a README at the root")}

        def collect(self, reader):
            return {"acme.has_readme": reader.exists("README.md")}


    class RenamedRepo(ReadmeCollector):
        name = "repo"
        facts = {"acme.other": FactSpec("acme.other", "bool", "clashes by name")}


    class FactThief(ReadmeCollector):
        name = "thief"
        facts = {"deps.packages": FactSpec("deps.packages", "list[str]", "clashes by fact")}


    def make_thief():
        return FactThief()


    NOT_A_COLLECTOR = 42
    """
)


def install_plugin(tmp_path, monkeypatch, module: str, distribution: str, entry_points: str):
    """Write an importable module and its ``.dist-info`` into tmp_path, as pip would."""
    (tmp_path / f"{module}.py").write_text(PLUGIN_MODULE)
    dist_info = tmp_path / f"{distribution}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text(f"[maturity.collectors]\n{entry_points}")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)
    clear_registry_cache()


def test_an_installed_plugin_is_registered_and_its_facts_join_the_catalogue(tmp_path, monkeypatch):
    install_plugin(
        tmp_path,
        monkeypatch,
        "acme_readme_plugin",
        "acme_readme",
        "readme = acme_readme_plugin:ReadmeCollector\n",
    )
    collectors = registry()
    assert list(collectors)[:5] == ["repo", "ci", "dependencies", "ci_runs", "scorecard"]
    assert collectors["acme_readme"].version == "2"
    assert fact_catalogue()["acme.has_readme"].type == "bool"
    results = {r.name: r for r in collect_all(SnapshotReader(["README.md"], {}))}
    assert results["acme_readme"].facts == {"acme.has_readme": True}
    assert refused_plugins() == []


def test_plugins_clashing_by_name_or_fact_or_not_collectors_are_refused_and_logged(
    tmp_path, monkeypatch, caplog
):
    install_plugin(
        tmp_path,
        monkeypatch,
        "acme_clash_plugin",
        "acme_clash",
        "renamed = acme_clash_plugin:RenamedRepo\n"
        "thief = acme_clash_plugin:make_thief\n"
        "number = acme_clash_plugin:NOT_A_COLLECTOR\n"
        "missing = acme_clash_plugin:DoesNotExist\n"
        "fine = acme_clash_plugin:ReadmeCollector\n",
    )
    with caplog.at_level("WARNING", logger="maturity.evidence.collectors"):
        collectors = registry()
    assert collectors["repo"] is BUILTIN_COLLECTORS[0]
    assert "thief" not in collectors
    assert "acme_readme" in collectors
    assert fact_catalogue()["deps.packages"] == DEPENDENCY_FACTS["deps.packages"]
    refused = {r.entry_point.split(" = ")[0]: r.reason for r in refused_plugins()}
    assert refused == {
        "renamed": "its name 'repo' is taken by another collector",
        "thief": "its fact 'deps.packages' is declared by the collector 'dependencies'",
        "number": "it has no name, version, facts and collect(reader)",
        "missing": refused["missing"],
    }
    assert refused["missing"].startswith("it failed to load (AttributeError")
    assert {r.distribution for r in refused_plugins()} == {"acme_clash"}
    assert sum("refused" in record.getMessage() for record in caplog.records) == 4


# --- Junk never breaks collection -------------------------------------------------------------

KEPT_PATHS = [
    ".github/workflows/a.yml",
    ".gitlab-ci.yml",
    "ci/x.gitlab-ci.yml",
    "requirements.txt",
    "requirements-dev.txt",
    "pyproject.toml",
    "environment.yml",
    "setup.cfg",
    ".maturity/ci-runs.json",
    ".maturity/scorecard.json",
    "catalog-info.yaml",
]
VOCABULARY = [
    *["on", "jobs", "steps", "run", "uses", "name", "environment", "schedule", "container"],
    *["script", "before_script", "rules", "if", "when", "include", "local", "template"],
    *["component", "extends", "stage", "image", "only", "refs", "workflow", "action"],
    *["dependencies", "pip", "project", "optional-dependencies", "status", "conclusion"],
    *["createdAt", "updatedAt", "workflowName", "created_at", "updated_at", "ref", "source"],
    *["tag", "checks", "score", "spec", "owner", "lifecycle", ".setup", "default", "stop"],
]
SCALARS = [
    *["manual", "schedule", "schedules", "never", "completed", "success", "failure", "failed"],
    *["main", "2026-11-02T10:00:00Z", "2026-13-45T99:00:00Z", "pytest", "docker build ."],
    *["deploy", "production", "$CI_PIPELINE_SOURCE == 'schedule'", "Security/SAST.yml"],
    *["-r requirements.txt", "-r ../../etc/passwd", "numpy==1.0", ".setup", "Deploy", "ci"],
    *["ray[serve]", "pkg[", "/ci/x.gitlab-ci.yml", "ci/*.gitlab-ci.yml", "**/*.yml", "a::b=1"],
]
keys = st.sampled_from(VOCABULARY) | st.text(max_size=6)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(SCALARS)
)
junk = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=30,
)
requirement_lines = st.lists(st.sampled_from(SCALARS) | st.text(max_size=20), max_size=6)
toml_junk = st.builds(
    lambda deps, extras, name, spec: (
        f"[project]\ndependencies = {json.dumps(deps)}\n"
        f"[project.optional-dependencies]\nx = {json.dumps(extras)}\n"
        f"[tool.poetry.dependencies]\n{json.dumps(name)} = {json.dumps(spec)}\n"
        f"[tool.poetry.group.g.dependencies]\n"
        f"{json.dumps(name)} = {{extras = {json.dumps(deps)}}}\n"
    ),
    requirement_lines,
    requirement_lines,
    st.sampled_from(SCALARS) | st.text(max_size=10),
    st.sampled_from(SCALARS) | st.text(max_size=10),
)
contents = (
    st.text(max_size=200)
    | junk.map(lambda value: json.dumps(value))
    | junk.map(lambda value: yaml.safe_dump(value, default_flow_style=False))
    | requirement_lines.map("\n".join)
    | toml_junk
)


# Documents shaped like the files each collector reads (a workflow's jobs of steps, a list of
# runs, checks with scores), with junk at every leaf: plain junk rarely gets that deep.
text_leaf = st.sampled_from(SCALARS) | st.text(max_size=12)
leaf = (
    text_leaf
    | st.none()
    | st.booleans()
    | st.integers(min_value=-5, max_value=20)
    | st.floats()
    | st.lists(text_leaf, max_size=3)
)
times = st.datetimes().map(lambda moment: moment.isoformat()) | text_leaf


def maybe(**fields):
    return st.fixed_dictionaries({}, optional=fields)


github_workflow = maybe(
    on=leaf | maybe(schedule=leaf, push=leaf),
    jobs=st.dictionaries(
        text_leaf,
        leaf
        | maybe(
            name=leaf,
            uses=leaf,
            environment=leaf | maybe(name=leaf),
            container=leaf | maybe(image=leaf),
            steps=st.lists(leaf | maybe(run=leaf, uses=leaf, name=leaf), max_size=4),
        ),
        max_size=4,
    ),
)
gitlab_rule = leaf | maybe(**{"if": leaf, "when": leaf})
gitlab_job_spec = maybe(
    script=leaf | st.lists(leaf | st.lists(text_leaf, max_size=3), max_size=4),
    before_script=leaf,
    rules=st.lists(gitlab_rule, max_size=3) | leaf,
    when=leaf,
    environment=leaf | maybe(name=leaf, action=leaf),
    extends=leaf,
    stage=leaf,
    image=leaf | maybe(name=leaf),
    only=leaf | maybe(refs=leaf),
)
gitlab_pipeline_config = st.dictionaries(
    text_leaf | st.sampled_from([".setup", "default", "workflow"]), gitlab_job_spec, max_size=5
).flatmap(
    lambda jobs: maybe(
        include=leaf
        | st.lists(leaf | maybe(local=leaf, template=leaf, component=leaf), max_size=3),
        workflow=maybe(rules=st.lists(gitlab_rule, max_size=3)),
    ).map(lambda top: {**jobs, **top})
)
outcomes = st.sampled_from(["success", "failure", "failed", "completed", "cancelled"]) | leaf
run_history = st.lists(
    st.fixed_dictionaries(
        {"workflowName": text_leaf, "createdAt": times},
        optional={"status": outcomes, "conclusion": outcomes, "updatedAt": times, "name": leaf},
    )
    | st.fixed_dictionaries(
        {"ref": text_leaf, "created_at": times, "status": outcomes},
        optional={"source": leaf, "tag": leaf, "updated_at": times},
    )
    | leaf,
    max_size=12,
)
scores = st.integers(min_value=-1, max_value=10) | st.floats(min_value=-1, max_value=10) | leaf
check_names = st.sampled_from(["Branch-Protection", "SAST", "CI-Tests", "Unknown"]) | leaf
scorecard_output = maybe(
    score=scores,
    checks=st.lists(leaf | st.fixed_dictionaries({"name": check_names, "score": scores})) | leaf,
)
entities = st.fixed_dictionaries({"spec": maybe(owner=text_leaf, lifecycle=leaf) | leaf})
catalog_documents = st.lists(st.one_of([entities] * 6 + [leaf]), max_size=3)
conda_environment = maybe(dependencies=st.lists(leaf | maybe(pip=leaf), max_size=5) | leaf)


def as_yaml(value: object) -> str:
    return yaml.safe_dump(value, default_flow_style=False)


SHAPED = {
    ".github/workflows/a.yml": github_workflow.map(as_yaml),
    ".gitlab-ci.yml": gitlab_pipeline_config.map(as_yaml),
    "ci/x.gitlab-ci.yml": gitlab_pipeline_config.map(as_yaml),
    "environment.yml": conda_environment.map(as_yaml),
    ".maturity/ci-runs.json": run_history.map(json.dumps),
    ".maturity/scorecard.json": scorecard_output.map(json.dumps),
    "catalog-info.yaml": catalog_documents.map(lambda docs: yaml.safe_dump_all(docs)),
}
snapshots = st.fixed_dictionaries(
    {},
    optional={
        path: st.booleans().flatmap(lambda shaped, path=path: SHAPED[path] if shaped else contents)
        if path in SHAPED
        else contents
        for path in KEPT_PATHS
    },
)


def check_types(result: CollectedFacts) -> None:
    declared = BUILTIN_FACTS
    for name, value in result.facts.items():
        kind = declared[name].type
        expected = {"bool": bool, "int": int, "float": float, "str": str, "list[str]": list}[kind]
        assert type(value) is expected, (name, value)
        if kind == "list[str]":
            assert all(type(item) is str for item in value), (name, value)
        if kind == "float":
            assert math.isfinite(value), (name, value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=snapshots)
def test_collect_all_never_raises_and_returns_only_declared_facts_on_junk(files):
    reader = SnapshotReader(["README.md", "ci/other.yml"], files)
    results = collect_all(reader)
    assert [r.name for r in results] == ["repo", "ci", "dependencies", "ci_runs", "scorecard"]
    for result in results:
        assert result.error is None, (result.name, result.error)
        assert all(isinstance(p, str) for p in result.problems)
        check_types(result)


def test_an_unreadable_manifest_leaves_empty_dependency_categories_unknown():
    """Regression (issue 16 QA): a requirements file too large to keep made every deps.*
    category "empty", which reads as "uses none of it"; they are unknown instead, while
    what the other manifests show stays."""
    reader = SnapshotReader(
        ["requirements.txt", "services/api/requirements.txt"],
        {"services/api/requirements.txt": "mlflow==2.17.2\n"},
    )
    result = result_of("dependencies", reader)
    assert result.facts["deps.experiment_tracking"] == ["mlflow"]
    assert "deps.data_validation" not in result.facts
    assert result.problems == ["requirements.txt: content not kept in the snapshot"]


def test_without_a_ci_whose_jobs_are_read_the_job_facts_are_unknown():
    """A repository with no CI, or only a Jenkinsfile, does not show that no job runs
    tests: the job facts are left out (a rule over them is unknown), ci.providers stays."""
    for paths, providers in (([], []), (["Jenkinsfile"], ["jenkins"])):
        result = result_of("ci", SnapshotReader(["README.md", *paths], {}))
        assert result.facts == {"ci.providers": providers}
