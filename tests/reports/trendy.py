"""A small framework in two versions, written to files and loaded by `load_framework` (so
`replaces` is checked against version 1 beside it): in version 2 `skew-check` is renamed
`training-serving-skew`, `canary` is split into `canary-release` and `rollback`, the two cost
questions are merged into `cost-control`, a `genai` dimension is new, and four questions map
ML Test Score tests."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import yaml
from django.core.management import call_command

from maturity.models import Framework
from tests.maturity.test_schema import choices

SEED = ["Best Practices / Data Management: x"]


def question(key: str, weight: float = 1.0, replaces=(), refs=()) -> dict:
    data = {
        "key": key,
        "text": f"How does the team do {key}?",
        "weight": weight,
        "seed_refs": list(SEED),
        "choices": choices(),
    }
    if replaces:
        data["replaces"] = list(replaces)
    if refs:
        data["refs"] = list(refs)
    return data


def framework_file(version: int, dimensions: dict[str, list[dict]]) -> dict:
    return {
        "slug": "trendy",
        "version": version,
        "title": "Trendy",
        "levels": [
            {"number": n, "name": f"L{n}", "threshold": t}
            for n, t in enumerate([0, 20, 40, 60, 80])
        ],
        "dimensions": [
            {"key": key, "name": key.title(), "seed_refs": list(SEED), "questions": questions}
            for key, questions in dimensions.items()
        ],
    }


V1 = framework_file(
    1,
    {
        "data": [question("schema", 2.5), question("skew-check", 1.5)],
        "deploy": [question("canary"), question("deploy-automation")],
        "cost": [question("cost-visibility"), question("cost-alerts")],
    },
)
V2 = framework_file(
    2,
    {
        "data": [
            question("schema", 2.5, refs=["mlts:data-1"]),
            question("training-serving-skew", 1.5, ["skew-check"], ["mlts:monitor-3"]),
        ],
        "deploy": [
            question("canary-release", replaces=["canary"], refs=["mlts:infra-6"]),
            question("rollback", replaces=["canary"], refs=["mlts:infra-7"]),
            question("deploy-automation"),
        ],
        "cost": [question("cost-control", 2.0, ["cost-visibility", "cost-alerts"])],
        "genai": [question("prompt-versioning")],
    },
)


def load_trendy(directory: Path) -> tuple[Framework, Framework]:
    """Write versions 1 and 2 into ``directory``, load them with the command, return both."""
    for name, data in (("trendy.yaml", V1), ("trendy-v2.yaml", V2)):
        (directory / name).write_text(yaml.safe_dump(data, sort_keys=False))
    out, err = StringIO(), StringIO()
    call_command(
        "load_framework",
        str(directory / "trendy.yaml"),
        str(directory / "trendy-v2.yaml"),
        stdout=out,
        stderr=err,
    )
    assert err.getvalue() == "", err.getvalue()  # every v1 key is kept or replaced
    return (
        Framework.objects.get(slug="trendy", version=1),
        Framework.objects.get(slug="trendy", version=2),
    )


def load_mlops_v2() -> Framework:
    """Load the shipped mlops-v2.yaml (unpublished; surveys on it are created directly)."""
    from maturity.schema import parse_framework_file
    from maturity.services import framework_load
    from tests.maturity.conftest import MLOPS_V2_YAML

    return framework_load(
        spec=parse_framework_file(MLOPS_V2_YAML), source=str(MLOPS_V2_YAML)
    ).framework
