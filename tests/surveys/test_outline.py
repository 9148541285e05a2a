"""The survey outline (dimensions, questions, choices) is read once per framework version.

Pages and autosaves share it (issue 17: building it was most of an autosave's time); a
version changed in place (allowed while it has no answers) is read again.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from maturity.schema import parse_framework
from maturity.scope import TeamPlan
from maturity.services import framework_load
from surveys import selectors
from surveys.models import Survey
from tests.factories import SurveyFactory, TeamFactory
from tests.maturity.test_schema import minimal

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_frameworks")]


def texts(survey: Survey) -> list[str]:
    every = frozenset(survey.framework.questions.values_list("id", flat=True))
    plan = TeamPlan(asked=every, inherited={}, out_of_scope=frozenset())
    return [q.text for page in selectors.asked_outline(survey, plan) for q in page.questions]


def test_the_outline_is_read_once_per_version_and_again_after_an_in_place_change():
    framework = framework_load(spec=parse_framework(minimal())).framework
    survey = SurveyFactory(framework=framework, teams=[TeamFactory()])
    first = texts(Survey.objects.select_related("framework").get(pk=survey.pk))
    with CaptureQueriesContext(connection) as queries:
        again = texts(Survey.objects.select_related("framework").get(pk=survey.pk))
    assert again == first
    # The survey and the plan's question ids: nothing of the outline is read again.
    assert len(queries) == 2, [q["sql"] for q in queries]

    changed = minimal()
    changed["dimensions"][1]["questions"][0]["text"] = "How are models released?"
    framework_load(spec=parse_framework(changed))
    now = texts(Survey.objects.select_related("framework").get(pk=survey.pk))
    assert "How are models released?" in now
    assert now != first
