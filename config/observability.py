"""Request ids, JSON logs and the protected Prometheus endpoint.

Every request gets an id (the incoming ``X-Request-ID`` if sane, else a new one); it is
returned in the response header, and every log line written while handling the request
carries it, so a line in the access log can be followed into the application logs.
"""

from __future__ import annotations

import contextvars
import hmac
import json
import logging
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        value = incoming if _SANE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(value)
        # Ours, for views that want it; Django's HttpRequest declares no such attribute.
        request.request_id = value  # type: ignore[attr-defined]
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response["X-Request-ID"] = value
        return response


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "") or None,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def metrics(request: HttpRequest) -> HttpResponse:
    """Serve Prometheus metrics to a bearer of METRICS_TOKEN, or to allowed addresses."""
    token = settings.METRICS_TOKEN
    if token:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        allowed = hmac.compare_digest(supplied.encode(), token.encode())
    else:
        allowed = request.META.get("REMOTE_ADDR", "") in settings.METRICS_ALLOWED_IPS
    if not allowed:
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
