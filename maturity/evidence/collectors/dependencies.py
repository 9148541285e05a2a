"""The ``dependencies`` collector: declared packages, pinning, and MLOps tool categories.

Manifests read (kept files only; nothing is installed or resolved):

* ``requirements*.txt`` (pip's requirements file format, pip.pypa.io "Requirements File
  Format"): comments, ``\\`` continuations, extras ``pkg[x]``, environment markers,
  ``--hash`` options, ``name @ url``, ``-e``/``--editable`` (named by ``#egg=``),
  ``-r``/``--requirement`` includes (relative to the including file, read if kept);
  ``-c`` constraints and other options are ignored.
* ``pyproject.toml``: PEP 621 ``[project] dependencies`` and ``optional-dependencies``;
  Poetry ``[tool.poetry.dependencies]``, ``dev-dependencies`` and
  ``[tool.poetry.group.<name>.dependencies]`` (``python`` is not a package); PEP 735
  ``[dependency-groups]``; ``[tool.uv] dev-dependencies``; ``[tool.pdm.dev-dependencies]``.
* ``environment.yml|yaml`` (conda): ``dependencies`` strings (``channel::name=version``) and
  the nested ``pip:`` list.
* ``setup.cfg``: ``[options] install_requires`` and ``[options.extras_require]``
  (setuptools' "list-semi" values: one per line, or ``;``-separated on one line).

Names are normalised as PEP 503 says (lower case, runs of ``-_.`` become ``-``).
``deps.pinned_ratio`` counts requirement lines of ``requirements*.txt`` files (and the
files they include) that name a package; a line is pinned when it has an ``==`` (without a
``*`` wildcard) or ``===`` specifier. Editable lines are left out (they cannot be pinned).

``PACKAGE_CATEGORIES`` is the curated list behind the category facts: exact PEP 503 names,
``name-*`` for a family (``opentelemetry-*``, ``apache-airflow-*`` providers), and
``name[extra]`` when only an extra makes the package count (``ray[serve]``). A category
fact lists the entries found, so ``ray[serve]`` appears as written there.
"""

from __future__ import annotations

import configparser
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from maturity.evidence.collectors.base import (
    FileCollector,
    as_dict,
    basename,
    dirname,
    problem,
    read_parsed,
    read_text,
    strings,
)
from maturity.evidence.facts import DEPENDENCY_FACTS
from maturity.evidence.reader import SnapshotReader

PACKAGE_CATEGORIES: dict[str, tuple[str, ...]] = {
    "deps.experiment_tracking": (
        "mlflow",
        "mlflow-skinny",
        "wandb",
        "neptune",
        "neptune-client",
        "comet-ml",
        "clearml",
        "aim",
        "dvclive",
        "sacred",
        "guildai",
        "polyaxon",
        "tensorboard",
        "tensorboardx",
    ),
    "deps.data_validation": (
        "great-expectations",
        "pandera",
        "deepchecks",
        "tensorflow-data-validation",
        "soda-core",
        "soda-core-*",
        "pydeequ",
        "evidently",
    ),
    "deps.monitoring": (
        "prometheus-client",
        "evidently",
        "whylogs",
        "nannyml",
        "alibi-detect",
        "opentelemetry-*",
        "arize",
        "arize-phoenix",
        "fiddler-client",
        "django-prometheus",
        "prometheus-fastapi-instrumentator",
        "sentry-sdk",
    ),
    "deps.data_versioning": (
        "dvc",
        "dvc-*",
        "lakefs",
        "lakefs-client",
        "lakefs-sdk",
        "pachyderm-sdk",
    ),
    "deps.feature_store": (
        "feast",
        "hopsworks",
        "tecton",
        "featureform",
        "databricks-feature-store",
        "databricks-feature-engineering",
    ),
    "deps.orchestration": (
        "apache-airflow",
        "apache-airflow-*",
        "kfp",
        "prefect",
        "dagster",
        "dagster-*",
        "metaflow",
        "zenml",
        "flytekit",
        "kedro",
        "luigi",
        "hera",
    ),
    "deps.model_serving": (
        "bentoml",
        "seldon-core",
        "kserve",
        "torchserve",
        "tritonclient",
        "mlserver",
        "mlserver-*",
        "ray[serve]",
        "vllm",
        "litserve",
    ),
    "deps.testing": ("pytest", "pytest-*", "hypothesis", "tox", "nox", "coverage"),
    "deps.explainability": (
        "shap",
        "lime",
        "captum",
        "alibi",
        "interpret",
        "interpret-core",
        "dalex",
        "eli5",
    ),
    "deps.fairness": ("fairlearn", "aif360", "fairness-indicators", "aequitas", "responsibleai"),
    "deps.llm_evaluation": (
        "ragas",
        "deepeval",
        "trulens-eval",
        "trulens",
        "langsmith",
        "promptfoo",
        "lm-eval",
        "inspect-ai",
        "giskard",
        "uptrain",
    ),
}

