"""manage.py evidence_collect: a local checkout (in a git work tree, only tracked files)
becomes the team's snapshot, collected here with --now."""

from __future__ import annotations

import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from evidence.models import Snapshot
from tests.evidence.conftest import RECSYS_REPO, stored_counts
from tests.evidence.test_verdicts import verdicts

pytestmark = pytest.mark.django_db


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A git work tree of RECSYS_REPO, committed, plus an untracked and an ignored file."""
    repo = tmp_path / "recsys-service"
    for path, text in RECSYS_REPO.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    (repo / ".gitignore").write_text("*.env\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    (repo / "notes-untracked.txt").write_text("not committed\n")
    (repo / "secrets.env").write_text("TOKEN=1\n")
    return repo


def collect(*args: str) -> str:
    out = StringIO()
    call_command("evidence_collect", *args, stdout=out)
    return out.getvalue()


def test_a_checkout_is_collected_with_only_the_files_git_tracks(checkout, v2_round, team):
    output = collect("--team", "recsys", "--now", str(checkout))
    snapshot = Snapshot.objects.get()
    assert snapshot.status == "collected"
    assert (snapshot.kind, snapshot.source, snapshot.team) == ("checkout", "recsys-service", team)
    paths = sorted(entry["path"] for entry in snapshot.content.manifest["files"])
    assert paths == sorted([*RECSYS_REPO, ".gitignore"])
    assert f"Snapshot {snapshot.pk} of recsys/recsys-service: 7 files, 3 kept" in output
    assert "status collected" in output
    # Collected and evaluated in this process: the round's verdicts follow on scoring.
    from reports import services as report_services

    report_services.aggregate(survey=v2_round)
    assert verdicts(v2_round, team)["shift-left-security"] == "contradicted"


def test_without_now_the_snapshot_waits_for_the_worker(checkout, team):
    collect("--team", "recsys", "--repository", "named", str(checkout))
    snapshot = Snapshot.objects.get()
    assert (snapshot.status, snapshot.source) == ("pending", "named")


def test_a_path_that_is_not_a_directory_is_an_error(tmp_path, team):
    before = stored_counts()
    file = tmp_path / "file.txt"
    file.write_text("x")
    with pytest.raises(CommandError, match="is not a directory"):
        collect("--team", "recsys", str(file))
    with pytest.raises(CommandError, match="is not a directory"):
        collect("--team", "recsys", str(tmp_path / "missing"))
    assert stored_counts() == before


def test_an_unknown_team_is_an_error(checkout):
    with pytest.raises(CommandError, match="No team 'nope'"):
        collect("--team", "nope", str(checkout))
    assert not Snapshot.objects.exists()


def test_an_archived_team_is_an_error(checkout, team):
    from django.utils import timezone

    team.archived_at = timezone.now()
    team.save(update_fields=["archived_at"])
    with pytest.raises(CommandError, match="Team 'recsys' is archived"):
        collect("--team", "recsys", "--now", str(checkout))
    assert not Snapshot.objects.exists()


def test_a_hostile_checkout_is_refused_naming_the_rule(tmp_path, team):
    repo = tmp_path / "bad"
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "ci.yml").write_text(
        "job: !!python/object/apply:os.system [id]\n"
    )
    with pytest.raises(CommandError, match=r"Refused: .*\(unsafe_yaml\)"):
        collect("--team", "recsys", str(repo))
    assert not Snapshot.objects.exists()
