"""manage.py export answers|scores --survey ID [--team SLUG] [--since ISO] [--format F] [--bom]
-o FILE."""

from __future__ import annotations

import getpass
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reports.api.exports import ExportQuerySerializer
from reports.exports import FORMATS, KINDS, ExportRequest, export_start


class Command(BaseCommand):
    help = "Export answers or scores to a file (recorded in the export audit log)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=KINDS)
        parser.add_argument("--survey", required=True, help="Survey id.")
        parser.add_argument("--team", help="Only this team (slug).")
        parser.add_argument("--since", help="ISO 8601 time: only rows at or after it.")
        parser.add_argument("--format", choices=FORMATS, default="csv")
        parser.add_argument(
            "--bom",
            action="store_true",
            help="CSV only: start the file with a UTF-8 byte order mark (for Excel).",
        )
        parser.add_argument("-o", "--output", required=True, help="File to write ('-': stdout).")

    def handle(self, *args: Any, **options: Any) -> None:
        params = {
            name: options[name]
            for name in ("survey", "team", "since", "format", "bom")
            if options[name] is not None
        }
        query = ExportQuerySerializer(data=params)
        if not query.is_valid():
            problems = "; ".join(
                f"--{field}: {' '.join(str(m) for m in messages)}"
                for field, messages in query.errors.items()
            )
            raise CommandError(problems)
        request = ExportRequest(kind=options["kind"], **query.validated_data)
        export = export_start(request, actor=f"cli:{getpass.getuser()}", via="cli")
        to_stdout = options["output"] == "-"
        show_progress = sys.stderr.isatty()
        bar = None
        if show_progress:
            from tqdm import tqdm

            bar = tqdm(
                total=export.estimated_rows(), unit=" rows", unit_scale=True, file=sys.stderr
            )
        out = sys.stdout.buffer if to_stdout else open(options["output"], "wb")  # noqa: SIM115
        try:
            done = 0
            for chunk in export.stream():
                out.write(chunk)
                if bar is not None:
                    bar.update(export.rows - done)
                    done = export.rows
        finally:
            if bar is not None:
                bar.close()
            if not to_stdout:
                out.close()
        if not to_stdout:
            self.stderr.write(f"Wrote {export.rows} {request.kind} rows to {options['output']}.")
