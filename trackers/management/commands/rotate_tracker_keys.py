"""``manage.py rotate_tracker_keys``: re-encrypt every tracker secret under the first key of
TRACKER_ENCRYPTION_KEY (after a new key was put first; the old one can then be dropped)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from trackers import crypto
from trackers.services import connections_rotate_keys


class Command(BaseCommand):
    help = "Re-encrypt tracker credentials under the first key of TRACKER_ENCRYPTION_KEY."

    def handle(self, *args: Any, **options: Any) -> None:
        problem = crypto.key_problem()
        if problem is not None:
            raise CommandError(problem)
        rotated, unreadable = connections_rotate_keys()
        self.stdout.write(f"Re-encrypted the secrets of {rotated} connection(s).")
        if unreadable:
            names = ", ".join(unreadable)
            raise CommandError(
                f"No configured key decrypts the secrets of: {names}. Keep the old key in "
                "TRACKER_ENCRYPTION_KEY, or enter their tokens again in the console."
            )
