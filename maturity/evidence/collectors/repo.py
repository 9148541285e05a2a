"""The ``repo`` collector: what the file list says, plus the owner from catalog-info.yaml.

Everything but ``catalog.*`` comes from paths alone, in one pass over them (a snapshot may
list 100,000 paths). Path conventions and their sources:

* Dockerfiles: ``Dockerfile``, ``Containerfile`` (Podman/Buildah), ``Dockerfile.<variant>``
  and ``<name>.dockerfile``, in any directory.
* Kubernetes: Kustomize's ``kustomization.yaml|yml``/``Kustomization`` anywhere, and YAML
  files under a directory named ``k8s``, ``kubernetes``, ``kube`` or ``manifests`` (their
  content is not kept, so this is a naming convention, not a parse).
* DVC: ``dvc.yaml``, ``dvc.lock``, ``*.dvc`` pointer files, ``.dvc/config`` (dvc.org docs).
* Tests: ``test_*.py``, ``*_test.py`` (pytest's default discovery), ``*_test.go`` (go test),
  ``*.test|spec.[jt]s[x]`` (Jest/Vitest), and any ``.py`` file below a ``tests``/``test``
  directory.
* Backstage: ``catalog-info.yaml`` (Backstage's descriptor format); owner and lifecycle come
  from ``spec`` of the first entity of the root file (else the shortest path).
"""

from __future__ import annotations

from maturity.evidence.collectors.base import FileCollector, as_dict, basename, problem
from maturity.evidence.facts import REPO_FACTS
from maturity.evidence.reader import NotKept, SnapshotReader, UnreadableFile

CODEOWNERS_PATHS = ("CODEOWNERS", ".github/CODEOWNERS", "docs/CODEOWNERS")
PRE_COMMIT_PATHS = (".pre-commit-config.yaml", ".pre-commit-config.yml")
# Dependabot (docs.github.com, "dependabot.yml") and Renovate's configuration file names
# (docs.renovatebot.com/configuration-options).
DEPENDENCY_UPDATE_PATHS = (
    ".github/dependabot.yml",
    ".github/dependabot.yaml",
    "renovate.json",
    "renovate.json5",
    ".renovaterc",
    ".renovaterc.json",
    ".renovaterc.json5",
    ".github/renovate.json",
    ".github/renovate.json5",
    ".gitlab/renovate.json",
    ".gitlab/renovate.json5",
)
LOCKFILE_NAMES = frozenset(
    {
        "poetry.lock",
        "uv.lock",
        "pdm.lock",
        "Pipfile.lock",
        "conda-lock.yml",
        "conda-lock.yaml",
        "package-lock.json",
        "yarn.lock",
        "pnpm-lock.yaml",
    }
)
KUBERNETES_DIRS = ("/k8s/", "/kubernetes/", "/kube/", "/manifests/")
JS_TEST_SUFFIXES = tuple(
    f".{kind}.{ext}" for kind in ("test", "spec") for ext in ("js", "jsx", "ts", "tsx")
)
MODEL_CARD_PREFIXES = ("model_card", "model-card", "modelcard")

# The category each path falls in (first match wins); keys are fact names.
_DOCKERFILES = "repo.dockerfiles"
_TERRAFORM = "repo.terraform_files"
_HELM = "repo.helm_charts"
_KUBERNETES = "repo.kubernetes_manifests"
_TESTS = "repo.test_files"
_MODEL_CARDS = "repo.model_cards"
_LOCKFILES = "repo.lockfiles"
_DVC = "dvc"
_MLPROJECT = "mlproject"
_CATALOG = "catalog"
_LIST_FACTS = (_DOCKERFILES, _TERRAFORM, _HELM, _KUBERNETES, _TESTS, _MODEL_CARDS, _LOCKFILES)

_EXACT_NAMES = {
    "Dockerfile": _DOCKERFILES,
    "Containerfile": _DOCKERFILES,
    "Chart.yaml": _HELM,
    "kustomization.yaml": _KUBERNETES,
    "kustomization.yml": _KUBERNETES,
    "Kustomization": _KUBERNETES,
    "dvc.yaml": _DVC,
    "dvc.lock": _DVC,
    "MLproject": _MLPROJECT,
    "catalog-info.yaml": _CATALOG,
    "catalog-info.yml": _CATALOG,
    **dict.fromkeys(LOCKFILE_NAMES, _LOCKFILES),
}


