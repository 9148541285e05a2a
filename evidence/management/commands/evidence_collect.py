"""manage.py evidence_collect --team <slug> [--repository NAME] [--now] <path>."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evidence import services
from evidence.models import Snapshot
from maturity.evidence.snapshot import SnapshotError, manifest_from_directory
from surveys.models import Team


def tracked_files(root: Path) -> list[str] | None:
    """The files git tracks in ``root`` (``git ls-files``), or None when it is not a git
    work tree (every file is then taken: point the command at a clean checkout)."""
    if not (root / ".git").exists() or shutil.which("git") is None:
        return None
    listed = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        ["git", "-C", str(root), "ls-files", "-z"],  # noqa: S607 - git from PATH
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:
        return None
    names = listed.stdout.split(b"\0")
    return [name.decode("utf-8", "surrogateescape") for name in names if name]


class Command(BaseCommand):
    help = (
        "Snapshot a local checkout (paths, sha256 and the kept configuration files; in a git "
        "work tree only the files git tracks; .git and symlinks skipped, nothing from the "
        "checkout executed) as the team's evidence, and have the worker "
        "collect facts and evaluate checks (or do it here with --now)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="The repository checkout.")
        parser.add_argument("--team", required=True, help="The team's slug.")
        parser.add_argument("--repository", default="", help="Source name (default: folder).")
        parser.add_argument(
            "--now", action="store_true", help="Collect and evaluate in this process."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        team = Team.objects.filter(slug=options["team"]).first()
        if team is None:
            raise CommandError(f"No team '{options['team']}'.")
        root = Path(options["path"])
        if not root.is_dir():
            raise CommandError(f"{root} is not a directory.")
        tracked = tracked_files(root)
        if tracked is None:
            self.stderr.write(
                f"{root} is not a git work tree: every file is taken, untracked ones too."
            )
        try:
            manifest = manifest_from_directory(root, services.upload_limits(), tracked)
        except SnapshotError as error:
            raise CommandError(f"Refused: {error.message} ({error.code})") from None
        try:
            snapshot = services.snapshot_store(
                team=team,
                manifest=manifest,
                kind=Snapshot.Kind.CHECKOUT,
                source=options["repository"] or root.resolve().name,
                defer=options["now"],
            )
        except services.EvidenceError as error:
            raise CommandError(error.message) from None
        if options["now"]:
            snapshot = services.snapshot_process(snapshot.pk)
        else:
            snapshot.refresh_from_db()  # without a broker the worker's steps ran already
        self.stdout.write(
            f"Snapshot {snapshot.pk} of {team.slug}/{snapshot.source}: {manifest.n_files} files, "
            f"{manifest.n_kept} kept, sha256 {manifest.sha256[:12]}, status {snapshot.status}"
            + (f" ({snapshot.error})" if snapshot.error else "")
        )