_NAME = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[([^\]]*)\])?(.*)", re.S)
_SPECIFIER_STARTS = "<>=!~(;@"
_SEPARATORS = re.compile(r"[-_.]+")
_COMMENT = re.compile(r"(^|\s)#.*")
_INLINE_OPTION = re.compile(r"\s--?[A-Za-z]")
_EGG = re.compile(r"#egg=([A-Za-z0-9][A-Za-z0-9._-]*)")
_CONDA_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_REQUIREMENT_OPTION = re.compile(r"^(-r|--requirement)(=|\s+)(\S+)")
MAX_REQUIREMENT_LINES = 20_000  # per file; a real requirements file has a few hundred


def normalise(name: str) -> str:
    """PEP 503 normal form of a project name."""
    return _SEPARATORS.sub("-", name).lower()


@dataclass(frozen=True)
class Requirement:
    """A declared package: PEP 503 name, extras, and whether it is pinned with ``==``."""

    name: str
    extras: frozenset[str] = frozenset()
    pinned: bool = False


def parse_requirement(text: str) -> Requirement | None:
    """A PEP 508 requirement string (``name[extras] specifiers ; markers``), or None."""
    match = _NAME.fullmatch(text)
    if match is None:
        return None
    name, extras_text, rest = match.groups()
    if rest.strip() and rest.strip()[0] not in _SPECIFIER_STARTS:
        return None  # "foo bar" is not a requirement
    extras = frozenset(normalise(e.strip()) for e in (extras_text or "").split(",") if e.strip())
    specifiers = rest.split(";", 1)[0].strip().strip("()")
    pinned = any(
        spec.strip().startswith("===") or (spec.strip().startswith("==") and "*" not in spec)
        for spec in specifiers.split(",")
    )
    return Requirement(normalise(name), extras, pinned)


@dataclass
class Found:
    """Everything the manifests declared so far."""

    manifests: list[str] = field(default_factory=list)
    requirements: list[Requirement] = field(default_factory=list)
    requirement_lines: int = 0
    pinned_lines: int = 0


