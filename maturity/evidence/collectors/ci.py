"""The ``ci`` collector: which CI jobs test, lint, build images, deploy, train, scan.

Jobs come from GitHub Actions workflows (``.github/workflows/*.yml|yaml``, see
``github_actions``) and GitLab CI (``.gitlab-ci.yml`` and its kept local includes, see
``gitlab_ci``). Other CI systems are recognised by their configuration file only
(``ci.providers``); their jobs are not read.

Classification is by what a job runs, case-insensitively, one shell command at a time
(installing a tool, ``pip install pytest``, is not running it):

* test: pytest, tox, nox, ``python -m unittest``, ``make test``, ``npm|yarn|pnpm test``,
  ``go test``, ``mvn test|verify``, ``gradle test``, ``cargo test``, jest, vitest,
  ``dbt test``, ``hatch test``;
* lint: ruff, flake8, pylint, mypy, pyright, black, isort, pre-commit, eslint, prettier,
  golangci-lint, hadolint, shellcheck, yamllint, sqlfluff, ``make lint``, and the matching
  actions (pre-commit/action, ruff-action, super-linter, ...);
* container build: ``docker|podman build``, ``docker buildx build|bake``, compose build,
  buildah, kaniko, buildctl, ``gcloud builds submit``, ``az acr build``,
  docker/build-push-action, buildah-build;
* deploy: a deployment environment (not a GitLab ``action: stop`` teardown, which never
  counts), or a job name, stage, step name or action saying
  deploy/release/publish, or a command that deploys (a ``deploy`` word, ``helm upgrade|
  install``, ``kubectl apply|rollout|set image``, ``terraform|tofu apply``, ``argocd app
  sync``, ``sagemaker ... deploy``); a command that runs tests never counts as deploying
  (``pytest tests/deploy`` is a test);
* gated deploy: GitLab, a deploy job with ``when: manual`` (on the job or a rule). GitHub
  workflow files cannot say whether a deployment waits for approval: required reviewers
  are configured on the *environment* in the repository settings. The heuristic counts a
  deploy job whose environment name has a production-like word (``prod``, ``production``,
  ``prd``, ``live``) as gated, because that is where teams configure protection rules;
  a ``preprod`` or ``staging`` environment does not count. It can be wrong both ways.
* scheduled: GitHub workflows with ``on: schedule``; GitLab jobs that run on pipeline
  schedules (see ``gitlab_ci``). Scheduled training: a scheduled job whose names, actions
  or commands mention train/retrain/pretrain/fit as a word.
* security scans (scanner names, not jobs): CodeQL, Trivy, Grype, Snyk, Bandit, pip-audit,
  Safety, Gitleaks, Semgrep, TruffleHog, OSV-Scanner, Checkov, tfsec (commands, images or
  their actions), GitHub's dependency-review-action, OpenSSF's scorecard-action, and
  GitLab's security templates/components (``gitlab-sast``, ``gitlab-secret-detection``, ...).
"""

from __future__ import annotations

import re

from maturity.evidence.collectors.base import FileCollector, problem, read_parsed
from maturity.evidence.collectors.ci_model import Job
from maturity.evidence.collectors.github_actions import github_jobs
from maturity.evidence.collectors.gitlab_ci import GITLAB_CI, gitlab_jobs
from maturity.evidence.facts import CI_FACTS
from maturity.evidence.reader import SnapshotReader

GITHUB_WORKFLOWS = ".github/workflows/"  # *.yml and *.yaml directly in it
# CI systems recognised by their configuration file only (jobs not read).
OTHER_PROVIDERS = {
    "Jenkinsfile": "jenkins",
    ".circleci/config.yml": "circleci",
    "azure-pipelines.yml": "azure-pipelines",
    "bitbucket-pipelines.yml": "bitbucket-pipelines",
    ".travis.yml": "travis-ci",
    ".buildkite/pipeline.yml": "buildkite",
    ".drone.yml": "drone",
}
PRODUCTION_WORDS = frozenset({"prod", "production", "prd", "live"})

