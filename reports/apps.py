from __future__ import annotations

from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        from prometheus_client import REGISTRY

        from reports.metrics import MaturityCollector

        if not getattr(REGISTRY, "_maturity_registered", False):
            REGISTRY.register(MaturityCollector())
            # Our marker on prometheus' registry (ready() can run twice, e.g. in tests).
            REGISTRY._maturity_registered = True  # type: ignore[attr-defined]
