"""Local development: DEBUG on unless the environment says otherwise."""

from __future__ import annotations

from config.settings.base import *  # noqa: F403
from config.settings.base import env

DEBUG = env.bool("DEBUG", default=True)
LOGGING["handlers"]["console"]["formatter"] = env("LOG_FORMAT", default="plain")  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