_INSTALL = re.compile(
    r"^(sudo\s+)?(\S*/)?(python[\d.]*\s+-m\s+pip|pip[\d.]*|uv\s+pip|uv\s+tool|uv|pipx|poetry|"
    r"conda|mamba|micromamba|apt(-get)?|apk|yum|dnf|brew|npm|yarn|pnpm|gem|go|cargo)"
    r"\s+(install|add|i|ci)\b"
)
_TEST = re.compile(
    r"\bpy\.?test\b|\btox\b|\bnox\b|python[\d.]*\s+-m\s+unittest\b|\bmake\b.*\btests?\b|"
    r"\b(npm|yarn|pnpm|bun)\s+(run\s+)?test|\bgo\s+test\b|\bmvnw?\b.*\b(test|verify)\b|"
    r"\bgradlew?\b.*\btest\b|\bcargo\s+(test|nextest)\b|\b(jest|vitest)\b|\bdbt\s+test\b|"
    r"\bhatch\s+test\b"
)
_LINT = re.compile(
    r"\b(ruff|flake8|pylint|mypy|pyright|black|isort|pre-commit|eslint|prettier|"
    r"golangci-lint|hadolint|shellcheck|yamllint|sqlfluff|pydocstyle|pycodestyle|tflint)\b|"
    r"\bmake\s+(lint|typecheck|type-check|format-check|check-format)\b"
)
_LINT_ACTION = re.compile(
    r"pre-commit/action|ruff-action|psf/black|super-linter|golangci-lint-action|"
    r"hadolint-action|action-shellcheck|reviewdog/"
)
_CONTAINER = re.compile(
    r"\b(docker|podman|nerdctl)\s+(image\s+|buildx\s+)?(build|bake)\b|"
    r"\bdocker[\s-]compose\s+build\b|\bbuildah\s+(bud|build)\b|kaniko|\bbuildctl\b|"
    r"\bgcloud\s+builds\s+submit\b|\baz\s+acr\s+build\b|docker/build-push-action|"
    r"docker/bake-action|buildah-build"
)
_DEPLOY_NAME = re.compile(r"(?<![a-z])(deploy|release|publish)")
_DEPLOY_COMMAND = re.compile(
    r"(?<![a-z_])deploy|\bhelm\s+(upgrade|install)\b|\bhelmfile\s+(apply|sync)\b|"
    r"\bkubectl\s+(apply|rollout|set\s+image|replace)\b|\b(terraform|tofu)\s+apply\b|"
    r"\bargocd\s+app\s+sync\b"
)
_TRAIN = re.compile(r"(?<![a-z])(re|pre)?train|(?<![a-z])fit(?![a-z])")
_SCANNER_COMMAND = re.compile(
    r"\b(trivy|grype|snyk|bandit|pip-audit|gitleaks|semgrep|trufflehog|osv-scanner|checkov|"
    r"tfsec|codeql)\b|\b(safety)\s+(check|scan)\b"
)
SCANNER_ACTIONS = (
    ("github/codeql-action", "codeql"),
    ("aquasecurity/trivy-action", "trivy"),
    ("anchore/scan-action", "grype"),
    ("snyk/actions", "snyk"),
    ("gitleaks-action", "gitleaks"),
    ("semgrep-action", "semgrep"),
    ("actions/dependency-review-action", "dependency-review"),
    ("ossf/scorecard-action", "scorecard"),
    ("pypa/gh-action-pip-audit", "pip-audit"),
    ("bandit", "bandit"),
    ("pyupio/safety", "safety"),
    ("trufflesecurity/trufflehog", "trufflehog"),
    ("google/osv-scanner", "osv-scanner"),
    ("checkov-action", "checkov"),
    ("tfsec-action", "tfsec"),
)


class JobTraits:
    """What one job does, decided once from its names, commands, actions and images."""

    def __init__(self, job: Job) -> None:
        commands = [c.lower() for c in job.commands if not _INSTALL.match(c.lower())]
        tools = job.uses + [image.lower() for image in job.images]
        names = [name.lower() for name in job.names]
        self.tests = any(_TEST.search(c) for c in commands)
        self.lints = any(_LINT.search(c) for c in commands) or any(
            _LINT_ACTION.search(t) or _LINT.search(t) for t in tools
        )
        self.builds_container = any(_CONTAINER.search(text) for text in commands + tools)
        deploy_commands = [c for c in commands if not _TEST.search(c)]
        self.deploys = job.environment_deploys is not False and (
            job.environment_deploys is True
            or any(_DEPLOY_NAME.search(text) for text in names + job.uses)
            or any(_DEPLOY_COMMAND.search(text) for text in deploy_commands + job.uses)
        )
        self.trains = any(_TRAIN.search(text) for text in names + commands + job.uses)
        self.scanners = scanners(commands, tools)


