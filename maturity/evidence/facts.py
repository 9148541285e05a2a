"""The facts the built-in collectors produce: names, types and meaning.

A fact is a typed value a collector derived from a snapshot (see ``collectors``). Check
rules in framework files name these facts (``{fact: ci.deploy_jobs, op: len_gte, value: 1}``),
and load_framework refuses a rule naming a fact no registered collector declares.

A fact that a snapshot cannot establish is *absent*, not false: ``dora.*`` needs a CI run
history in the snapshot and ``scorecard.*`` an OpenSSF Scorecard result. A rule leaf over an
absent fact is *unknown* (see ``rules``), so a missing export never contradicts an answer.
The repository, CI and dependency facts are present once a snapshot exists: an empty
``ci.test_jobs`` is evidence that no CI job runs tests. Except when a CI file or dependency
manifest could not be read (content not kept, not parseable): then an empty list would
claim an absence nobody saw, and those facts are left out (unknown) instead; likewise the
CI job facts of a snapshot with no GitHub Actions or GitLab CI configuration (no CI, or a
CI whose jobs are not read, such as Jenkins).

Each collector's module says how its facts are derived (``collectors.ci`` the job
classification, ``collectors.dependencies.PACKAGE_CATEGORIES`` the package lists behind the
``deps.*`` categories, ``collectors.ci_runs`` the DORA definitions).
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
    (
        "repo.dockerfiles",
        "list[str]",
        "Dockerfiles and Containerfiles in any directory (Dockerfile, Containerfile, Dockerfile.<variant>, *.dockerfile)",
    ),
    ("repo.has_codeowners", "bool", "a CODEOWNERS file at the root, .github/ or docs/"),
    ("repo.terraform_files", "list[str]", "Terraform files (*.tf)"),
    ("repo.helm_charts", "list[str]", "Helm charts (Chart.yaml)"),
    (
        "repo.kubernetes_manifests",
        "list[str]",
        "kustomization.yaml files, and YAML files under a k8s/, kubernetes/, kube/ or manifests/ directory (by name: their content is not kept)",
    ),
    ("repo.dvc", "bool", "DVC pipeline or tracked data (dvc.yaml, *.dvc, .dvc/config)"),
    ("repo.mlproject", "bool", "an MLflow MLproject file"),
    ("repo.catalog_info", "bool", "a Backstage catalog-info.yaml"),
    ("catalog.owner", "str", "spec.owner of the first Backstage entity"),
    ("catalog.lifecycle", "str", "spec.lifecycle of the first Backstage entity"),
    (
        "repo.test_files",
        "list[str]",
        "test files (test_*.py, *_test.py, *_test.go, *.test|spec.[jt]s[x], .py files below a tests/ or test/ directory)",
    ),
    (
        "repo.model_cards",
        "list[str]",
        "model cards (MODEL_CARD.md, model_card*.md, *.model-card.md)",
    ),
    ("repo.pre_commit", "bool", "a .pre-commit-config.yaml"),
    (
        "repo.dependency_updates",
        "bool",
        "Dependabot (.github/dependabot.yml) or Renovate configuration (renovate.json, .renovaterc, ...)",
    ),
    (
        "repo.lockfiles",
        "list[str]",
        "lock files (poetry.lock, uv.lock, pdm.lock, Pipfile.lock, conda-lock.yml, requirements*.lock, package-lock.json, yarn.lock, pnpm-lock.yaml)",
    ),
)

CI_FACTS = _specs(
    (
        "ci.providers",
        "list[str]",
        "CI systems configured: github-actions, gitlab-ci (jobs read); jenkins, circleci, azure-pipelines, bitbucket-pipelines, travis-ci, buildkite, drone (configuration file only)",
    ),
    (
        "ci.jobs",
        "list[str]",
        "every CI job, as <file>:<job> (GitHub: the workflow file name; GitLab: the path of the file defining the job)",
    ),
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
    (
        "ci.scheduled_workflows",
        "list[str]",
        "GitHub workflow files with on: schedule, and GitLab jobs (<file>:<job>) that run in scheduled pipelines",
    ),
    (
        "ci.scheduled_training",
        "list[str]",
        "scheduled jobs whose names, actions or commands mention train, retrain or fit",
    ),
    (
        "ci.deploy_jobs",
        "list[str]",
        "jobs that deploy (an environment, a deploy/release/publish name, or helm upgrade, kubectl apply, terraform apply, ... commands)",
    ),
    ("ci.deploy_environments", "list[str]", "environment names deploy jobs target"),
    (
        "ci.gated_deploys",
        "list[str]",
        "deploy jobs behind a manual gate: GitLab when: manual; GitHub a production-like environment (prod, production, prd, live), where approvals are configured (a heuristic: the workflow file cannot show them)",
    ),
    (
        "ci.security_scans",
        "list[str]",
        "security scanners run in CI (codeql, trivy, grype, snyk, bandit, pip-audit, safety, gitleaks, semgrep, trufflehog, osv-scanner, checkov, tfsec, dependency-review, scorecard, gitlab-sast, gitlab-secret-detection, ...)",
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
        "share of requirement lines of requirements*.txt files pinned with == or === (0..1; absent without such lines)",
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
    (
        "ci.runs",
        "int",
        "CI runs (GitHub) or pipelines (GitLab) in the exported history (absent without one)",
    ),
    (
        "ci.success_rate",
        "float",
        "share of completed runs that succeeded (0..1; cancelled, skipped and unfinished runs left out)",
    ),
    (
        "dora.window_days",
        "float",
        "days between the first and the last run start of the history (absent under 2 runs)",
    ),
    (
        "dora.deployments",
        "int",
        "deployment runs: GitHub workflows named like deploy/release/publish; GitLab pipelines on main/master or a tag, not scheduled, merge-request or child ones",
    ),
    (
        "dora.deployment_frequency_per_week",
        "float",
        "successful deployment runs per 7 days over the window (DORA deployment frequency; absent under 7 days of history)",
    ),
    (
        "dora.change_failure_rate",
        "float",
        "failed deployment runs / (failed + successful deployment runs) (DORA change failure rate, 0..1; absent under 5 of them)",
    ),
    (
        "dora.time_to_restore_hours",
        "float",
        "median hours from the first of a streak of failed deployments to the next successful one of the same workflow or ref (DORA time to restore)",
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
