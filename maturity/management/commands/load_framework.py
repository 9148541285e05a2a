"""manage.py load_framework <file> [--check]: validate and load a framework YAML file.

Says what happened: created, updated, unchanged, or "checks updated" when only the evidence
checks or the evidence policy differ (they are updated in place even on a version with
answers; see maturity.services.framework_load).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from maturity.evidence.collectors import fact_catalogue
from maturity.schema import (
    FrameworkFileError,
    FrameworkSpec,
    disappeared_keys,
    earlier_version_keys,
    parse_framework_file,
    read_framework_directory,
    replaced_key_problems,
)
from maturity.services import FrameworkError, framework_load


class Command(BaseCommand):
    help = "Validate a framework YAML file and load it (idempotently)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", help="Framework YAML file(s).")
        parser.add_argument("--check", action="store_true", help="Validate only; write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        for path in options["files"]:
            try:
                # Plug-in collectors' facts too, so their rules validate (and a refused
                # plug-in's facts do not).
                spec = parse_framework_file(path, facts=fact_catalogue())
            except FrameworkFileError as error:
                raise CommandError(str(error)) from None
            self.check_against_earlier_versions(Path(path), spec)
            questions = sum(len(d.questions) for d in spec.dimensions)
            checked = sum(1 for _, question in spec.questions() if question.checks)
            evidence = (
                f" {checked} with evidence checks, evidence policy {spec.evidence_policy}."
                if checked
                else ""
            )
            if options["check"]:
                self.stdout.write(
                    f"{path}: valid ({spec.slug} v{spec.version}, {len(spec.dimensions)} "
                    f"dimensions, {questions} questions).{evidence}"
                )
                continue
            try:
                result = framework_load(spec=spec, source=str(path))
            except FrameworkError as error:
                raise CommandError(str(error)) from None
            self.stdout.write(self.style.SUCCESS(result.describe()))

    def check_against_earlier_versions(self, path: Path, spec: FrameworkSpec) -> None:
        """Check ``replaces`` against the earlier versions of the slug in the same directory.

        A replaced key that no earlier version has is an error (CommandError with its path);
        an earlier key that the file neither keeps nor replaces is printed as a warning, as
        is every sibling file that cannot be read (its keys are then not known).
        """
        parsed, failed = read_framework_directory(path.parent)
        for error in failed:
            if error.source != path.name:
                self.warn(f"{error.source} could not be read, so its question keys are not known")
        earlier = [f for f in parsed if f.spec.slug == spec.slug and f.spec.version < spec.version]
        if not earlier:
            if spec.version > 1 and any(q.replaces for _, q in spec.questions()):
                self.warn(
                    f"{path.name}: no earlier version of {spec.slug} beside it, so the keys "
                    "named in replaces were not checked"
                )
            return
        keys = earlier_version_keys(earlier, spec.slug, spec.version)
        problems = replaced_key_problems(spec, keys)
        if problems:
            raise CommandError(str(FrameworkFileError(path.name, problems)))
        for key in disappeared_keys(spec, keys):
            self.warn(
                f"{path.name}: question '{key}' of an earlier version of {spec.slug} is neither "
                f"kept nor named in a replaces of v{spec.version}; its trend ends there"
            )

    def warn(self, message: str) -> None:
        self.stderr.write(self.style.WARNING(f"warning: {message}"))
