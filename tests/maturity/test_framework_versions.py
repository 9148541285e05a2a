"""Loading a framework beside its earlier versions: replaces checked, vanished keys warned,
and version 2 of mlops loads next to version 1 without touching version 1's surveys."""

from __future__ import annotations

import shutil
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from maturity.models import Choice, Framework, Question
from surveys.models import Answer, Response
from tests.factories import SurveyFactory, TeamFactory
from tests.maturity.conftest import MLOPS_V1_YAML, MLOPS_V2_YAML
from tests.maturity.test_schema import minimal


def load(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("load_framework", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def write(directory: Path, name: str, data: dict) -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def tiny_v2(**changes) -> dict:
    """Version 2 of the tiny framework: data-quality renamed to data-checks (replaces it)."""
    data = minimal()
    data["version"] = 2
    renamed = data["dimensions"][0]["questions"][1]
    renamed["key"] = "data-checks"
    renamed["replaces"] = changes.pop("replaces", ["data-quality"])
    data.update(changes)
    return data


def test_shipped_v2_checks_clean_beside_v1():
    out, err = load("--check", str(MLOPS_V2_YAML))
    assert "valid (mlops v2, 16 dimensions, 83 questions)" in out
    assert err == ""  # every v1 key is kept or replaced, so no warning


def test_a_replaced_key_that_no_earlier_version_has_is_refused_with_its_path(tmp_path):
    write(tmp_path, "tiny.yaml", minimal())
    v2 = write(tmp_path, "tiny-v2.yaml", tiny_v2(replaces=["data-quality", "data-qualty"]))
    with pytest.raises(CommandError) as caught:
        load("--check", str(v2))
    assert str(caught.value) == (
        "tiny-v2.yaml: dimensions[0].questions[1].replaces[1]: 'data-qualty' is not a question "
        "key of any earlier version of tiny"
    )


def test_a_key_that_vanishes_without_successor_is_a_warning_and_the_load_goes_on(tmp_path, db):
    write(tmp_path, "tiny.yaml", minimal())
    data = tiny_v2()
    del data["dimensions"][1]  # automated-deployment vanishes
    out, err = load(str(write(tmp_path, "tiny-v2.yaml", data)))
    assert "Created tiny v2 (1 dimensions, 2 questions)" in out
    assert err.strip() == (
        "warning: tiny-v2.yaml: question 'automated-deployment' of an earlier version of tiny "
        "is neither kept nor named in a replaces of v2; its trend ends there"
    )


def test_replaces_without_an_earlier_version_beside_the_file_is_a_warning(tmp_path):
    out, err = load("--check", str(write(tmp_path, "tiny-v2.yaml", tiny_v2())))
    assert "valid (tiny v2" in out
    assert "no earlier version of tiny beside it" in err


def test_an_unreadable_sibling_is_a_warning_not_a_failure(tmp_path):
    write(tmp_path, "tiny.yaml", minimal())
    (tmp_path / "draft.yaml").write_text("slug: [")
    out, err = load("--check", str(write(tmp_path, "tiny-v2.yaml", tiny_v2())))
    assert "valid (tiny v2" in out
    assert "warning: draft.yaml could not be read" in err


def test_v2_loads_beside_v1_and_leaves_v1_and_its_surveys_untouched(tmp_path, db):
    # The shipped files, copied so the test reads exactly them from one directory.
    v1_path = Path(shutil.copy(MLOPS_V1_YAML, tmp_path / "mlops.yaml"))
    v2_path = Path(shutil.copy(MLOPS_V2_YAML, tmp_path / "mlops-v2.yaml"))
    load(str(v1_path))
    v1 = Framework.objects.get(slug="mlops", version=1)
    team = TeamFactory()
    survey = SurveyFactory(framework=v1, teams=[team])
    response = Response.objects.create(survey=survey, team=team, respondent_key="u:1")
    question = v1.questions.get(key="data-versioning")
    Answer.objects.create(response=response, question=question, score=3)
    before = (
        v1.content_hash,
        list(v1.questions.values_list("id", "key", "text")),
        list(Choice.objects.filter(question__framework=v1).values_list("id", "label")),
    )

    out, err = load(str(v2_path))
    assert "Created mlops v2 (16 dimensions, 83 questions)" in out
    assert err == ""
    v2 = Framework.objects.get(slug="mlops", version=2)
    assert v2.published is True  # what new rounds use; v1 rounds keep v1
    assert v2.questions.count() == 83
    assert v2.questions.get(key="genai-guardrails").choices.count() == 5

    v1.refresh_from_db()
    after = (
        v1.content_hash,
        list(v1.questions.values_list("id", "key", "text")),
        list(Choice.objects.filter(question__framework=v1).values_list("id", "label")),
    )
    assert after == before
    assert Answer.objects.get().question_id == question.id
    assert survey.framework_id == v1.id
    # Reloading the unchanged v1 file (which has answers now) changes nothing and says so.
    out, _ = load(str(v1_path))
    assert "mlops v1 is already loaded with this content; nothing changed" in out
    assert Question.objects.filter(framework=v1).count() == 58
