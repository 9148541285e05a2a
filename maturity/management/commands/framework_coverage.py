"""manage.py framework_coverage <slug> --version N [--format text|json]: standards coverage.

Reads the framework file of that slug and version from settings.FRAMEWORKS_DIR (the refs are
not stored in the database yet) and prints, per standard prefix, which of its items the
questions map; see maturity.standards.standard_coverage for the JSON shape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from maturity.schema import FrameworkSpec, read_framework_directory
from maturity.standards import STANDARDS, standard_coverage


def find_framework(directory: Path, slug: str, version: int) -> FrameworkSpec:
    """Return the spec of ``slug`` version ``version`` among the files of ``directory``.

    Raises CommandError naming the directory, the versions of the slug that do exist and
    any file that could not be read (one of them may be the one asked for).
    """
    parsed, failed = read_framework_directory(directory)
    for framework_file in parsed:
        if framework_file.spec.slug == slug and framework_file.spec.version == version:
            return framework_file.spec
    versions = sorted(f.spec.version for f in parsed if f.spec.slug == slug)
    message = f"no framework file for {slug} v{version} in {directory}"
    if versions:
        message += f" (versions found: {', '.join(str(v) for v in versions)})"
    elif not parsed and not failed:
        message += " (the directory holds no *.yaml files)"
    if failed:
        message += "; these files could not be read:\n" + "\n".join(str(e) for e in failed)
    raise CommandError(message)


class Command(BaseCommand):
    help = "Show which items of each reference standard a framework version's questions map."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> Any:
        # Django adds --version (print Django's version) to every command; the issue fixes
        # --version as the framework version here, so ours replaces it.
        kwargs.setdefault("conflict_handler", "resolve")
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="Framework slug, e.g. mlops.")
        parser.add_argument("--version", type=int, required=True, help="Framework version.")
        parser.add_argument("--format", choices=("text", "json"), default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        spec = find_framework(Path(settings.FRAMEWORKS_DIR), options["slug"], options["version"])
        coverage = standard_coverage({q.key: q.refs for _, q in spec.questions()})
        if options["format"] == "json":
            self.stdout.write(json.dumps(coverage, indent=2))
            return
        questions = sum(len(d.questions) for d in spec.dimensions)
        self.stdout.write(
            f"Standards coverage of {spec.slug} v{spec.version} ({questions} questions)"
        )
        for prefix, entry in coverage.items():
            self.stdout.write("")
            self.stdout.write(_heading(prefix, entry))
            self.stdout.write(_rows(prefix, entry))


def _heading(prefix: str, entry: dict[str, Any]) -> str:
    standard = STANDARDS[prefix]
    if entry["items"] is None:
        count = f"{entry['mapped']} ids used"
    else:
        count = f"{entry['mapped']}/{entry['items']} mapped"
    return f"{prefix}: {count}. {standard.description}"


def _rows(prefix: str, entry: dict[str, Any]) -> str:
    standard = STANDARDS[prefix]
    if not entry["questions"]:
        return "  (no question cites it)"
    width = max(len(item) for item in entry["questions"])
    lines = []
    for item, keys in entry["questions"].items():
        title = f"  {standard.items[item]}" if standard.closed else ""
        mapped = ", ".join(keys) if keys else "UNMAPPED"
        lines.append(f"  {item:<{width}}{title}: {mapped}")
    if entry["unmapped"] is not None:
        lines.append(f"  unmapped: {', '.join(entry['unmapped']) or 'none'}")
    return "\n".join(lines)
