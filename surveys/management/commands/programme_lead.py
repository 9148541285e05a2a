"""manage.py programme_lead USERNAME [--revoke]: grant (or take back) the programme lead's
role: the lead's console and the membership import, without being Django staff."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Make a user a programme lead (surveys.run_programme), or --revoke it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--revoke", action="store_true", help="Take the role back.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user named {options['username']!r}.")
        permission = Permission.objects.get(
            codename="run_programme", content_type__app_label="surveys"
        )
        if options["revoke"]:
            user.user_permissions.remove(permission)
            self.stdout.write(self.style.SUCCESS(f"{user.username} is no longer a programme lead."))
        else:
            user.user_permissions.add(permission)
            self.stdout.write(self.style.SUCCESS(f"{user.username} is a programme lead."))