def scanners(commands: list[str], tools: list[str]) -> set[str]:
    """Security scanner names that ``commands`` run or ``tools`` (actions, images) are."""
    found: set[str] = set()
    for text in commands + tools:
        for match in _SCANNER_COMMAND.finditer(text):
            found.add(match.group(1) or match.group(2))
    for tool in tools:
        found.update(name for fragment, name in SCANNER_ACTIONS if fragment in tool)
    return found


def production_like(environment: str) -> bool:
    """Whether an environment name has a production word (``prod-eu`` yes, ``preprod`` no)."""
    return not PRODUCTION_WORDS.isdisjoint(re.split(r"[^a-z0-9]+", environment.lower()))


def is_gated(job: Job) -> bool:
    """A deploy job's gate (see the module docstring for why GitHub is a heuristic)."""
    if job.provider == "gitlab-ci":
        return job.manual
    return job.environment is not None and production_like(job.environment)


def ci_facts(jobs: list[Job], providers: list[str], extra_scanners: set[str]) -> dict[str, object]:
    """Every ``CI_FACTS`` fact from the jobs read (lists keep the jobs' order)."""
    facts: dict[str, list[str]] = {name: [] for name in CI_FACTS}
    facts["ci.providers"] = providers
    environments: set[str] = set()
    scanner_names = set(extra_scanners)
    for job in jobs:
        traits = JobTraits(job)
        facts["ci.jobs"].append(job.id)
        scanner_names |= traits.scanners
        for fact, holds in (
            ("ci.test_jobs", traits.tests),
            ("ci.lint_jobs", traits.lints),
            ("ci.container_builds", traits.builds_container),
            ("ci.deploy_jobs", traits.deploys),
            ("ci.gated_deploys", traits.deploys and is_gated(job)),
            ("ci.scheduled_training", job.schedule_unit is not None and traits.trains),
        ):
            if holds:
                facts[fact].append(job.id)
        if traits.deploys and job.environment is not None and job.environment_deploys:
            environments.add(job.environment)
        if (
            job.schedule_unit is not None
            and job.schedule_unit not in facts["ci.scheduled_workflows"]
        ):
            facts["ci.scheduled_workflows"].append(job.schedule_unit)
    facts["ci.deploy_environments"] = sorted(environments)
    facts["ci.security_scans"] = sorted(scanner_names)
    return dict(facts)


def without_unseen_absence(facts: dict[str, object], problems: list[str]) -> dict[str, object]:
    """Drop the empty lists when a file could not be read (not kept, not parseable).

    An empty ``ci.test_jobs`` says "no CI job runs tests" only if every CI file was read;
    with one unread, the absence is not evidence: the fact is left out (unknown), so it
    cannot contradict an answer. Non-empty lists stay: what was read is still shown.
    """
    if not problems:
        return facts
    return {name: value for name, value in facts.items() if value != [] or name == "ci.providers"}


class CiCollector(FileCollector):
    """CI jobs and what they do, from GitHub Actions and GitLab CI files (``CI_FACTS``)."""

    name = "ci"
    version = "1"
    facts = CI_FACTS

    def gather(self, reader: SnapshotReader, problems: list[str]) -> dict[str, object]:
        workflows = [
            path
            for path in reader.paths()
            if path.startswith(GITHUB_WORKFLOWS)
            and path.endswith((".yml", ".yaml"))
            and "/" not in path[len(GITHUB_WORKFLOWS) :]
        ]
        providers: list[str] = []
        jobs: list[Job] = []
        extra_scanners: set[str] = set()
        if workflows:
            providers.append("github-actions")
        for path in workflows:
            workflow = read_parsed(reader, path, "yaml", problems)
            if isinstance(workflow, dict):
                jobs.extend(github_jobs(path, workflow))
            elif workflow is not None:
                problems.append(problem(path, "not a workflow (a YAML mapping)"))
        if reader.exists(GITLAB_CI):
            providers.append("gitlab-ci")
            gitlab, extra_scanners = gitlab_jobs(reader, problems)
            jobs.extend(gitlab)
        read = bool(providers)  # GitHub Actions or GitLab CI: the systems whose jobs are read
        providers.extend(name for path, name in OTHER_PROVIDERS.items() if reader.exists(path))
        facts = ci_facts(jobs, providers, extra_scanners)
        if not read:
            # No CI whose jobs are read (none, or Jenkins, CircleCI, ...): that no job runs
            # tests is not known, so the job facts are left out (unknown), never "empty".
            return {"ci.providers": providers}
        return without_unseen_absence(facts, problems)
