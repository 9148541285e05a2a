"""WSGI entry point (gunicorn config.wsgi)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application
from django.urls import reverse

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
application = get_wsgi_application()
# Import every view and build the URL resolver now rather than in the first request each
# worker serves (0.43 s of it, which the requests queued behind it waited too); with
# gunicorn's preload_app this happens once, in the master, before the workers fork. It
# opens no database connection, so none is shared between forked workers.
reverse("login")
