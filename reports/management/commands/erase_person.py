"""manage.py erase_person <username> [--withdraw] [--reason ...] [--yes]: GDPR erasure."""

from __future__ import annotations

import getpass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.text import text_problem
from reports.services import person_erase


class Command(BaseCommand):
    help = (
        "Erase a person's personal data: delete their account and unlink their survey answers "
        "and comments (which stay, under a random key). Published numbers stay unless "
        "--withdraw withdraws their counted responses and re-scores their teams."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--withdraw",
            action="store_true",
            help="Also withdraw their counted responses (their teams are re-scored).",
        )
        parser.add_argument("--reason", default="", help="Kept in the erasure record.")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")

    def handle(self, *args: Any, **options: Any) -> None:
        username, reason = options["username"], options["reason"]
        for value in (username, reason):
            problem = text_problem(value, max_length=2000)
            if problem:
                raise CommandError(problem)
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user '{username}'; nothing was changed.")
        if not options["yes"]:
            answer = input(f"Erase '{username}' (this cannot be undone)? Type the username: ")
            if answer.strip() != username:
                raise CommandError("Not confirmed; nothing was changed.")
        result = person_erase(
            user=user,
            performed_by=f"cli:{getpass.getuser()}",
            withdraw=options["withdraw"],
            reason=reason,
        )
        erasure = result.erasure
        self.stdout.write(
            self.style.SUCCESS(
                f"Erased '{username}': {erasure.responses_unlinked} response(s) unlinked, "
                f"{erasure.responses_withdrawn} withdrawn, {erasure.drafts_deleted} draft(s) "
                f"deleted; {len(result.rescored)} team(s) queued for re-scoring."
            )
        )
