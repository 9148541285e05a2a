"""Collectors: the built-ins, the ``maturity.collectors`` plug-in registry, and collect_all.

Built-ins (``BUILTIN_COLLECTORS``): ``repo``, ``ci``, ``dependencies``, ``ci_runs``,
``scorecard``; each produces only the facts ``maturity.evidence.facts`` declares for it.

Plug-ins are installed packages with an entry point in the group ``maturity.collectors``
(``ENTRY_POINT_GROUP``) that loads to a collector instance, a collector class, or a
zero-argument factory returning one (see ``base.Collector``). ``registry()`` refuses a
plug-in, logging a warning on the ``maturity.evidence.collectors`` logger and leaving it
out, when it fails to load, does not look like a collector, declares a malformed fact, or
clashes: its name, or one of its fact names, is already taken by a built-in or by a plug-in
registered before it (plug-ins are taken in order of distribution name, then entry point
name). Refusing rather than raising keeps one bad plug-in from stopping every check; the
refusals are also returned by ``refused_plugins()`` for an admin page or a health check.
Framework rules naming a refused plug-in's facts fail validation as unknown facts.

The registry is loaded once per process (``clear_registry_cache()`` after installing a
plug-in in a running process, as tests do).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import get_args

from maturity.evidence.collectors.base import (
    CollectedFacts,
    Collector,
    FileCollector,
    ReportsProblems,
)
from maturity.evidence.collectors.ci import CiCollector
from maturity.evidence.collectors.ci_runs import CiRunsCollector
from maturity.evidence.collectors.dependencies import DependenciesCollector
from maturity.evidence.collectors.repo import RepoCollector
from maturity.evidence.collectors.scorecard import ScorecardCollector
from maturity.evidence.facts import FactSpec, FactType
from maturity.evidence.reader import SnapshotReader

__all__ = [
    "BUILTIN_COLLECTORS",
    "ENTRY_POINT_GROUP",
    "CollectedFacts",
    "Collector",
    "FileCollector",
    "RefusedPlugin",
    "ReportsProblems",
    "clear_registry_cache",
    "collect_all",
    "fact_catalogue",
    "refused_plugins",
    "registry",
    "validate_facts",
]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "maturity.collectors"
BUILTIN_COLLECTORS: tuple[Collector, ...] = (
    RepoCollector(),
    CiCollector(),
    DependenciesCollector(),
    CiRunsCollector(),
    ScorecardCollector(),
)
FACT_TYPES = frozenset(get_args(FactType))


@dataclass(frozen=True)
class RefusedPlugin:
    """A ``maturity.collectors`` entry point left out of the registry, and why."""

    entry_point: str  # "<name> = <module>:<attr>"
    distribution: str | None
    reason: str


def _declaration_problem(collector: object) -> str | None:
    """Why ``collector`` is not a usable collector, or None."""
    if not isinstance(collector, Collector):
        return "it has no name, version, facts and collect(reader)"
    if not isinstance(collector.name, str) or not collector.name:
        return "its name is not a non-empty string"
    if not isinstance(collector.version, str) or not collector.version:
        return "its version is not a non-empty string"
    if not isinstance(collector.facts, Mapping):
        return "its facts are not a mapping of fact name to FactSpec"
    for name, spec in collector.facts.items():
        if not isinstance(spec, FactSpec) or spec.name != name or spec.type not in FACT_TYPES:
            return f"its fact {name!r} is not a FactSpec of that name with a known type"
    return None


def _instantiate(loaded: object) -> object:
    """A collector from what an entry point loaded: an instance, a class or a factory."""
    if isinstance(loaded, type) or (callable(loaded) and not isinstance(loaded, Collector)):
        return loaded()
    return loaded


def _load(entry_point: EntryPoint) -> tuple[Collector | None, str | None]:
    try:
        collector = _instantiate(entry_point.load())
    except Exception as error:  # a broken plug-in must not stop the built-ins
        return None, f"it failed to load ({type(error).__name__}: {error})"
    reason = _declaration_problem(collector)
    if reason is not None:
        return None, reason
    assert isinstance(collector, Collector)  # noqa: S101 - narrowed by _declaration_problem
    return collector, None


def _clash(collector: Collector, taken: dict[str, Collector]) -> str | None:
    if collector.name in taken:
        return f"its name {collector.name!r} is taken by another collector"
    for other in taken.values():
        shared = sorted(set(collector.facts) & set(other.facts))
        if shared:
            return f"its fact {shared[0]!r} is declared by the collector {other.name!r}"
    return None


@cache
def _load_registry() -> tuple[tuple[Collector, ...], tuple[RefusedPlugin, ...]]:
    taken: dict[str, Collector] = {c.name: c for c in BUILTIN_COLLECTORS}
    refused: list[RefusedPlugin] = []
    plugins = sorted(
        entry_points(group=ENTRY_POINT_GROUP),
        key=lambda ep: ((ep.dist.name if ep.dist else "") or "", ep.name),
    )
    for entry_point in plugins:
        collector, reason = _load(entry_point)
        if collector is not None:
            reason = _clash(collector, taken)
        if reason is None and collector is not None:
            taken[collector.name] = collector
            continue
        distribution = entry_point.dist.name if entry_point.dist else None
        label = f"{entry_point.name} = {entry_point.value}"
        refused.append(RefusedPlugin(label, distribution, reason or "unknown"))
        logger.warning("collector plug-in %s (%s) refused: %s", label, distribution or "?", reason)
    return tuple(taken.values()), tuple(refused)


def registry() -> dict[str, Collector]:
    """Every usable collector by name: the built-ins, then the accepted plug-ins."""
    return {collector.name: collector for collector in _load_registry()[0]}


def clear_registry_cache() -> None:
    """Forget the loaded registry, so the next call reads the entry points again."""
    _load_registry.cache_clear()


def refused_plugins() -> list[RefusedPlugin]:
    """The plug-ins ``registry()`` left out, with the reason for each."""
    return list(_load_registry()[1])


def fact_catalogue() -> dict[str, FactSpec]:
    """Every fact some registered collector declares, by name (names are unique)."""
    return {name: spec for c in registry().values() for name, spec in c.facts.items()}


def _value_problem(spec: FactSpec, value: object) -> str | None:
    kind = spec.type
    if kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    elif kind == "str":
        ok = isinstance(value, str)
    else:
        ok = isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)
    return None if ok else f"{spec.name} should be {kind}, got {type(value).__name__}"


def validate_facts(
    declared: Mapping[str, FactSpec], produced: object
) -> tuple[dict[str, object], str | None]:
    """Check ``produced`` against ``declared``: (normalised facts, None) or ({}, the reason).

    Normalised: ``float`` facts given as int become float, ``list[str]`` facts lists.
    """
    if not isinstance(produced, dict):
        return {}, f"collect() returned {type(produced).__name__}, not a dict of facts"
    facts: dict[str, object] = {}
    for name, value in produced.items():
        spec = declared.get(name) if isinstance(name, str) else None
        if spec is None:
            return {}, f"undeclared fact {name!r}"
        reason = _value_problem(spec, value)
        if reason is not None:
            return {}, reason
        if spec.type == "float":
            value = float(value)
        elif spec.type == "list[str]":
            value = list(value)
        facts[name] = value
    return facts, None


def _run(collector: Collector, reader: SnapshotReader) -> tuple[object, list[str]]:
    if isinstance(collector, ReportsProblems):
        produced, problems = collector.collect_with_problems(reader)
        return produced, [str(p) for p in problems]
    return collector.collect(reader), []


def collect_all(
    reader: SnapshotReader, collectors: Iterable[Collector] | None = None
) -> list[CollectedFacts]:
    """Run each collector (default: ``registry()``) on ``reader``; one result per collector.

    A collector that raises, or returns an undeclared fact or a value of the wrong type,
    gets a result with ``error`` set and no facts; the others are unaffected.
    """
    results: list[CollectedFacts] = []
    for collector in registry().values() if collectors is None else collectors:
        try:
            produced, problems = _run(collector, reader)
        except Exception as error:  # a plug-in's bug must not lose the other collectors' facts
            logger.warning("collector %s failed", collector.name, exc_info=True)
            message = f"collect() raised {type(error).__name__}: {error}"
            results.append(CollectedFacts(collector.name, collector.version, {}, [], message))
            continue
        facts, reason = validate_facts(collector.facts, produced)
        results.append(CollectedFacts(collector.name, collector.version, facts, problems, reason))
    return results
