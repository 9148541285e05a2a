"""The read-only view of a snapshot that collectors get (no network, nothing executed).

A snapshot is a repository's file list (every path) and the contents of the small
configuration files whose content is kept (see ``snapshot.KEPT_PATTERNS``); source code never
needs to leave the company. A collector lists paths, reads a kept file, or parses one as
YAML, JSON or TOML. Reading a file whose content was not kept raises ``NotKept``; a file that
does not parse raises ``UnreadableFile``: collectors skip such files (and may say so).
"""

from __future__ import annotations

import json as json_module
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from maturity.evidence.paths import glob_filter

# libyaml's safe loader when PyYAML has it (its wheels do).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# What a configuration file may hold: deeper nesting or more alias uses than this is refused
# (a few nested aliases can stand for billions of nodes: "billion laughs").
MAX_YAML_DEPTH = 50
MAX_YAML_ALIASES = 10_000
# The nodes all documents of a file may stand for once aliases are expanded: GitLab CI's
# `<<: *defaults` in every job stays far below; 9 levels of 10 aliases ("billion laughs")
# would be 10**9.
MAX_YAML_EXPANDED_NODES = 200_000
# GitLab CI's own tag; every other application tag (!!python/object, !Ref, ...) is refused.
ALLOWED_YAML_TAGS = frozenset({"!reference"})


class NotKept(KeyError):
    """The snapshot lists the path but did not keep its content."""


class UnreadableFile(ValueError):
    """A kept file that does not parse (bad YAML, JSON or TOML, or a refused YAML feature)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def yaml_problem(text: str, *, hostile_only: bool = False) -> str | None:
    """Return why ``text`` is refused as YAML, or None when it is acceptable.

    Refused: nesting deeper than MAX_YAML_DEPTH, more than MAX_YAML_ALIASES aliases, a tag
    other than YAML's own and ALLOWED_YAML_TAGS, a recursive alias, aliases that expand the
    documents to more than MAX_YAML_EXPANDED_NODES nodes ("billion laughs"), and text that
    is not YAML. With ``hostile_only``, text that merely does not parse is not refused
    (a snapshot keeps it; collectors skip it): only the hostile features above are.

    Tokens are scanned first, so nothing recursive runs on a deep document; the node graph
    is composed (aliases share nodes, nothing is expanded) only when the text has aliases.
    """
    depth = aliases = 0
    try:
        for token in yaml.scan(text, Loader=_LOADER):
            if isinstance(token, yaml.AliasToken):
                aliases += 1
                if aliases > MAX_YAML_ALIASES:
                    return f"more than {MAX_YAML_ALIASES} aliases (*name)"
            elif isinstance(token, yaml.TagToken):
                problem = _tag_problem(token)
                if problem is not None:
                    return problem
            elif isinstance(token, _COLLECTION_START):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    return f"nests deeper than {MAX_YAML_DEPTH} levels"
            elif isinstance(token, _COLLECTION_END):
                depth -= 1
        return _expansion_problem(text) if aliases else None
    except yaml.YAMLError as error:
        return None if hostile_only else f"not valid YAML ({str(error).splitlines()[0]})"


_COLLECTION_START = (
    yaml.BlockMappingStartToken
    | yaml.BlockSequenceStartToken
    | yaml.FlowMappingStartToken
    | yaml.FlowSequenceStartToken
)
_COLLECTION_END = yaml.BlockEndToken | yaml.FlowMappingEndToken | yaml.FlowSequenceEndToken
_CORE_TAGS = frozenset({"str", "int", "float", "bool", "null", "map", "seq", "binary", "timestamp"})


def _tag_problem(token: yaml.TagToken) -> str | None:
    handle, suffix = token.value
    tag = f"{handle or ''}{suffix or ''}"
    if not tag.startswith("tag:yaml.org,2002:") and handle != "!!" and tag not in ALLOWED_YAML_TAGS:
        return f"the tag {tag} is not allowed"
    if handle == "!!" and suffix not in _CORE_TAGS:
        return f"the tag !!{suffix} is not allowed"
    return None


def _expansion_problem(text: str) -> str | None:
    """Return why the documents' aliases expand too far (or recursively), else None.

    Counts the nodes each document stands for once every alias (merge keys ``<<: *x``
    included) is replaced by its anchor's nodes, memoised per node: linear in the text.
    """
    budget = MAX_YAML_EXPANDED_NODES
    for document in yaml.compose_all(text, Loader=_LOADER):
        if document is None:
            continue
        size = _expanded_size(document, budget)
        if size is None:
            return "an alias refers to a node that contains it (a recursive alias)"
        budget -= size
        if budget < 0:
            return (
                f"its aliases expand it to more than {MAX_YAML_EXPANDED_NODES} nodes "
                '(a "billion laughs" document)'
            )
    return None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _expanded_size(root: yaml.Node, budget: int) -> int | None:
    """The node count of ``root`` with aliases expanded, stopping past ``budget``; None for
    a cycle. Iterative (no recursion on hostile input)."""
    sizes: dict[int, int] = {}
    expanding: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            expanding.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > budget:
                return sizes[key]
        elif key in expanding:
            return None
        elif key not in sizes:
            expanding.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return sizes[id(root)]


class _Loader(_LOADER):  # type: ignore[valid-type,misc]
    """The safe loader, with GitLab's ``!reference [job, key]`` read as a plain list."""


