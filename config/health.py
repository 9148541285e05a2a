"""Liveness (/healthz) and readiness (/readyz) probes for load balancers and Kubernetes."""

from __future__ import annotations

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Answer 200 while the process can serve requests; checks nothing else."""
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # noqa: BLE001 - any failure means "not ready"
        return f"{type(error).__name__}: {error}".strip()
    return None


def _check_broker() -> str | None:
    if settings.CELERY_TASK_ALWAYS_EAGER or not settings.CELERY_BROKER_URL:
        return None  # tasks run in-process; there is no broker to reach
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=2)
    except Exception as error:  # noqa: BLE001 - any failure means "not ready"
        return f"{type(error).__name__}: {error}".strip()
    return None


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Answer 200 when the database and the broker are reachable, else 503 naming what is down."""
    checks = {"database": _check_database(), "broker": _check_broker()}
    states = {name: "ok" if error is None else "down" for name, error in checks.items()}
    if settings.CELERY_TASK_ALWAYS_EAGER:
        states["broker"] = "eager"
    status = "ok" if not any(checks.values()) else "unavailable"
    body = {
        "status": status,
        "checks": states,
        "errors": {name: error for name, error in checks.items() if error},
    }
    return JsonResponse(body, status=200 if status == "ok" else 503)
