"""Test settings: fast hashing, eager Celery unless a test starts a real worker."""

from __future__ import annotations

from config.settings.base import *  # noqa: F403
from config.settings.base import DEV_TRACKER_ENCRYPTION_KEY, env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Unit tests run tasks in-process; integration tests start a real worker against REDIS_URL.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = []  # noqa: F405
# Webhooks may go to 127.0.0.1 (a local receiver): never in production.
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=True)
TRACKER_ALLOW_PRIVATE = env.bool("TRACKER_ALLOW_PRIVATE", default=True)

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not :memory:, so the live server thread of browser tests and the test itself
    # use real locking (shared-cache in-memory tables fail with "table is locked").
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test-db.sqlite3")}  # noqa: F405

# Parallel test processes (pytest-xdist) share one Redis database: each gets its own key
# prefix, so that one process dropping its cached pages cannot drop another's mid-test.
_XDIST_WORKER = env("PYTEST_XDIST_WORKER", default="")
if _XDIST_WORKER:
    CACHES["default"]["KEY_PREFIX"] = _XDIST_WORKER  # noqa: F405

# Tracker credentials under a fixed development key unless one is set (base.py).
TRACKER_ENCRYPTION_KEY = env("TRACKER_ENCRYPTION_KEY", default=DEV_TRACKER_ENCRYPTION_KEY)
