"""manage.py load_framework: idempotent, in-place update only while a version has no answers."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from maturity.models import Choice, Dimension, Framework, Level, Question
from surveys.models import Answer, Response
from tests.factories import SurveyFactory, TeamFactory
from tests.maturity.test_schema import minimal

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_frameworks")]


def write(tmp_path: Path, data: dict, name: str = "tiny.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def load(path: Path, *args: str) -> str:
    out = StringIO()
    call_command("load_framework", str(path), *args, stdout=out)
    return out.getvalue()


def table_counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Framework, Level, Dimension, Question, Choice))


def test_loading_creates_the_whole_framework(tmp_path):
    output = load(write(tmp_path, minimal()))
    assert "Created tiny v1 (2 dimensions, 3 questions)" in output
    framework = Framework.objects.get(slug="tiny", version=1)
    assert table_counts() == (1, 5, 2, 3, 15)
    quality = framework.questions.get(key="data-quality")
    assert quality.requires == ["data-versioning"]
    assert quality.max_score == 4
    assert quality.dimension.key == "data"
    assert list(quality.choices.values_list("score", flat=True)) == [0, 1, 2, 3, 4]
    assert quality.choices.get(score=0).next_step == "Do step 1."
    assert list(framework.questions.values_list("order", flat=True)) == [1, 2, 3]


def test_loading_the_same_file_twice_changes_nothing_and_says_so(tmp_path):
    path = write(tmp_path, minimal())
    load(path)
    ids_before = list(Question.objects.values_list("id", flat=True))
    output = load(path)
    assert "already loaded with this content; nothing changed" in output
    assert list(Question.objects.values_list("id", flat=True)) == ids_before
    assert table_counts() == (1, 5, 2, 3, 15)


def test_changed_content_without_answers_updates_in_place(tmp_path):
    load(write(tmp_path, minimal()))
    changed = minimal()
    changed["dimensions"][1]["questions"][0]["text"] = "How are models released?"
    del changed["dimensions"][0]["questions"][1]
    output = load(write(tmp_path, changed))
    assert "Updated tiny v1 (2 dimensions, 2 questions)" in output
    assert Framework.objects.count() == 1
    assert Question.objects.get(key="automated-deployment").text == "How are models released?"
    assert not Question.objects.filter(key="data-quality").exists()


def test_changed_content_with_answers_is_refused_and_asks_for_a_new_version(tmp_path):
    load(write(tmp_path, minimal()))
    framework = Framework.objects.get()
    team = TeamFactory()
    survey = SurveyFactory(framework=framework, teams=[team])
    response = Response.objects.create(survey=survey, team=team, respondent_key="u:1")
    Answer.objects.create(response=response, question=framework.questions.first(), score=2)
    changed = minimal()
    changed["title"] = "Tiny, renamed"
    with pytest.raises(CommandError, match=r"already has answers .* set `version: 2`"):
        load(write(tmp_path, changed))
    assert Framework.objects.get().title == "Tiny"

    changed["version"] = 2
    assert "Created tiny v2" in load(write(tmp_path, changed))
    assert list(Framework.objects.values_list("version", flat=True)) == [2, 1]
    # Keys are stable across versions so trends can match them.
    assert set(Question.objects.filter(framework__version=2).values_list("key", flat=True)) == set(
        Question.objects.filter(framework__version=1).values_list("key", flat=True)
    )


def test_check_validates_without_writing(tmp_path):
    output = load(write(tmp_path, minimal()), "--check")
    assert "valid (tiny v1, 2 dimensions, 3 questions)" in output
    assert table_counts() == (0, 0, 0, 0, 0)


def test_bad_file_is_refused_and_nothing_is_written(tmp_path):
    data = minimal()
    data["dimensions"][0]["questions"][1]["requires"] = ["nope"]
    with pytest.raises(CommandError, match=r"tiny.yaml: .*requires\[0\]: unknown question key"):
        load(write(tmp_path, data))
    assert table_counts() == (0, 0, 0, 0, 0)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="missing.yaml: cannot read the file"):
        load(tmp_path / "missing.yaml")


def test_version_2_fields_are_stored_and_filled_in_on_an_unchanged_reload():
    from tests.maturity.conftest import MLOPS_V2_YAML

    load(MLOPS_V2_YAML)
    framework = Framework.objects.get(slug="mlops", version=2)
    platform = framework.questions.filter(scope="platform")
    assert platform.exists()
    conditional = framework.questions.exclude(applies_when={}).first()
    assert conditional is not None and set(conditional.applies_when) <= {
        "serving",
        "model_kinds",
        "gpu",
        "regulated",
    }
    assert framework.questions.exclude(refs=[]).count() == framework.questions.count()
    assert Choice.objects.filter(question__framework=framework).exclude(evidence="").exists()
    before = list(framework.questions.values_list("key", "scope", "applies_when", "refs", "why"))
    # Rows loaded before maturity 0002 hold the defaults; the same file fills them in.
    framework.questions.update(scope="team", applies_when={}, refs=[], why="", replaces=[])
    Choice.objects.filter(question__framework=framework).update(evidence="")
    assert "nothing changed" in load(MLOPS_V2_YAML)
    after = list(framework.questions.values_list("key", "scope", "applies_when", "refs", "why"))
    assert after == before
    assert Choice.objects.filter(question__framework=framework).exclude(evidence="").exists()


# --- Evidence checks (issue 16): stored on load, updated in place when only they change.

DOCKERFILE_CHECK = {
    "id": "dockerfile-present",
    "title": "Container image defined",
    "rule": {"fact": "repo.dockerfiles", "op": "len_gte", "value": 1},
    "supports": 2,
}


def with_checks(*checks: dict, policy: str = "report") -> dict:
    data = minimal()
    data["dimensions"][1]["questions"][0]["checks"] = list(checks)
    if policy != "report":
        data["evidence_policy"] = policy
    return data


def answer_something(framework: Framework) -> None:
    team = TeamFactory()
    survey = SurveyFactory(framework=framework, teams=[team])
    response = Response.objects.create(survey=survey, team=team, respondent_key="u:1")
    Answer.objects.create(response=response, question=framework.questions.first(), score=2)


def test_checks_and_policy_are_stored_on_create(tmp_path):
    output = load(write(tmp_path, with_checks(DOCKERFILE_CHECK, policy="cap")))
    assert "Created tiny v1 (2 dimensions, 3 questions). 1 with evidence checks" in output
    framework = Framework.objects.get()
    assert framework.evidence_policy == "cap"
    assert len(framework.checks_hash) == 64
    stored = framework.questions.get(key="automated-deployment").checks
    assert stored == [DOCKERFILE_CHECK | {"contradicts": None, "fresh_days": 90}]
    assert framework.questions.get(key="data-versioning").checks == []


def test_a_framework_without_checks_stores_an_empty_checks_hash(tmp_path):
    load(write(tmp_path, minimal()))
    framework = Framework.objects.get()
    assert (framework.checks_hash, framework.evidence_policy) == ("", "report")


def test_changed_checks_are_updated_in_place_even_with_answers(tmp_path):
    load(write(tmp_path, minimal()))
    framework = Framework.objects.get()
    answer_something(framework)
    ids_before = list(Question.objects.values_list("id", flat=True))
    content_hash = framework.content_hash

    output = load(write(tmp_path, with_checks(DOCKERFILE_CHECK)))
    assert "Checks updated for tiny v1: content unchanged, so answers are kept" in output
    assert "1 with evidence checks, evidence policy report" in output
    framework.refresh_from_db()
    assert framework.content_hash == content_hash
    assert list(Question.objects.values_list("id", flat=True)) == ids_before
    assert Answer.objects.count() == 1
    question = framework.questions.get(key="automated-deployment")
    assert [check["id"] for check in question.checks] == ["dockerfile-present"]

    # The same file again changes nothing; a changed check or policy updates again.
    assert "nothing changed" in load(write(tmp_path, with_checks(DOCKERFILE_CHECK)))
    output = load(write(tmp_path, with_checks(DOCKERFILE_CHECK | {"supports": 3}, policy="cap")))
    assert "Checks updated for tiny v1" in output
    framework.refresh_from_db()
    assert framework.evidence_policy == "cap"
    assert framework.questions.get(key="automated-deployment").checks[0]["supports"] == 3

    # Removing every check goes back to the empty hash.
    assert "Checks updated" in load(write(tmp_path, minimal()))
    framework.refresh_from_db()
    assert (framework.checks_hash, framework.evidence_policy) == ("", "report")
    assert not framework.questions.exclude(checks=[]).exists()


def test_changed_content_and_checks_with_answers_is_still_refused(tmp_path):
    load(write(tmp_path, minimal()))
    answer_something(Framework.objects.get())
    changed = with_checks(DOCKERFILE_CHECK)
    changed["title"] = "Tiny, renamed"
    with pytest.raises(CommandError, match="already has answers"):
        load(write(tmp_path, changed))
    assert Framework.objects.get().checks_hash == ""


def test_check_mode_counts_the_questions_with_checks(tmp_path):
    output = load(write(tmp_path, with_checks(DOCKERFILE_CHECK)), "--check")
    assert "valid (tiny v1, 2 dimensions, 3 questions). 1 with evidence checks" in output


def test_a_bad_rule_is_refused_with_file_and_path_and_nothing_is_written(tmp_path):
    bad = DOCKERFILE_CHECK | {"rule": {"any": [{"fact": "repo.paths", "op": "globb"}]}}
    with pytest.raises(
        CommandError,
        match=r"tiny.yaml: dimensions\[1\]\.questions\[0\]\.checks\[0\]\.rule\.any\[0\]\.op: "
        r"unknown operator 'globb'",
    ):
        load(write(tmp_path, with_checks(bad)))
    assert table_counts() == (0, 0, 0, 0, 0)
