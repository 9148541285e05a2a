"""manage.py create_evidence_token --team <slug> [--name NAME] [--expires-in DAYS]."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.times import when
from evidence.services import evidence_token_create
from surveys.models import Team


class Command(BaseCommand):
    help = (
        "Create a team-scoped evidence token (it can only upload evidence for its team) and "
        "print its key, shown only this once. Give it to the team's CI as "
        "MATURITY_EVIDENCE_TOKEN for scripts/maturity-evidence."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--team", required=True, help="The team's slug.")
        parser.add_argument("--name", default="", help="What the token is for (e.g. 'ci').")
        parser.add_argument(
            "--expires-in", type=int, metavar="DAYS", help="Expire after this many days."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        team = Team.objects.filter(slug=options["team"]).first()
        if team is None:
            raise CommandError(f"No team '{options['team']}'.")
        if team.archived_at is not None:
            raise CommandError(f"Team '{team.slug}' is archived.")
        days = options["expires_in"]
        if days is not None and not 1 <= days <= 36500:
            raise CommandError("--expires-in must be between 1 and 36500 days.")
        token, key = evidence_token_create(
            team=team,
            name=options["name"],
            expires_in=timedelta(days=days) if days is not None else None,
        )
        expiry = f"expires {when(token.expires_at)}" if token.expires_at else "no expiry"
        self.stderr.write(
            f"Evidence token '{token.name}' for team {team.slug}, {expiry}; it can only upload "
            "evidence for this team. The key is shown only once:"
        )
        self.stdout.write(key)
