"""Project configuration: settings, URLs, Celery app, WSGI/ASGI entry points."""

from __future__ import annotations

# Import the Celery app when Django starts so that @shared_task binds to it.
from config.celery import app as celery_app

__all__ = ("celery_app",)