_Loader.add_constructor(
    "!reference", lambda loader, node: loader.construct_sequence(node, deep=True)
)


def load_yaml(text: str, path: str = "") -> Any:
    """Parse one YAML document safely; raise UnreadableFile with the reason otherwise."""
    problem = yaml_problem(text)
    if problem is not None:
        raise UnreadableFile(path, problem)
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    # ValueError: a timestamp that is no date (2026-02-30) fails in the constructor.
    except (yaml.YAMLError, RecursionError, ValueError) as error:
        raise UnreadableFile(path, f"not valid YAML ({str(error).splitlines()[0]})") from None


def load_yaml_documents(text: str, path: str = "") -> list[Any]:
    """Parse every document of a YAML stream (``---`` separated) safely, like ``load_yaml``.

    Backstage's catalog-info.yaml and Kubernetes manifests often hold several documents.
    """
    problem = yaml_problem(text)
    if problem is not None:
        raise UnreadableFile(path, problem)
    try:
        return list(yaml.load_all(text, Loader=_Loader))  # noqa: S506 - a SafeLoader subclass
    # ValueError: a timestamp that is no date (2026-02-30) fails in the constructor.
    except (yaml.YAMLError, RecursionError, ValueError) as error:
        raise UnreadableFile(path, f"not valid YAML ({str(error).splitlines()[0]})") from None


class SnapshotReader:
    """Read-only access to one snapshot: ``paths`` (all files) and ``contents`` (kept ones).

    Paths are POSIX, relative to the repository root, without ``./``. The reader never
    touches the file system or the network; parsed files are cached per reader.
    """

    def __init__(self, paths: Iterable[str], contents: Mapping[str, str]) -> None:
        self._paths = sorted(set(paths) | set(contents))
        self._path_set = frozenset(self._paths)
        self._contents = dict(contents)
        self._parsed: dict[tuple[str, str], Any] = {}

    def paths(self) -> list[str]:
        """Every file path of the snapshot, sorted."""
        return list(self._paths)

    def exists(self, path: str) -> bool:
        return path in self._path_set

    def glob(self, pattern: str) -> list[str]:
        """The paths matching ``pattern`` (``maturity.evidence.paths`` syntax), sorted."""
        return glob_filter(pattern, self._paths)

    def has_content(self, path: str) -> bool:
        return path in self._contents

    def kept(self) -> list[str]:
        """The paths whose content the snapshot kept, sorted."""
        return sorted(self._contents)

    def read_text(self, path: str) -> str:
        """Return a kept file's text; raise NotKept if only its path is known, KeyError if
        the snapshot has no such file."""
        if path in self._contents:
            return self._contents[path]
        if path in self._path_set:
            raise NotKept(path)
        raise KeyError(path)

    def yaml(self, path: str) -> Any:
        return self._parse(path, "yaml")

    def yaml_documents(self, path: str) -> list[Any]:
        """Every document of a multi-document YAML file (see ``load_yaml_documents``)."""
        documents: list[Any] = self._parse(path, "yaml-documents")
        return documents

    def json(self, path: str) -> Any:
        return self._parse(path, "json")

    def toml(self, path: str) -> dict[str, Any]:
        parsed: dict[str, Any] = self._parse(path, "toml")
        return parsed

    def _parse(self, path: str, kind: str) -> Any:
        cache_key = (path, kind)
        if cache_key not in self._parsed:
            text = self.read_text(path)
            if kind == "yaml":
                value = load_yaml(text, path)
            elif kind == "yaml-documents":
                value = load_yaml_documents(text, path)
            elif kind == "json":
                try:
                    value = json_module.loads(text)
                except (ValueError, RecursionError) as error:
                    raise UnreadableFile(path, f"not valid JSON ({error})") from None
            else:
                try:
                    value = tomllib.loads(text)
                # ValueError: an integer beyond Python's 4,300-digit limit, or a bad date.
                except (ValueError, RecursionError) as error:
                    raise UnreadableFile(path, f"not valid TOML ({error})") from None
            self._parsed[cache_key] = value
        return self._parsed[cache_key]
