"""Read ``.gitlab-ci.yml`` (and the local files it includes) into ``Job``s.

Follows GitLab's CI/CD YAML syntax reference (docs.gitlab.com/ci/yaml):

* Jobs are the top-level keys that are mappings, do not start with ``.`` (hidden jobs,
  templates) and are not global keywords (``GLOBAL_KEYWORDS``).
* ``include``: ``local`` files (a string without ``://`` is local too; ``*``/``**`` globs
  allowed) are read when the snapshot kept them, recursively, at most ``MAX_INCLUDES``
  files; the including file's keys win, mappings merge deeply (GitLab's include merge).
  ``template:`` and ``component:`` includes of GitLab's security scanners are reported as
  scanners (``gitlab-sast``, ``gitlab-secret-detection``, ...); other remote includes are
  not fetched (no network).
* ``extends`` (a name or a list) merges the templates deeply, arrays replaced, up to
  ``MAX_EXTENDS_DEPTH`` levels as GitLab allows; ``!reference [job, key, ...]`` (read as a
  list by the reader) is resolved in ``script``, ``before_script``, ``after_script`` and
  ``rules``; YAML anchors and ``<<`` merge keys are resolved by the YAML loader.
* A job is manual when ``when: manual`` is set on it or on one of its rules, and scheduled
  when a rule admits ``$CI_PIPELINE_SOURCE == "schedule"`` (not with ``when: never``), its
  ``only`` names ``schedules``, or ``workflow: rules`` admit schedules and the job has no
  ``rules``/``only``/``except`` of its own.
"""

from __future__ import annotations

import re
from typing import Any

from maturity.evidence.collectors.base import as_dict, as_list, problem, read_parsed, strings
from maturity.evidence.collectors.ci_model import Job, split_commands
from maturity.evidence.paths import glob_filter
from maturity.evidence.reader import SnapshotReader

GITLAB_CI = ".gitlab-ci.yml"
GLOBAL_KEYWORDS = frozenset(
    {
        "default",
        "include",
        "stages",
        "variables",
        "workflow",
        "image",
        "services",
        "cache",
        "before_script",
        "after_script",
        "types",
        "spec",
    }
)
MAX_INCLUDES = 150  # GitLab's default limit of included files per pipeline
MAX_EXTENDS_DEPTH = 11  # GitLab allows 11 levels of extends
MAX_REFERENCE_DEPTH = 10  # GitLab allows 10 levels of nested !reference
MAX_MERGE_DEPTH = 20  # guards deep merges of (possibly self-referencing) YAML
# Script lines read per key after resolving references and flattening: YAML aliases can make
# a short file stand for a long list, and no real job has this many.
MAX_LIST_ITEMS = 10_000
# GitLab's security scanner templates and CI/CD components
# (docs.gitlab.com/user/application_security).
SECURITY_TEMPLATES = frozenset(
    {
        "sast",
        "sast-iac",
        "secret-detection",
        "dependency-scanning",
        "container-scanning",
        "dast",
        "dast-api",
        "api-fuzzing",
        "coverage-fuzzing",
        "license-scanning",
    }
)
_COMPONENT = re.compile(r"/components/([a-z-]+)/")
_SCHEDULE_RULE = re.compile(r"""\$\{?CI_PIPELINE_SOURCE\}?\s*==\s*["']schedule["']""")


