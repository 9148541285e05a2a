from __future__ import annotations

from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        from prometheus_client import REGISTRY

        from actions.signals import action_done
        from campaigns.signals import campaign_changed
        from reports.metrics import MaturityCollector
        from reports.signals import scores_written
        from reports.tasks import (
            enqueue_campaign_progress,
            enqueue_scoring_followup,
            on_action_done,
        )

        # What follows scoring runs (figures, action verdicts, campaigns): once per burst.
        scores_written.connect(enqueue_scoring_followup, dispatch_uid="reports.followup")
        # An action marked done is checked against the rounds scored since its own.
        action_done.connect(on_action_done, dispatch_uid="reports.verify_action")

        if not getattr(REGISTRY, "_maturity_registered", False):
            REGISTRY.register(MaturityCollector())
            # Our marker on prometheus' registry (ready() can run twice, e.g. in tests).
            REGISTRY._maturity_registered = True  # type: ignore[attr-defined]
        # A new campaign, or a new parent or goal: its progress is computed by a worker.
        campaign_changed.connect(enqueue_campaign_progress, dispatch_uid="reports-campaigns")
