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
MAX_YAML_ALIASES = 200
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


def yaml_problem(text: str) -> str | None:
    """Return why ``text`` is refused as YAML (too deep, too many aliases, a foreign tag).

    Scans tokens only, so nothing recursive runs on a hostile document. None: acceptable.
    """
    depth = aliases = 0
    try:
        for token in yaml.scan(text, Loader=_LOADER):
            if isinstance(token, yaml.AliasToken):
                aliases += 1
                if aliases > MAX_YAML_ALIASES:
                    return f"more than {MAX_YAML_ALIASES} aliases (*name)"
            elif isinstance(token, yaml.TagToken):
                handle, suffix = token.value
                tag = f"{handle or ''}{suffix or ''}"
                if (
                    not tag.startswith("tag:yaml.org,2002:")
                    and handle != "!!"
                    and (tag not in ALLOWED_YAML_TAGS)
                ):
                    return f"the tag {tag} is not allowed"
                if handle == "!!" and suffix not in {
                    "str",
                    "int",
                    "float",
                    "bool",
                    "null",
                    "map",
                    "seq",
                    "binary",
                    "timestamp",
                }:
                    return f"the tag !!{suffix} is not allowed"
            elif isinstance(
                token,
                yaml.BlockMappingStartToken
                | yaml.BlockSequenceStartToken
                | yaml.FlowMappingStartToken
                | yaml.FlowSequenceStartToken,
            ):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    return f"nests deeper than {MAX_YAML_DEPTH} levels"
            elif isinstance(
                token, yaml.BlockEndToken | yaml.FlowMappingEndToken | yaml.FlowSequenceEndToken
            ):
                depth -= 1
    except yaml.YAMLError as error:
        return f"not valid YAML ({str(error).splitlines()[0]})"
    return None


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
