"""Fixtures for the framework v2 tests of aggregation, reports, the API and exports."""

from __future__ import annotations

import functools
from types import SimpleNamespace

import pytest

from maturity.models import Framework
from maturity.schema import FrameworkSpec, parse_framework_file
from maturity.services import framework_load
from surveys.models import Survey, TeamProfile
from tests.conftest import MLOPS_YAML
from tests.evidence_repository import score_with_evidence
from tests.factories import SurveyFactory, TeamFactory

MLOPS_V2_YAML = MLOPS_YAML.with_name("mlops-v2.yaml")


@functools.cache
def v2_spec() -> FrameworkSpec:
    return parse_framework_file(MLOPS_V2_YAML)


@pytest.fixture
def v2(db) -> Framework:
    """Framework mlops version 2 (``published: false``: surveys are created directly)."""
    framework = framework_load(spec=v2_spec(), source=str(MLOPS_V2_YAML)).framework
    assert framework.version == 2 and framework.published
    return framework


@pytest.fixture
def tree(db) -> SimpleNamespace:
    """org (root) -> platform -> two product teams, recsys and chatbot."""
    org = TeamFactory(slug="org", name="Organisation")
    platform = TeamFactory(slug="platform", name="ML Platform", parent=org)
    recsys = TeamFactory(slug="recsys", name="Recommendations", parent=platform)
    chatbot = TeamFactory(slug="chatbot", name="Support Chatbot", parent=platform)
    return SimpleNamespace(org=org, platform=platform, recsys=recsys, chatbot=chatbot)


@pytest.fixture
def v2_round(v2, tree) -> Survey:
    """A v2 round of the whole tree; recsys is a batch, classical team (no GenAI questions),
    chatbot an online LLM team."""
    survey = SurveyFactory(
        framework=v2, teams=[tree.org, tree.platform, tree.recsys, tree.chatbot], title="Q1 v2"
    )
    TeamProfile.objects.create(
        survey=survey, team=tree.recsys, serving=["batch"], model_kinds=["classical"]
    )
    TeamProfile.objects.create(
        survey=survey, team=tree.chatbot, serving=["online"], model_kinds=["llm-api"]
    )
    return survey


@pytest.fixture
def evidenced(v2_survey, team, other_team) -> Survey:
    """A v2 round, scored: recsys's repository confirms one of its answers and contradicts
    another (tests.evidence.score_with_evidence); fraud has no evidence."""
    score_with_evidence(v2_survey, evidenced=team, unevidenced=other_team)
    return v2_survey
