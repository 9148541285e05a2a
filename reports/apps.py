from __future__ import annotations

from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        from prometheus_client import REGISTRY

        from actions.signals import action_done
        from reports.tasks import on_action_done

        action_done.connect(on_action_done, dispatch_uid="reports.verify_action")

        from reports.metrics import MaturityCollector

        if not getattr(REGISTRY, "_maturity_registered", False):
            REGISTRY.register(MaturityCollector())
            # Our marker on prometheus' registry (ready() can run twice, e.g. in tests).
            REGISTRY._maturity_registered = True  # type: ignore[attr-defined]
