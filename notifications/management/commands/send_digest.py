"""manage.py send_digest [--dry-run] [--user USERNAME]: send this week's digests now."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from notifications import selectors, services


class Command(BaseCommand):
    help = (
        "E-mail this week's digest to the managers who have something to report and have not "
        "had it this week (what beat does on Mondays). --dry-run shows who would get what."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Build the digests; record and send nothing."
        )
        parser.add_argument("--user", metavar="USERNAME", help="Only this person.")

    def handle(self, *args: Any, **options: Any) -> None:
        users = None
        if options["user"] is not None:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"No user '{options['user']}'.")
            if not selectors.digest_recipients([user]):
                raise CommandError(
                    f"{user.username} gets no digest: not an active manager with an e-mail "
                    "address, or they turned it off."
                )
            users = [user]
        run = services.digests_send(users=users, dry_run=options["dry_run"])
        verb = "would send" if options["dry_run"] else "sent"
        for username, summary in run.sent:
            self.stdout.write(f"{verb}: {username} ({summary})")
        for username in run.empty:
            self.stdout.write(f"nothing to report: {username}")
        for username in run.already:
            self.stdout.write(f"already sent this week: {username}")
        for username in run.failed:
            self.stderr.write(f"not sent (mail server refused): {username}")
        self.stdout.write(f"{len(run.sent)} digest(s) {verb}.")
        if run.failed:
            raise CommandError(f"{len(run.failed)} digest(s) could not be sent.")