class RequirementsFiles:
    """pip requirements files, each read once even when several files include it."""

    def __init__(self, reader: SnapshotReader, found: Found, problems: list[str]) -> None:
        self.reader, self.found, self.problems = reader, found, problems
        self.read: set[str] = set()

    def parse(self, path: str) -> None:
        if path in self.read:
            return
        self.read.add(path)
        text = read_text(self.reader, path, self.problems)
        if text is None:
            return
        self.found.manifests.append(path)
        lines = text.replace("\\\r\n", " ").replace("\\\n", " ").splitlines()
        for raw in lines[:MAX_REQUIREMENT_LINES]:
            self._line(path, _COMMENT.sub("", raw).strip())

    def _line(self, path: str, line: str) -> None:
        if not line:
            return
        include = _REQUIREMENT_OPTION.match(line)
        if include is not None:
            self._include(path, include.group(3))
        elif line.startswith(("-e", "--editable")):
            egg = _EGG.search(line)
            if egg is not None:
                self.found.requirements.append(Requirement(normalise(egg.group(1))))
        elif not line.startswith("-") and "://" not in line.split("@", 1)[0]:
            requirement = parse_requirement(_INLINE_OPTION.split(line, 1)[0])
            if requirement is not None:
                self.found.requirements.append(requirement)
                self.found.requirement_lines += 1
                self.found.pinned_lines += requirement.pinned

    def _include(self, including: str, target: str) -> None:
        path = posixpath.normpath(posixpath.join(dirname(including), target))
        if path.startswith("../") or path == ".." or "://" in target:
            self.problems.append(problem(including, f"includes {target}, outside the snapshot"))
        elif not self.reader.exists(path):
            self.problems.append(problem(including, f"includes {target}, not in the snapshot"))
        else:
            self.parse(path)


def _poetry_requirements(table: dict[Any, Any]) -> list[Requirement]:
    """Poetry's ``name = "^1.2"`` / ``name = {version, extras}`` tables (``python`` skipped)."""
    found: list[Requirement] = []
    for name, spec in table.items():
        if not isinstance(name, str) or normalise(name) == "python" or not _NAME.fullmatch(name):
            continue
        extras = frozenset(normalise(e) for e in strings(as_dict(spec).get("extras")))
        pinned = isinstance(spec, str) and re.fullmatch(r"=?=?\s*[0-9][\w.+!-]*", spec.strip())
        found.append(Requirement(normalise(name), extras, bool(pinned)))
    return found


def pyproject_requirements(document: dict[str, Any]) -> list[Requirement] | None:
    """Every dependency a pyproject.toml declares, or None when it declares none at all."""
    project, tool = as_dict(document.get("project")), as_dict(document.get("tool"))
    poetry, uv, pdm = as_dict(tool.get("poetry")), as_dict(tool.get("uv")), as_dict(tool.get("pdm"))
    pep508: list[object] = [project.get("dependencies"), uv.get("dev-dependencies")]
    for lists in (
        project.get("optional-dependencies"),
        document.get("dependency-groups"),
        pdm.get("dev-dependencies"),
    ):
        pep508.extend(as_dict(lists).values())
    poetry_tables = [poetry.get("dependencies"), poetry.get("dev-dependencies")]
    poetry_tables.extend(
        as_dict(group).get("dependencies") for group in as_dict(poetry.get("group")).values()
    )
    declared = any(isinstance(v, list) for v in pep508) or any(
        isinstance(t, dict) for t in poetry_tables
    )
    if not declared:
        return None
    requirements = [
        r for text in pep508 for line in strings(text) if (r := parse_requirement(line))
    ]
    for table in poetry_tables:
        requirements.extend(_poetry_requirements(as_dict(table)))
    return requirements


def conda_requirements(document: object) -> list[Requirement] | None:
    """Conda ``dependencies`` (``channel::name=version``) and the nested ``pip:`` list."""
    dependencies = as_dict(document).get("dependencies")
    if not isinstance(dependencies, list):
        return None
    found: list[Requirement] = []
    for item in dependencies:
        if isinstance(item, str):
            match = _CONDA_NAME.match(item.rpartition("::")[2].strip())
            if match is not None and normalise(match.group()) != "python":
                found.append(Requirement(normalise(match.group())))
        elif isinstance(item, dict):
            pip = [line for line in strings(item.get("pip")) if not line.lstrip().startswith("-")]
            found.extend(r for line in pip if (r := parse_requirement(line)) is not None)
    return found


def _list_semi(value: str) -> list[str]:
    """setuptools' list-semi value: one item per line, or ``;``-separated on one line."""
    stripped = value.strip()
    items = stripped.splitlines() if "\n" in stripped else stripped.split(";")
    return [item.strip() for item in items if item.strip() and not item.strip().startswith("#")]


