"""The facts the built-in collectors produce: names, types and meaning.

A fact is a typed value a collector derived from a snapshot (see ``collectors``). Check
rules in framework files name these facts (``{fact: ci.deploy_jobs, op: len_gte, value: 1}``),
and load_framework refuses a rule naming a fact no registered collector declares.

A fact that a snapshot cannot establish is *absent*, not false: ``dora.*`` needs a CI run
history in the snapshot and ``scorecard.*`` an OpenSSF Scorecard result. A rule leaf over an
absent fact is *unknown* (see ``rules``), so a missing export never contradicts an answer.
The repository, CI and dependency facts are always present once a snapshot exists: an
empty ``ci.test_jobs`` is evidence that no CI job runs tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FactType = Literal["bool", "int", "float", "str", "list[str]"]


@dataclass(frozen=True)
class FactSpec:
    name: str
    type: FactType
    description: str


def _specs(*rows: tuple[str, FactType, str]) -> dict[str, FactSpec]:
    return {name: FactSpec(name, kind, text) for name, kind, text in rows}


REPO_FACTS = _specs(
    ("repo.paths", "list[str]", "every file path in the snapshot"),
    ("repo.dockerfiles", "list[str]", "Dockerfiles and Containerfiles (any directory)"),
    ("repo.has_codeowners", "bool", "a CODEOWNERS file at the root, .github/ or docs/"),
    ("repo.terraform_files", "list[str]", "Terraform files (*.tf)"),
    ("repo.helm_charts", "list[str]", "Helm charts (Chart.yaml)"),
    ("repo.kubernetes_manifests", "list[str]", "kustomization.yaml and Kubernetes manifests"),
    ("repo.dvc", "bool", "DVC pipeline or tracked data (dvc.yaml, *.dvc, .dvc/config)"),
    ("repo.mlproject", "bool", "an MLflow MLproject file"),
    ("repo.catalog_info", "bool", "a Backstage catalog-info.yaml"),
    ("catalog.owner", "str", "spec.owner of the first Backstage entity"),
    ("catalog.lifecycle", "str", "spec.lifecycle of the first Backstage entity"),
    ("repo.test_files", "list[str]", "test files (test_*.py, *_test.py, tests/**, *.spec.ts)"),
    (
        "repo.model_cards",
        "list[str]",
        "model cards (MODEL_CARD.md, model_card*.md, *.model-card.md)",
    ),
    ("repo.pre_commit", "bool", "a .pre-commit-config.yaml"),
    ("repo.dependency_updates", "bool", "Dependabot or Renovate configuration"),
    (
        "repo.lockfiles",
        "list[str]",
        "lock files (poetry.lock, uv.lock, Pipfile.lock, conda-lock.yml, requirements*.lock, package-lock.json)",
    ),
)

CI_FACTS = _specs(
    ("ci.providers", "list[str]", "CI systems configured: github-actions, gitlab-ci"),
    ("ci.jobs", "list[str]", "every CI job, as <file>:<job>"),
    (
        "ci.test_jobs",
        "list[str]",
        "jobs that run tests (pytest, tox, nox, make test, npm test, go test, ...)",
    ),
    (
        "ci.lint_jobs",
        "list[str]",
        "jobs that lint or type-check (ruff, flake8, pylint, mypy, pre-commit, ...)",
    ),
    (
        "ci.container_builds",
        "list[str]",
        "jobs that build container images (docker build, buildx, kaniko, build-push-action)",
    ),
    ("ci.scheduled_workflows", "list[str]", "workflows or pipelines that run on a schedule (cron)"),
    ("ci.scheduled_training", "list[str]", "scheduled jobs that train or retrain a model"),
    ("ci.deploy_jobs", "list[str]", "jobs that deploy (an environment, or deploy/release steps)"),
    ("ci.deploy_environments", "list[str]", "environment names deploy jobs target"),
    (
        "ci.gated_deploys",
        "list[str]",
        "deploy jobs behind a manual gate (GitLab when: manual; GitHub environment with protection, i.e. production-like environment)",
    ),
    (
        "ci.security_scans",
        "list[str]",
        "security scanners run in CI (codeql, trivy, grype, snyk, bandit, pip-audit, safety, gitleaks, semgrep, dependency-review, gitlab-sast, ...)",
    ),
)

DEPENDENCY_FACTS = _specs(
    (
        "deps.manifests",
        "list[str]",
        "dependency manifests read (requirements*.txt, pyproject.toml, environment.yml, setup.cfg)",
    ),
    (
        "deps.packages",
        "list[str]",
        "every declared package, PEP 503-normalised (lower case, runs of -_. as -)",
    ),
    (
        "deps.pinned_ratio",
        "float",
        "share of requirement lines pinned with == (0..1; absent without requirement lines)",
    ),
    (
        "deps.experiment_tracking",
        "list[str]",
        "mlflow, wandb, neptune, comet-ml, clearml, aim, ...",
    ),
    (
        "deps.data_validation",
        "list[str]",
        "great-expectations, pandera, deepchecks, tensorflow-data-validation, soda-core, evidently, ...",
    ),
    (
        "deps.monitoring",
        "list[str]",
        "prometheus-client, evidently, whylogs, nannyml, alibi-detect, opentelemetry-*, ...",
    ),
    ("deps.data_versioning", "list[str]", "dvc, lakefs, ..."),
    ("deps.feature_store", "list[str]", "feast, hopsworks, tecton, ..."),
    (
        "deps.orchestration",
        "list[str]",
        "apache-airflow, kfp, prefect, dagster, metaflow, zenml, flytekit, ...",
    ),
    (
        "deps.model_serving",
        "list[str]",
        "bentoml, seldon-core, kserve, torchserve, tritonclient, mlserver, ray[serve], ...",
    ),
    ("deps.testing", "list[str]", "pytest, hypothesis, tox, nox, ..."),
    ("deps.explainability", "list[str]", "shap, lime, captum, alibi, interpret, ..."),
    ("deps.fairness", "list[str]", "fairlearn, aif360, ..."),
    (
        "deps.llm_evaluation",
        "list[str]",
        "ragas, deepeval, trulens-eval, langsmith, promptfoo, ...",
    ),
)

CI_RUN_FACTS = _specs(
    ("ci.runs", "int", "CI runs in the exported history"),
    ("ci.success_rate", "float", "share of completed runs that succeeded (0..1)"),
    ("dora.window_days", "float", "days between the first and the last run of the history"),
    (
        "dora.deployments",
        "int",
        "deployment runs (workflow or pipeline named like deploy/release/publish, or a deploy job's ref)",
    ),
    (
        "dora.deployment_frequency_per_week",
        "float",
        "deployment runs per 7 days over the window (DORA deployment frequency)",
    ),
    (
        "dora.change_failure_rate",
        "float",
        "failed deployment runs / completed deployment runs (DORA change failure rate, 0..1)",
    ),
    (
        "dora.time_to_restore_hours",
        "float",
        "median hours from a failed deployment to the next successful one (DORA time to restore)",
    ),
)

SCORECARD_CHECKS = (
    "binary_artifacts",
    "branch_protection",
    "ci_tests",
    "cii_best_practices",
    "code_review",
    "contributors",
    "dangerous_workflow",
    "dependency_update_tool",
    "fuzzing",
    "license",
    "maintained",
    "packaging",
    "pinned_dependencies",
    "sast",
    "security_policy",
    "signed_releases",
    "token_permissions",
    "vulnerabilities",
    "webhooks",
)
SCORECARD_FACTS = _specs(
    ("scorecard.score", "float", "OpenSSF Scorecard aggregate score (0-10)"),
    *(
        (
            f"scorecard.{name}",
            "float",
            f"OpenSSF Scorecard check {name.replace('_', '-').title()} (0-10; absent when inconclusive, -1)",
        )
        for name in SCORECARD_CHECKS
    ),
)

BUILTIN_FACTS: dict[str, FactSpec] = {
    **REPO_FACTS,
    **CI_FACTS,
    **DEPENDENCY_FACTS,
    **CI_RUN_FACTS,
    **SCORECARD_FACTS,
}
