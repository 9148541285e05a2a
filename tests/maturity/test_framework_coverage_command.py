"""manage.py framework_coverage: per standard, which items a framework version's questions map."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from maturity.standards import ML_TEST_SCORE, STANDARDS
from tests.maturity.test_schema import minimal

ROOT = Path(__file__).resolve().parents[2]


def coverage(*args: str) -> str:
    out = StringIO()
    call_command("framework_coverage", *args, stdout=out)
    return out.getvalue()


def test_json_coverage_of_v2_maps_all_28_ml_test_score_tests():
    result = json.loads(coverage("mlops", "--version", "2", "--format", "json"))
    assert list(result) == list(STANDARDS)
    assert result["mlts"]["items"] == 28
    assert result["mlts"]["mapped"] == 28
    assert result["mlts"]["unmapped"] == []
    assert list(result["mlts"]["questions"]) == list(ML_TEST_SCORE)
    assert result["mlts"]["questions"]["infra-7"] == ["rollback"]
    assert result["owasp-llm"]["questions"]["LLM01"] == ["genai-guardrails"]
    assert result["dora"]["items"] is None and result["dora"]["mapped"] > 10


def test_text_coverage_lists_every_ml_test_score_test_with_its_questions():
    text = coverage("mlops", "--version", "2")
    assert text.startswith("Standards coverage of mlops v2 (83 questions)\n")
    assert "mlts: 28/28 mapped." in text
    for test_id, title in ML_TEST_SCORE.items():
        assert f"  {test_id:<9}  {title}: " in text
    assert "  monitor-3  Training and serving are not skewed: feature-consistency\n" in text
    mlts_part = text.split("\ngoogle-mlops:")[0]
    assert "UNMAPPED" not in mlts_part
    assert mlts_part.rstrip().endswith("unmapped: none")


def test_v1_maps_no_ml_test_score_test():
    result = json.loads(coverage("mlops", "--version", "1", "--format", "json"))
    assert result["mlts"]["mapped"] == 0
    assert len(result["mlts"]["unmapped"]) == 28


def test_a_tiny_framework_gives_exactly_the_expected_json(tmp_path, settings):
    data = minimal()
    data["dimensions"][0]["questions"][0]["refs"] = ["mlts:data-1", "dora:version-control"]
    data["dimensions"][0]["questions"][1]["refs"] = ["mlts:data-1", "mlts:monitor-2"]
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(data))
    settings.FRAMEWORKS_DIR = tmp_path
    result = json.loads(coverage("tiny", "--version", "1", "--format", "json"))
    expected_mlts = {item: [] for item in ML_TEST_SCORE}
    expected_mlts["data-1"] = ["data-quality", "data-versioning"]
    expected_mlts["monitor-2"] = ["data-quality"]
    assert result["mlts"] == {
        "items": 28,
        "mapped": 2,
        "unmapped": [item for item in ML_TEST_SCORE if item not in ("data-1", "monitor-2")],
        "questions": expected_mlts,
    }
    assert result["dora"] == {
        "items": None,
        "mapped": 1,
        "unmapped": None,
        "questions": {"version-control": ["data-versioning"]},
    }
    assert result["google-mlops"]["unmapped"] == ["level-0", "level-1", "level-2"]
    assert result["aws-ml-lens"] == {"items": None, "mapped": 0, "unmapped": None, "questions": {}}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--version", "2"], "no framework file for nope v2 in "),
        (["mlops", "--version", "9"], "no framework file for mlops v9 in "),
        (["mlops", "--version", "two"], "argument --version: invalid int value: 'two'"),
        (["mlops"], "the following arguments are required: --version"),
        (["mlops", "--version", "2", "--format", "xml"], "argument --format: invalid choice"),
    ],
)
def test_bad_slug_or_version_is_a_clear_command_error(args, message):
    with pytest.raises(CommandError, match=message):
        coverage(*args)


def test_a_missing_version_names_the_versions_that_exist():
    with pytest.raises(CommandError, match=r"mlops v9 .*\(versions found: 1, 2\)"):
        coverage("mlops", "--version", "9")


def test_an_unreadable_file_is_named_when_the_version_is_not_found(tmp_path, settings):
    (tmp_path / "broken.yaml").write_text("slug: [")
    settings.FRAMEWORKS_DIR = tmp_path
    with pytest.raises(CommandError, match=r"could not be read:\nbroken.yaml: line "):
        coverage("mlops", "--version", "2")


def test_from_the_command_line_a_bad_version_prints_one_line_and_no_traceback():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    result = subprocess.run(
        [sys.executable, "manage.py", "framework_coverage", "nope", "--version", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "CommandError: no framework file for nope v2" in result.stderr
    assert "Traceback" not in result.stderr