def _category_by_name(name: str) -> str | None:
    """The category a file name alone decides, or None."""
    exact = _EXACT_NAMES.get(name)
    if exact is not None:
        return exact
    lower = name.lower()
    if name.startswith(("Dockerfile.", "Containerfile.")) or lower.endswith(
        (".dockerfile", ".containerfile")
    ):
        return _DOCKERFILES
    if lower.endswith(".tf"):
        return _TERRAFORM
    if lower.endswith(".dvc"):
        return _DVC
    if lower.endswith(".md") and (
        lower.startswith(MODEL_CARD_PREFIXES)
        or lower.endswith((".model-card.md", ".model_card.md"))
    ):
        return _MODEL_CARDS
    if (name.startswith("requirements") and name.endswith(".lock")) or lower.endswith(
        ".conda-lock.yml"
    ):
        return _LOCKFILES
    if (name.startswith("test_") and name.endswith(".py")) or name.endswith(
        ("_test.py", "_test.go", *JS_TEST_SUFFIXES)
    ):
        return _TESTS
    return None


def _category_by_directory(path: str, name: str) -> str | None:
    """The category a file's directory decides (tests/, k8s/, .dvc/), or None."""
    slashed = "/" + path
    if name.endswith(".py") and ("/tests/" in slashed or "/test/" in slashed):
        return _TESTS
    if name.endswith((".yaml", ".yml")) and any(part in slashed for part in KUBERNETES_DIRS):
        return _KUBERNETES
    if name == "config" and slashed.endswith("/.dvc/config"):
        return _DVC
    return None


def classify_paths(paths: list[str]) -> dict[str, list[str]]:
    """Group ``paths`` by category (fact name, or dvc/mlproject/catalog), in one pass."""
    found: dict[str, list[str]] = {key: [] for key in (*_LIST_FACTS, _DVC, _MLPROJECT, _CATALOG)}
    for path in paths:
        name = basename(path)
        category = _category_by_name(name) or _category_by_directory(path, name)
        if category is not None:
            found[category].append(path)
    return found


class RepoCollector(FileCollector):
    """Facts from the file list and Backstage's catalog-info.yaml (``REPO_FACTS``)."""

    name = "repo"
    version = "1"
    facts = REPO_FACTS

    def gather(self, reader: SnapshotReader, problems: list[str]) -> dict[str, object]:
        paths = reader.paths()
        found = classify_paths(paths)
        facts: dict[str, object] = {"repo.paths": paths}
        for fact in _LIST_FACTS:
            facts[fact] = found[fact]
        facts["repo.has_codeowners"] = any(reader.exists(p) for p in CODEOWNERS_PATHS)
        facts["repo.dvc"] = bool(found[_DVC])
        facts["repo.mlproject"] = bool(found[_MLPROJECT])
        facts["repo.catalog_info"] = bool(found[_CATALOG])
        facts["repo.pre_commit"] = any(reader.exists(p) for p in PRE_COMMIT_PATHS)
        facts["repo.dependency_updates"] = any(reader.exists(p) for p in DEPENDENCY_UPDATE_PATHS)
        if found[_CATALOG]:
            catalog = min(found[_CATALOG], key=lambda p: (p.count("/"), p))
            facts.update(catalog_facts(reader, catalog, problems))
        return facts


def catalog_facts(reader: SnapshotReader, path: str, problems: list[str]) -> dict[str, object]:
    """``catalog.owner`` and ``catalog.lifecycle`` from the first entity of ``path``.

    The first entity is the first document that is a mapping (a leading ``---`` or an empty
    document is skipped). Missing or non-string values leave the fact absent.
    """
    try:
        documents = reader.yaml_documents(path)
    except NotKept:
        problems.append(problem(path, "content not kept in the snapshot"))
        return {}
    except UnreadableFile as error:
        problems.append(problem(path, error.reason))
        return {}
    entity = next((doc for doc in documents if isinstance(doc, dict)), None)
    if entity is None:
        problems.append(problem(path, "no Backstage entity (a YAML mapping) in the file"))
        return {}
    spec = as_dict(entity.get("spec"))
    facts: dict[str, object] = {}
    for key in ("owner", "lifecycle"):
        value = spec.get(key)
        if isinstance(value, str) and value.strip():
            facts[f"catalog.{key}"] = value.strip()
    return facts
