"""What a collector is, what collecting returns, and the helpers the built-ins share.

A collector is any object with ``name``, ``version``, ``facts`` (the ``FactSpec`` it may
produce, by name) and ``collect(reader) -> dict[str, object]`` (``Collector``). It is pure:
no network, nothing executed, no file system beyond the ``SnapshotReader``. A kept file that
does not parse, or parses into an unexpected shape, is skipped, not fatal.

A collector may also offer ``collect_with_problems(reader) -> (facts, problems)``
(``ReportsProblems``) to say which files it skipped and why; the built-ins do, through
``FileCollector``. ``collect_all`` prefers that method when present.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from maturity.evidence.facts import FactSpec
from maturity.evidence.reader import NotKept, SnapshotReader, UnreadableFile


@runtime_checkable
class Collector(Protocol):
    """Derives typed facts from a snapshot (see the module docstring)."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def facts(self) -> Mapping[str, FactSpec]: ...

    def collect(self, reader: SnapshotReader) -> dict[str, object]: ...


@runtime_checkable
class ReportsProblems(Protocol):
    """A collector that also says which files it skipped (``"<path>: <reason>"`` each)."""

    def collect_with_problems(
        self, reader: SnapshotReader
    ) -> tuple[dict[str, object], list[str]]: ...


@dataclass(frozen=True)
class CollectedFacts:
    """One collector's result on one snapshot.

    ``facts`` holds only declared facts of the declared types (``float`` facts are floats,
    ``list[str]`` facts lists); absent facts are missing keys. ``problems`` lists the files
    skipped (``"<path>: <reason>"``). ``error`` is set when the collector raised or returned
    something its declaration does not allow; ``facts`` is then empty.
    """

    name: str
    version: str
    facts: dict[str, object]
    problems: list[str] = field(default_factory=list)
    error: str | None = None


class FileCollector:
    """Base of the built-in collectors: ``gather`` fills facts and appends problems."""

    name = ""
    version = "1"
    facts: Mapping[str, FactSpec] = {}

    def collect(self, reader: SnapshotReader) -> dict[str, object]:
        return self.gather(reader, [])

    def collect_with_problems(self, reader: SnapshotReader) -> tuple[dict[str, object], list[str]]:
        problems: list[str] = []
        facts = self.gather(reader, problems)
        return facts, problems

    def gather(self, reader: SnapshotReader, problems: list[str]) -> dict[str, object]:
        raise NotImplementedError


def problem(path: str, reason: str) -> str:
    return f"{path}: {reason}"


def read_parsed(reader: SnapshotReader, path: str, kind: str, problems: list[str]) -> Any | None:
    """Return ``path`` parsed as ``kind`` (yaml, json or toml), or None after noting why not.

    A listed file whose content the snapshot did not keep (too large) is a problem too: the
    collector cannot see it, and the report should say so.
    """
    try:
        if kind == "yaml":
            return reader.yaml(path)
        if kind == "json":
            return reader.json(path)
        return reader.toml(path)
    except NotKept:
        problems.append(problem(path, "content not kept in the snapshot"))
    except UnreadableFile as error:
        problems.append(problem(path, error.reason))
    return None


def read_text(reader: SnapshotReader, path: str, problems: list[str]) -> str | None:
    """Return a kept file's text, or None after noting that its content was not kept."""
    try:
        return reader.read_text(path)
    except KeyError:  # NotKept is a KeyError too
        problems.append(problem(path, "content not kept in the snapshot"))
        return None


def as_dict(value: object) -> dict[Any, Any]:
    """``value`` if it is a mapping, else an empty dict (files are untrusted input)."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    """``value`` if it is a list, ``[value]`` for a lone string, else an empty list."""
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [value]
    return []


def strings(value: object) -> list[str]:
    """The strings in ``as_list(value)``; other items are ignored."""
    return [item for item in as_list(value) if isinstance(item, str)]


def basename(path: str) -> str:
    return path.rpartition("/")[2]


def dirname(path: str) -> str:
    return path.rpartition("/")[0]
