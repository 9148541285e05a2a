"""Fixtures for the framework files: version 1 and version 2 of `mlops`, parsed once."""

from __future__ import annotations

from pathlib import Path

import pytest

from maturity.schema import FrameworkSpec, parse_framework_file

FRAMEWORKS = Path(__file__).resolve().parents[2] / "maturity" / "frameworks"
MLOPS_V1_YAML = FRAMEWORKS / "mlops.yaml"
MLOPS_V2_YAML = FRAMEWORKS / "mlops-v2.yaml"


@pytest.fixture(scope="session")
def mlops_v2_spec() -> FrameworkSpec:
    """Version 2 of the shipped framework, parsed and validated once per session."""
    return parse_framework_file(MLOPS_V2_YAML)


@pytest.fixture(scope="session", params=["v1", "v2"])
def shipped_spec(request, mlops_spec, mlops_v2_spec) -> FrameworkSpec:
    """Each shipped version in turn, for the checks that every version must pass."""
    return {"v1": mlops_spec, "v2": mlops_v2_spec}[request.param]
