"""The ``ci_runs`` collector: success rate and DORA delivery figures from a CI run history.

The history is ``.maturity/ci-runs.json``, exported by the team, in one of two shapes
(told apart by their field names):

* GitHub: ``gh run list --json databaseId,name,workflowName,event,headBranch,status,
  conclusion,createdAt,updatedAt`` (a list). A run *succeeded* when ``status`` is
  ``completed`` and ``conclusion`` is ``success``, *failed* when the conclusion is
  ``failure``, ``timed_out`` or ``startup_failure``; cancelled, skipped, neutral and
  unfinished runs count as neither. A *deployment* is a run of a workflow whose
  ``workflowName`` says deploy, release or publish (case-insensitive); ``name`` is only
  used when ``workflowName`` is missing, because for push events it is the commit title.
* GitLab: ``GET /projects/:id/pipelines`` (a list of ``{id, status, ref, source,
  created_at, updated_at}``). ``success`` succeeded, ``failed`` failed, the rest count as
  neither. That API does not name the jobs in a pipeline, so a *deployment* is a pipeline
  on ``main``/``master`` or on a tag (``"tag": true`` when present, else a version-like
  ref such as ``v1.4.0``), except pipelines started by a schedule, a merge request or a
  parent pipeline (nightly jobs, pre-merge checks and child pipelines are not releases).

DORA metrics, as defined by Forsgren, Humble and Kim, *Accelerate* (IT Revolution, 2018),
ch. 2, and dora.dev ("DORA's software delivery metrics"):

* deployment frequency: successful deployments per 7 days over the history's window (first
  to last run start);
* change failure rate: failed deployments / (failed + successful deployments);
* time to restore (dora.dev: "failed deployment recovery time"): for each run of
  consecutive failed deployments of one workflow (GitHub) or ref (GitLab), the hours from
  the first failure finishing to the next successful deployment finishing; the median over
  those episodes. A failure never followed by a success is not counted.

Too little history says nothing, so facts are absent rather than misleading: ``dora.*``
and ``ci.runs`` need at least one run; ``dora.window_days`` two; the deployment frequency a
window of ``MIN_WINDOW_DAYS``; the change failure rate ``MIN_COMPLETED_DEPLOYMENTS``
completed deployments; the time to restore one restored failure.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from maturity.evidence.collectors.base import FileCollector, problem, read_parsed
from maturity.evidence.facts import CI_RUN_FACTS
from maturity.evidence.reader import SnapshotReader

CI_RUNS_PATH = ".maturity/ci-runs.json"
MIN_WINDOW_DAYS = 7.0
MIN_COMPLETED_DEPLOYMENTS = 5
SUCCESS, FAILURE, OTHER = "success", "failure", "other"

_DEPLOYMENT_WORKFLOW = re.compile(r"deploy|release|publish", re.IGNORECASE)
_VERSION_REF = re.compile(r"v?\d+(\.\d+)+([-+.][0-9A-Za-z.-]+)?")
_GITHUB_FAILURES = frozenset({"failure", "timed_out", "startup_failure"})
_DEFAULT_BRANCHES = frozenset({"main", "master"})
_NOT_DEPLOYING_SOURCES = frozenset(
    {"schedule", "merge_request_event", "external_pull_request_event", "parent_pipeline"}
)


@dataclass(frozen=True)
class Run:
    """One CI run: ``key`` is its workflow (GitHub) or ref (GitLab); times are aware UTC."""

    key: str
    outcome: str
    started: datetime
    finished: datetime
    deployment: bool


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 timestamp as an aware datetime (naive ones are taken as UTC), or None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def github_run(item: dict[str, Any]) -> Run | None:
    workflow = item.get("workflowName") or item.get("name")
    started = parse_time(item.get("createdAt"))
    if not isinstance(workflow, str) or started is None:
        return None
    finished = parse_time(item.get("updatedAt")) or started
    outcome = OTHER
    if item.get("status") == "completed":
        conclusion = item.get("conclusion")
        outcome = SUCCESS if conclusion == "success" else OTHER
        outcome = FAILURE if conclusion in _GITHUB_FAILURES else outcome
    deployment = _DEPLOYMENT_WORKFLOW.search(workflow) is not None
    return Run(workflow, outcome, started, max(started, finished), deployment)


def gitlab_pipeline(item: dict[str, Any]) -> Run | None:
    ref, started = item.get("ref"), parse_time(item.get("created_at"))
    if not isinstance(ref, str) or started is None:
        return None
    finished = parse_time(item.get("updated_at")) or started
    status = item.get("status")
    outcome = SUCCESS if status == "success" else FAILURE if status == "failed" else OTHER
    releasing_ref = (
        ref in _DEFAULT_BRANCHES
        or item.get("tag") is True
        or _VERSION_REF.fullmatch(ref) is not None
    )
    deployment = releasing_ref and item.get("source") not in _NOT_DEPLOYING_SOURCES
    return Run(ref, outcome, started, max(started, finished), deployment)


def parse_history(data: object) -> tuple[list[Run], int] | None:
    """The runs of a GitHub or GitLab export and how many entries were skipped; None when
    ``data`` is neither (not a list)."""
    if not isinstance(data, list):
        return None
    runs: list[Run] = []
    skipped = 0
    for item in data:
        run = None
        if isinstance(item, dict):
            github = any(k in item for k in ("workflowName", "databaseId", "createdAt"))
            run = github_run(item) if github else gitlab_pipeline(item)
        if run is None:
            skipped += 1
        else:
            runs.append(run)
    return runs, skipped


def time_to_restore_hours(deployments: list[Run]) -> list[float]:
    """Hours from each first failure of a failing streak to the next success, per key."""
    by_key: dict[str, list[Run]] = defaultdict(list)
    for run in deployments:
        by_key[run.key].append(run)
    restores: list[float] = []
    for runs in by_key.values():
        failed_since: datetime | None = None
        for run in sorted(runs, key=lambda r: (r.started, r.finished)):
            if run.outcome == FAILURE and failed_since is None:
                failed_since = run.finished
            elif run.outcome == SUCCESS and failed_since is not None:
                restores.append((run.finished - failed_since).total_seconds() / 3600)
                failed_since = None
    return restores


def dora_facts(runs: list[Run]) -> dict[str, object]:
    """``CI_RUN_FACTS`` for a non-empty history (see the module docstring for absences)."""
    completed = [r for r in runs if r.outcome != OTHER]
    deployments = [r for r in runs if r.deployment]
    succeeded = [r for r in deployments if r.outcome == SUCCESS]
    failed = [r for r in deployments if r.outcome == FAILURE]
    facts: dict[str, object] = {"ci.runs": len(runs), "dora.deployments": len(deployments)}
    if completed:
        facts["ci.success_rate"] = sum(r.outcome == SUCCESS for r in completed) / len(completed)
    if len(runs) >= 2:
        starts = [r.started for r in runs]
        window_days = (max(starts) - min(starts)).total_seconds() / 86400
        facts["dora.window_days"] = window_days
        if window_days >= MIN_WINDOW_DAYS:
            facts["dora.deployment_frequency_per_week"] = len(succeeded) / (window_days / 7)
    if len(succeeded) + len(failed) >= MIN_COMPLETED_DEPLOYMENTS:
        facts["dora.change_failure_rate"] = len(failed) / (len(succeeded) + len(failed))
    restores = time_to_restore_hours(deployments)
    if restores:
        facts["dora.time_to_restore_hours"] = float(statistics.median(restores))
    return facts


class CiRunsCollector(FileCollector):
    """CI success rate and DORA figures from ``.maturity/ci-runs.json`` (``CI_RUN_FACTS``)."""

    name = "ci_runs"
    version = "1"
    facts = CI_RUN_FACTS

    def gather(self, reader: SnapshotReader, problems: list[str]) -> dict[str, object]:
        if not reader.exists(CI_RUNS_PATH):
            return {}
        noted = len(problems)
        data = read_parsed(reader, CI_RUNS_PATH, "json", problems)
        if len(problems) > noted:
            return {}
        parsed = parse_history(data)
        if parsed is None:
            problems.append(problem(CI_RUNS_PATH, "not a list of runs or pipelines"))
            return {}
        runs, skipped = parsed
        if skipped:
            problems.append(problem(CI_RUNS_PATH, f"{skipped} entries are not runs; skipped"))
        return dora_facts(runs) if runs else {}
