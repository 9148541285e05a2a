"""manage.py create_api_token <username> [--name NAME] [--expires-in DAYS]: print a new key."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.times import when
from reports.authentication import api_token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print its key (shown only this once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="What the token is for.")
        parser.add_argument(
            "--expires-in", type=int, metavar="DAYS", help="Expire after this many days."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user '{options['username']}'.")
        if not user.is_active:
            raise CommandError(f"User '{user.username}' is inactive.")
        days = options["expires_in"]
        if days is not None and not 1 <= days <= 36500:
            raise CommandError("--expires-in must be between 1 and 36500 days.")
        token, key = api_token_create(
            user=user,
            name=options["name"],
            expires_in=timedelta(days=days) if days is not None else None,
        )
        expiry = f"expires {when(token.expires_at)}" if token.expires_at else "no expiry"
        scope = "admin: may export" if user.is_staff else "not an admin: no exports"
        self.stderr.write(
            f"Token '{token.name}' ({token.prefix}) for {user.username}, {expiry}, {scope}. "
            "The key is shown only once:"
        )
        self.stdout.write(key)
