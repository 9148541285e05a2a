"""The CI job both readers (GitHub Actions, GitLab CI) produce, and what the classifier reads."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Separators between shell commands in a step or script line. Splitting on them lets
# "pip install pytest && pytest" count as a test run while "pip install pytest" alone does
# not. (Quoted separators are split too: a heuristic, not a shell parser.)
_COMMAND_SEPARATORS = re.compile(r"\n|&&|\|\||;")


@dataclass
class Job:
    """One CI job, reduced to what classification needs.

    ``id`` is ``<file>:<job>``; ``names`` the job key, display name, stage, step names and
    templates it extends; ``commands`` one shell command each; ``uses`` actions and reusable
    workflows (lower case, without ``@ref``); ``images`` container images the job runs in.
    ``environment`` is the deployment environment's name; ``environment_deploys`` is None
    without one, True when the job deploys to it, False for GitLab's ``action: stop|prepare|
    verify|access`` (a teardown or check: the job does not deploy, whatever its name).
    ``schedule_unit`` is what ``ci.scheduled_workflows`` lists when the job runs on a
    schedule: the workflow file for GitHub, the job id for GitLab (GitLab schedules
    pipelines, not files).
    """

    id: str
    provider: str
    names: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    uses: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    environment: str | None = None
    environment_deploys: bool | None = None
    manual: bool = False
    schedule_unit: str | None = None


def split_commands(script: str) -> list[str]:
    """Split a shell script into commands (continuation lines joined), blanks dropped."""
    joined = script.replace("\\\r\n", " ").replace("\\\n", " ")
    return [part.strip() for part in _COMMAND_SEPARATORS.split(joined) if part.strip()]


def action_name(uses: str) -> str:
    """``owner/repo[/path]`` of a ``uses:`` value, lower case, without the ``@ref``."""
    return uses.partition("@")[0].strip().lower()
