from __future__ import annotations

from django.apps import AppConfig


class CommonConfig(AppConfig):
    """Shared helpers; on start, the data revision's write watcher (common.revisions) on
    every database connection, and a change of settings (tests) renews the revision."""

    name = "common"
    verbose_name = "Common"

    def ready(self) -> None:
        from django.core.signals import setting_changed
        from django.db import connections
        from django.db.backends.signals import connection_created

        from common import revisions

        connection_created.connect(revisions.watch, dispatch_uid="common.revisions.watch")
        setting_changed.connect(revisions.changed, dispatch_uid="common.revisions.settings")
        for connection in connections.all(initialized_only=True):
            revisions.watch(connection)
