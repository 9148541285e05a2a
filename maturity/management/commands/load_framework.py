"""manage.py load_framework <file> [--check]: validate and load a framework YAML file."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from maturity.schema import FrameworkFileError, parse_framework_file
from maturity.services import FrameworkError, framework_load


class Command(BaseCommand):
    help = "Validate a framework YAML file and load it (idempotently)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", help="Framework YAML file(s).")
        parser.add_argument("--check", action="store_true", help="Validate only; write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        for path in options["files"]:
            try:
                spec = parse_framework_file(path)
            except FrameworkFileError as error:
                raise CommandError(str(error)) from None
            questions = sum(len(d.questions) for d in spec.dimensions)
            if options["check"]:
                self.stdout.write(
                    f"{path}: valid ({spec.slug} v{spec.version}, {len(spec.dimensions)} "
                    f"dimensions, {questions} questions)."
                )
                continue
            try:
                result = framework_load(spec=spec, source=str(path))
            except FrameworkError as error:
                raise CommandError(str(error)) from None
            self.stdout.write(self.style.SUCCESS(result.describe()))
