"""Read GitHub Actions workflow files into ``Job``s.

Follows GitHub's workflow syntax reference (docs.github.com, "Workflow syntax for GitHub
Actions"): ``on`` (which YAML 1.1 reads as the boolean ``True``) with a ``schedule`` key
means cron triggers; ``jobs.<id>`` has ``name``, ``steps`` (each ``run`` and/or ``uses``),
a job-level ``uses`` for reusable workflows, ``container`` and ``environment`` (a name, or a
mapping with ``name``). Anything of another shape is ignored.
"""

from __future__ import annotations

from typing import Any

from maturity.evidence.collectors.base import as_dict, as_list, basename
from maturity.evidence.collectors.ci_model import Job, action_name, split_commands


def _environment_name(value: object) -> str | None:
    if isinstance(value, dict):
        value = value.get("name")
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _image(value: object) -> str | None:
    if isinstance(value, dict):
        value = value.get("image")
    return value if isinstance(value, str) and value else None


def _add_step(job: Job, step: dict[Any, Any]) -> None:
    run, uses, name = step.get("run"), step.get("uses"), step.get("name")
    if isinstance(run, str):
        job.commands.extend(split_commands(run))
    if isinstance(uses, str) and uses.strip():
        if uses.startswith("docker://"):
            job.images.append(uses.removeprefix("docker://"))
        else:
            job.uses.append(action_name(uses))
    if isinstance(name, str):
        job.names.append(name)


def is_scheduled(workflow: dict[Any, Any]) -> bool:
    """Whether the workflow has ``on: schedule`` (cron) triggers."""
    triggers = workflow.get("on", workflow.get(True))
    return isinstance(triggers, dict) and bool(triggers.get("schedule"))


def github_jobs(path: str, workflow: object) -> list[Job]:
    """The jobs of one parsed workflow file (``<file name>:<job id>`` ids)."""
    document = as_dict(workflow)
    file = basename(path)
    scheduled = is_scheduled(document)
    jobs: list[Job] = []
    for key, body in as_dict(document.get("jobs")).items():
        spec = as_dict(body)
        job = Job(id=f"{file}:{key}", provider="github-actions", names=[str(key)])
        if isinstance(spec.get("name"), str):
            job.names.append(spec["name"])
        if isinstance(spec.get("uses"), str):
            job.uses.append(action_name(spec["uses"]))
        image = _image(spec.get("container"))
        if image is not None:
            job.images.append(image)
        for step in as_list(spec.get("steps")):
            if isinstance(step, dict):
                _add_step(job, step)
        job.environment = _environment_name(spec.get("environment"))
        job.environment_deploys = True if job.environment is not None else None
        job.schedule_unit = file if scheduled else None
        jobs.append(job)
    return jobs