def deep_merge(base: dict[Any, Any], override: dict[Any, Any], depth: int = 0) -> dict[Any, Any]:
    """Merge ``override`` into a copy of ``base``: mappings merge, everything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict) and depth < MAX_MERGE_DEPTH:
            merged[key] = deep_merge(current, value, depth + 1)
        else:
            merged[key] = value
    return merged


def _include_entries(value: object) -> list[dict[Any, Any]]:
    """Normalise ``include:`` (a string, a mapping or a list of either) to mappings."""
    entries: list[dict[Any, Any]] = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str):
            entries.append({"remote": item} if "://" in item else {"local": item})
        elif isinstance(item, dict):
            entries.append(item)
    return entries


def security_template(entry: dict[Any, Any]) -> str | None:
    """``gitlab-<scanner>`` for an include of a GitLab security template or component."""
    template, component = entry.get("template"), entry.get("component")
    if isinstance(template, str):
        name = template.rpartition("/")[2].removesuffix(".gitlab-ci.yml").removesuffix(".latest")
        if name.lower() in SECURITY_TEMPLATES:
            return f"gitlab-{name.lower()}"
    if isinstance(component, str):
        match = _COMPONENT.search(component.lower())
        if match and match.group(1) in SECURITY_TEMPLATES:
            return f"gitlab-{match.group(1)}"
    return None


class GitLabConfig:
    """The merged configuration of ``.gitlab-ci.yml`` and its kept local includes."""

    def __init__(self, reader: SnapshotReader, problems: list[str]) -> None:
        self.reader = reader
        self.problems = problems
        self.config: dict[Any, Any] = {}
        self.origin: dict[Any, str] = {}  # top-level key -> the file that first defined it
        self.scanners: set[str] = set()
        self._seen: set[str] = set()
        self._kept = reader.kept()
        self._load(GITLAB_CI)

    def _load(self, path: str) -> None:
        if path in self._seen or len(self._seen) >= MAX_INCLUDES:
            return
        self._seen.add(path)
        document = read_parsed(self.reader, path, "yaml", self.problems)
        if document is None:
            return
        if not isinstance(document, dict):
            self.problems.append(problem(path, "not a mapping of jobs"))
            return
        for entry in _include_entries(document.get("include")):
            self._include(path, entry)
        for key, value in document.items():
            current = self.config.get(key)
            if isinstance(current, dict) and isinstance(value, dict):
                self.config[key] = deep_merge(current, value)
            else:
                self.config[key] = value
            self.origin.setdefault(key, path)

    def _include(self, including: str, entry: dict[Any, Any]) -> None:
        scanner = security_template(entry)
        if scanner is not None:
            self.scanners.add(scanner)
        local = entry.get("local")
        if not isinstance(local, str) or not local.strip():
            return
        pattern = local.strip().lstrip("/")
        if "*" in pattern:
            matches = glob_filter(pattern, self._kept)
        elif self.reader.exists(pattern):
            matches = [pattern]
        else:
            self.problems.append(problem(including, f"includes {local}, not in the snapshot"))
            return
        for match in matches:
            self._load(match)

    def resolve_references(self, value: object, depth: int = 0) -> list[Any]:
        """``value`` as a list with every ``!reference [key, ...]`` item replaced by its target.

        A nested list that does not name an existing key is kept as a plain nested list
        (GitLab allows nested script arrays). At most about ``MAX_LIST_ITEMS`` items are kept.
        """
        resolved: list[Any] = []
        for item in as_list(value):
            if len(resolved) >= MAX_LIST_ITEMS:
                break
            target = self._reference_target(item) if depth < MAX_REFERENCE_DEPTH else None
            if target is not None:
                resolved.extend(self.resolve_references(target, depth + 1))
            elif isinstance(item, list) and depth < MAX_REFERENCE_DEPTH:
                resolved.extend(self.resolve_references(item, depth + 1))
            else:
                resolved.append(item)
        return resolved

    def _reference_target(self, item: object) -> object | None:
        if not (isinstance(item, list) and len(item) >= 2):
            return None
        if not all(isinstance(part, str) for part in item) or item[0] not in self.config:
            return None
        node: object = self.config
        for part in item:
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def expanded(
        self, key: str, depth: int = 0, seen: frozenset[str] = frozenset()
    ) -> dict[Any, Any]:
        """Job ``key`` with its ``extends`` templates merged in (GitLab's deep merge)."""
        body = as_dict(self.config.get(key))
        merged: dict[Any, Any] = {}
        if depth < MAX_EXTENDS_DEPTH:
            for parent in strings(body.get("extends")):
                if parent not in seen and parent != key:
                    merged = deep_merge(merged, self.expanded(parent, depth + 1, seen | {key}))
        return deep_merge(merged, body)

    def job_keys(self) -> list[str]:
        return [
            key
            for key, value in self.config.items()
            if isinstance(key, str)
            and isinstance(value, dict)
            and not key.startswith(".")
            and key not in GLOBAL_KEYWORDS
        ]

    def workflow_admits_schedules(self) -> bool:
        rules = self.resolve_references(as_dict(self.config.get("workflow")).get("rules"))
        return any(_rule_admits_schedule(rule) for rule in rules)


def _rule_admits_schedule(rule: object) -> bool:
    if not isinstance(rule, dict) or rule.get("when") == "never":
        return False
    condition = rule.get("if")
    return isinstance(condition, str) and _SCHEDULE_RULE.search(condition) is not None


def _only_schedules(only: object) -> bool:
    refs = as_dict(only).get("refs") if isinstance(only, dict) else only
    return "schedules" in strings(refs)


def _environment(value: object) -> tuple[str | None, bool | None]:
    """The environment's name and whether the job deploys to it (``action`` start or unset);
    (None, None) without an environment."""
    action: object = None
    if isinstance(value, dict):
        action = value.get("action")
        value = value.get("name")
    if isinstance(value, str) and value.strip():
        return value.strip(), action in (None, "start")
    return None, None


def _image(value: object) -> str | None:
    if isinstance(value, dict):
        value = value.get("name")
    return value if isinstance(value, str) and value else None


def _commands(gitlab: GitLabConfig, spec: dict[Any, Any]) -> list[str]:
    commands: list[str] = []
    for key in ("before_script", "script", "after_script"):
        for line in gitlab.resolve_references(spec.get(key)):
            if isinstance(line, str):
                commands.extend(split_commands(line))
    return commands


def gitlab_job(gitlab: GitLabConfig, key: str, admits_schedules: bool) -> Job:
    """One job of the merged configuration, its templates and references resolved."""
    spec = gitlab.expanded(key)
    job_id = f"{gitlab.origin.get(key, GITLAB_CI)}:{key}"
    job = Job(id=job_id, provider="gitlab-ci", names=[key], commands=_commands(gitlab, spec))
    stage = spec.get("stage")
    if isinstance(stage, str):
        job.names.append(stage)
    job.names.extend(strings(as_dict(gitlab.config.get(key)).get("extends")))
    image = _image(spec.get("image"))
    if image is not None:
        job.images.append(image)
    job.environment, job.environment_deploys = _environment(spec.get("environment"))
    rules = gitlab.resolve_references(spec.get("rules"))
    job.manual = spec.get("when") == "manual" or any(
        isinstance(rule, dict) and rule.get("when") == "manual" for rule in rules
    )
    explicit = any(_rule_admits_schedule(rule) for rule in rules) or _only_schedules(
        spec.get("only")
    )
    unconditioned = not any(k in spec for k in ("rules", "only", "except"))
    if explicit or (admits_schedules and unconditioned):
        job.schedule_unit = job_id
    return job


def gitlab_jobs(reader: SnapshotReader, problems: list[str]) -> tuple[list[Job], set[str]]:
    """The jobs of the pipeline and the GitLab security scanners it includes."""
    gitlab = GitLabConfig(reader, problems)
    admits_schedules = gitlab.workflow_admits_schedules()
    jobs = [gitlab_job(gitlab, key, admits_schedules) for key in gitlab.job_keys()]
    return jobs, gitlab.scanners
