"""manage.py import_memberships FILE [--dry-run]: memberships from a CSV of email,team,role."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from surveys.membership_import import MAX_IMPORT_BYTES, MembershipImport, memberships_import


class Command(BaseCommand):
    help = (
        "Import memberships from a CSV of email,team,role (header first; role member or "
        "manager). Every row is checked first: any wrong row writes nothing. FILE '-' reads "
        "standard input."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The CSV file, or - for standard input.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check and report; write nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        data = self._read(options["file"])
        outcome = memberships_import(data, dry_run=options["dry_run"])
        for name in outcome.ignored_columns:
            self.stderr.write(f"Ignored column: {name}")
        if outcome.errors:
            for error in outcome.errors:
                where = f"line {error.line}" if error.line else "file"
                column = f", {error.column}" if error.column else ""
                self.stderr.write(f"{where}{column}: {error.message}")
            raise CommandError(f"Nothing was imported: {len(outcome.errors)} problem(s).")
        self.stdout.write(self.style.SUCCESS(_summary(outcome)))

    def _read(self, name: str) -> bytes:
        if name == "-":
            return sys.stdin.buffer.read(MAX_IMPORT_BYTES + 1)
        path = Path(name)
        try:
            with path.open("rb") as file:
                return file.read(MAX_IMPORT_BYTES + 1)
        except OSError as error:
            raise CommandError(f"Cannot read {name}: {error.strerror}.") from error


def _summary(outcome: MembershipImport) -> str:
    counts = outcome.counts
    verb = "Would import" if outcome.dry_run else "Imported"
    return (
        f"{verb} {counts['rows']} row(s): {counts['added']} membership(s) added, "
        f"{counts['roles_changed']} role(s) changed, {counts['unchanged']} unchanged, "
        f"{counts['accounts_created']} account(s) created."
    )
