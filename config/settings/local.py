"""Local development: DEBUG on unless the environment says otherwise."""

from __future__ import annotations

from config.settings.base import *  # noqa: F403
from config.settings.base import DEV_TRACKER_ENCRYPTION_KEY, env

DEBUG = env.bool("DEBUG", default=True)
LOGGING["handlers"]["console"]["formatter"] = env("LOG_FORMAT", default="plain")  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
# Webhooks may go to 127.0.0.1 (a local receiver): never in production.
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=True)
TRACKER_ALLOW_PRIVATE = env.bool("TRACKER_ALLOW_PRIVATE", default=True)
# runserver starts a thread per request, and a persistent connection per thread is never
# reused nor closed (48 idle connections after a burst of 45 requests): one per request
# here, unless CONN_MAX_AGE says otherwise (the benchmarks, which serve with gunicorn, set
# production's 60).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)  # noqa: F405
# Tracker credentials under a fixed development key unless one is set (base.py).
TRACKER_ENCRYPTION_KEY = env("TRACKER_ENCRYPTION_KEY", default=DEV_TRACKER_ENCRYPTION_KEY)