def setup_cfg_requirements(text: str, path: str, problems: list[str]) -> list[Requirement] | None:
    """``install_requires`` and ``extras_require`` of a setup.cfg, None when it has neither."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text, source=path)
    except configparser.Error as error:
        problems.append(problem(path, f"not a valid setup.cfg ({str(error).splitlines()[0]})"))
        return None
    values: list[str] = []
    if parser.has_option("options", "install_requires"):
        values.append(parser.get("options", "install_requires"))
    if parser.has_section("options.extras_require"):
        values.extend(value for _, value in parser.items("options.extras_require"))
    if not values:
        return None
    return [r for value in values for item in _list_semi(value) if (r := parse_requirement(item))]


def categorise(requirements: list[Requirement]) -> dict[str, list[str]]:
    """The ``PACKAGE_CATEGORIES`` entries the requirements match, per category fact."""
    names = {r.name for r in requirements}
    extras = {(r.name, extra) for r in requirements for extra in r.extras}
    facts: dict[str, list[str]] = {}
    for fact, entries in PACKAGE_CATEGORIES.items():
        matched: list[str] = []
        for entry in entries:
            if entry.endswith("-*"):
                matched.extend(sorted(n for n in names if n.startswith(entry[:-1])))
            elif "[" in entry:
                name, _, extra = entry.rstrip("]").partition("[")
                if (name, extra) in extras:
                    matched.append(entry)
            elif entry in names:
                matched.append(entry)
        facts[fact] = sorted(set(matched))
    return facts


def manifest_kind(path: str) -> str | None:
    """Which reader a manifest path needs: requirements, pyproject, conda, setup.cfg."""
    name = basename(path)
    if name.startswith("requirements") and name.endswith(".txt"):
        return "requirements"
    if name == "pyproject.toml":
        return "pyproject"
    if name in ("environment.yml", "environment.yaml"):
        return "conda"
    if name == "setup.cfg":
        return "setup.cfg"
    return None


class DependenciesCollector(FileCollector):
    """Declared packages from Python and conda manifests (``DEPENDENCY_FACTS``)."""

    name = "dependencies"
    version = "1"
    facts = DEPENDENCY_FACTS

    def gather(self, reader: SnapshotReader, problems: list[str]) -> dict[str, object]:
        found = Found()
        requirements_files = RequirementsFiles(reader, found, problems)
        suffixes = (".txt", ".toml", ".yml", ".yaml", ".cfg")
        for path in reader.paths():
            kind = manifest_kind(path) if path.endswith(suffixes) else None
            if kind == "requirements":
                requirements_files.parse(path)
            elif kind is not None:
                self._structured(reader, path, kind, found, problems)
        facts: dict[str, object] = {
            "deps.manifests": sorted(found.manifests),
            "deps.packages": sorted({r.name for r in found.requirements}),
            **categorise(found.requirements),
        }
        if found.requirement_lines:
            facts["deps.pinned_ratio"] = found.pinned_lines / found.requirement_lines
        if problems:
            # A manifest not read (too large to keep, not parseable): an empty category is
            # then not evidence that the team uses none of it, so it is left out (unknown).
            facts = {name: value for name, value in facts.items() if value != []}
        return facts

    @staticmethod
    def _structured(
        reader: SnapshotReader, path: str, kind: str, found: Found, problems: list[str]
    ) -> None:
        declared: list[Requirement] | None = None
        if kind == "setup.cfg":
            text = read_text(reader, path, problems)
            declared = None if text is None else setup_cfg_requirements(text, path, problems)
        else:
            document = read_parsed(
                reader, path, "toml" if kind == "pyproject" else "yaml", problems
            )
            if kind == "pyproject" and isinstance(document, dict):
                declared = pyproject_requirements(document)
            elif kind == "conda":
                declared = conda_requirements(document)
        if declared is not None:
            found.manifests.append(path)
            found.requirements.extend(declared)
