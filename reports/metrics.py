"""Prometheus metrics of the service, read from the database at scrape time.

Workers, beat and web processes run on different machines; counting in process memory
would give each its own partial numbers. The database is the one place that knows them
all, so this collector asks it (cheap indexed aggregates) whenever Prometheus scrapes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.conf import settings
from django.db.models import Count, Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)


class MaturityCollector(Collector):
    def describe(self) -> list[Metric]:
        # Without this, registering the collector would call collect(), i.e. query the
        # database while Django starts.
        return []

    def collect(self) -> Iterator[Metric]:
        from reports.models import AggregationRun
        from reports.services import stale_team_scores
        from surveys.models import Response

        try:
            submissions = CounterMetricFamily(
                "maturity_submissions",
                "Submitted responses (including replaced ones).",
                labels=["status"],
            )
            for row in (
                Response.objects.exclude(status="draft").values("status").annotate(n=Count("id"))
            ):
                submissions.add_metric([row["status"]], row["n"])
            yield submissions

            runs = CounterMetricFamily(
                "maturity_aggregation_runs",
                "Aggregation runs by final status.",
                labels=["status"],
            )
            seconds = CounterMetricFamily(
                "maturity_aggregation_seconds",
                "Time spent in aggregation runs (load+score+persist).",
                labels=["phase"],
            )
            for row in AggregationRun.objects.values("status").annotate(n=Count("id")):
                runs.add_metric([row["status"]], row["n"])
            totals = AggregationRun.objects.aggregate(
                load=Sum("load_ms"), score=Sum("score_ms"), persist=Sum("persist_ms")
            )
            for phase, total in totals.items():
                seconds.add_metric([phase], (total or 0) / 1000)
            yield runs
            yield seconds

            yield GaugeMetricFamily(
                "maturity_stale_teams",
                "Teams whose newest submission is newer than their scores.",
                value=len(stale_team_scores()),
            )
            yield from _export_rows()
        except Exception:  # a scrape must not fail because one query did
            logger.exception("metrics collection failed")
        depth = _queue_depth()
        if depth is not None:
            yield GaugeMetricFamily(
                "maturity_queue_depth", "Tasks waiting in the Celery queue.", value=depth
            )


def _export_rows() -> Iterator[Metric]:
    from django.apps import apps

    try:
        audit = apps.get_model("reports", "ExportAudit")
    except LookupError:
        return
    rows = CounterMetricFamily("maturity_export_rows", "Rows exported, by kind.", labels=["kind"])
    for row in audit.objects.values("kind").annotate(n=Sum("row_count")):
        rows.add_metric([row["kind"]], row["n"] or 0)
    yield rows


def _queue_depth() -> int | None:
    url = settings.CELERY_BROKER_URL
    if settings.CELERY_TASK_ALWAYS_EAGER or not url.startswith(("redis://", "rediss://")):
        return None
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        # redis-py types a command's answer for its sync and async clients alike
        # (Awaitable[int] | int); this client is the sync one.
        return int(client.llen(settings.CELERY_TASK_DEFAULT_QUEUE))  # type: ignore[arg-type]
    except redis.RedisError:
        return None
