"""Settings shared by every environment; values come from the environment.

With nothing set this runs on an SQLite file and runs Celery tasks eagerly, so a newcomer
needs nothing but Python. ``DATABASE_URL`` and ``REDIS_URL`` switch to the real way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import django_stubs_ext
import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

# Django's generic classes (ModelAdmin, InlineModelAdmin) cannot be subscripted at run time
# as their type annotations are (``admin.ModelAdmin[Team]``): django-stubs' documented fix
# adds the __class_getitem__ they lack. DRF's classes have their own.
django_stubs_ext.monkeypatch(include_builtins=False)

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("SECRET_KEY", default="django-insecure-local-development-key-only")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "django_prometheus",
    "axes",
    "auditlog",
    "drf_spectacular_sidecar",
    "common",
    "maturity",
    "accounts",
    "surveys",
    "evidence",
    "actions",
    "campaigns",
    "trackers",
    "reports",
    "notifications",
    "console",
]

MIDDLEWARE = [
    "config.observability.RequestIdMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The signed-in person's time zone, from their session (accounts.zones).
    "accounts.zones.TimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes requires: locks out repeated failed logins.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Django's ModelBackend, also for an address typed in another case.
    "accounts.backends.AddressBackend",
    # Single sign-on (OpenID Connect); inert unless OIDC_ISSUER and OIDC_CLIENT_ID are set.
    "accounts.oidc.OIDCBackend",
]

# Single sign-on with an OpenID Connect provider (README, "Single sign-on"): the endpoints
# come from the issuer's discovery document (accounts.oidc).
OIDC_ISSUER = env("OIDC_ISSUER", default="")
OIDC_RP_CLIENT_ID = env("OIDC_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env("OIDC_CLIENT_SECRET", default="")
OIDC_RP_SIGN_ALGO = env("OIDC_SIGN_ALGO", default="RS256")
OIDC_RP_SCOPES = env("OIDC_SCOPES", default="openid email profile")
OIDC_ALLOWED_DOMAINS = env.list("OIDC_ALLOWED_DOMAINS", default=[])
OIDC_PROVIDER_NAME = env("OIDC_PROVIDER_NAME", default="single sign-on")
# The claim holding the person's groups, and which group makes them what in which team:
# "group=team-slug:role" pairs separated by commas (surveys.services.sso_memberships_sync).
OIDC_GROUPS_CLAIM = env("OIDC_GROUPS_CLAIM", default="groups")
OIDC_GROUP_TEAMS = env("OIDC_GROUP_TEAMS", default="")
OIDC_USE_PKCE = True
OIDC_TIMEOUT = 10
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc_authentication_callback"
LOGIN_REDIRECT_URL_FAILURE = "/accounts/login/"
# Off: only single sign-on signs people in (the password form and reset are gone).
PASSWORD_LOGIN = env.bool("PASSWORD_LOGIN", default=True)
# Five failed logins for one username from one address lock it for 15 minutes.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Count an address typed in any case as one username; single sign-on is not counted.
AXES_USERNAME_CALLABLE = "accounts.backends.lockout_username"
AXES_WHITELIST_CALLABLE = "accounts.backends.not_a_password_login"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_PROXY_COUNT = env.int("PROXY_COUNT", default=0)

# Content-Security-Policy: everything from our own origin, no inline scripts anywhere.
# Inline style *attributes* are allowed (charts size their elements with them); inline
# <style> elements and scripts are not.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                # show_campaigns: the menu's Campaigns link (one statement, when shown).
                "campaigns.context_processors.campaigns_menu",
                # A placeholder for the CSRF token in pages cached whole (common.cache).
                "common.context_processors.csrf_placeholder",
            ],
            # {% load times %}: the one way to show a time to people (config/times.py).
            "libraries": {"times": "common.times"},
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # runserver is threaded: take the write lock at BEGIN and wait for it, instead of
    # failing with "database is locked" when an autosave and a page POST overlap.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )
# Persistent connections on PostgreSQL (issue 17): a new connection per request forks a
# backend and costs more CPU than an autosave; with them, `benchmarks/load.py` measured the
# autosave's p50 after the arrivals at 44-58 ms instead of 62-245 ms in the same mix.
# Each gunicorn thread and Celery process keeps one: size max_connections for workers x
# threads + Celery + beat.
# Checked before reuse, so a restarted server costs one failed check, not an error.
_persistent = 0 if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" else 60
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=_persistent))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Argon2id first (OWASP's first choice; Django's parameters: 2 passes over 100 MiB): 0.19 s
# per sign-in here against 0.43 s of CPU for Django's default PBKDF2 with 1M iterations,
# which held 2 cores when 55 respondents signed in within 30 s (benchmarks/load.py). The
# other hashers verify existing hashes, which Django rehashes with Argon2 at the next sign-in.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
# A refused CSRF check answers JSON to scripts that asked for it (the survey autosave).
CSRF_FAILURE_VIEW = "config.csrf.csrf_failure"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "media/"  # not served: export files are downloaded through the API
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "exports": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
}
# Export job files (reports.models.ExportJob) in an S3-compatible bucket (django-storages)
# when EXPORT_S3_BUCKET is set; otherwise under MEDIA_ROOT/exports/. Credentials come from
# AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the machine's role), as boto3 reads them.
EXPORT_S3_BUCKET = env("EXPORT_S3_BUCKET", default="")
if EXPORT_S3_BUCKET:
    STORAGES["exports"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": EXPORT_S3_BUCKET,
            "endpoint_url": env("EXPORT_S3_ENDPOINT_URL", default=None),  # MinIO, R2, ...
            "region_name": env("EXPORT_S3_REGION", default=None),
            "location": env("EXPORT_S3_PREFIX", default=""),
            "default_acl": "private",
            "file_overwrite": False,
        },
    }

REDIS_URL = env("REDIS_URL", default="")
# Shared cache, so that API throttles count across processes: Redis when configured.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# Sessions read from the shared cache first (a database read per request saved, measured in
# benchmarks/reports.py), written through to the database. Only with Redis: a per-process
# cache would keep a session alive in other processes after a log-out.
# Report pages cached whole per reader under the data revision (common.revisions): only
# with a cache all processes share, since a write renews the revision in that cache.
PAGE_REVISIONS = env.bool("PAGE_REVISIONS", default=bool(REDIS_URL))

SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db"
    if REDIS_URL
    else "django.contrib.sessions.backends.db"
)

# Celery: Redis when a broker URL is configured, otherwise tasks run eagerly in-process.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
# Seconds: the longest countdown before a retry of an aggregation task (reports.tasks; the
# backoff doubles from 2 s up to this), and the slack recovery allows beyond every bound
# (clock skew, process start-up, beat's own one-minute period).
AGGREGATION_RETRY_BACKOFF_MAX = env.int("AGGREGATION_RETRY_BACKOFF_MAX", default=120)
AGGREGATION_RECOVERY_MARGIN = env.int("AGGREGATION_RECOVERY_MARGIN", default=60)
# A late-acked message stays unacknowledged in Redis while it waits for its countdown (at
# most AGGREGATION_RETRY_BACKOFF_MAX; a coalescing run waits 1 s) and while it runs (at most
# CELERY_TASK_TIME_LIMIT). Redis hands it to another worker once it has been unacknowledged
# for the visibility timeout, so a timeout at or below the hard limit would start a second
# copy of a run that is still legitimately running; one far above it (Celery's default is an
# hour) leaves a dead worker's task waiting that long. Default: 300 + 120 + 60 = 480 s.
# reports.tasks.recover_stuck_runs fails and re-enqueues runs that outlive these bounds.
_visibility_timeout = env.int(
    "CELERY_VISIBILITY_TIMEOUT",
    default=CELERY_TASK_TIME_LIMIT + AGGREGATION_RETRY_BACKOFF_MAX + AGGREGATION_RECOVERY_MARGIN,
)
if _visibility_timeout <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured(
        f"CELERY_VISIBILITY_TIMEOUT ({_visibility_timeout} s) must exceed CELERY_TASK_TIME_LIMIT"
        f" ({CELERY_TASK_TIME_LIMIT} s), or Redis redelivers tasks that are still running. Leave"
        " it unset to get the time limit + retry backoff + margin."
    )
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": _visibility_timeout}
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE

REST_FRAMEWORK = {
    # Token first: a refused token answers 401 with WWW-Authenticate (reports.authentication).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "reports.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "common.api.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "reports.api.schema.ApiAutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["common.api.SafeFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "common.api.Cursor",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "common.api.api_exception_handler",
    # Per user (per address when anonymous) and per token, in one Redis round trip.
    "DEFAULT_THROTTLE_CLASSES": ["common.api.ApiRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": env("API_THROTTLE_USER", default="6000/min"),
        "anon": env("API_THROTTLE_ANON", default="60/min"),
        "token": env("API_THROTTLE_TOKEN", default="3000/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MLOps maturity assessment API",
    "DESCRIPTION": (
        "Surveys, responses, scores, recommendations and exports. Authenticate with "
        "`Authorization: Token <key>` (keys from `manage.py create_api_token <username>`) "
        'or a browser session. Errors are JSON: `{"detail": ..., "code": ...}`, or '
        '`{"field": ["message", ...]}` for invalid input. Lists use cursor pagination '
        "(`next`/`previous` links, `page_size` up to 1000)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "SurveyStatusEnum": "surveys.models.Survey.Status",
        "RunStatusEnum": "reports.models.AggregationRun.Status",
        "ActionStatusEnum": "actions.models.Action.Status",
    },
}

# Logs: one JSON object per line (LOG_FORMAT=json, the default outside local development)
# with the request id of the request being served; LOG_FORMAT=plain for humans.
LOG_FORMAT = env("LOG_FORMAT", default="json")
LOGGING: dict[str, Any] = {  # logging.config.dictConfig's schema
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.observability.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "config.observability.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT if LOG_FORMAT in ("json", "plain") else "json",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# /metrics: Prometheus text format, for a bearer of METRICS_TOKEN or, without a token,
# for requests from METRICS_ALLOWED_IPS only.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])

# E-mail: invitations and reminders. EMAIL_URL like smtp+tls://user:pass@host:587 (console
# backend by default: mails are printed).
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="MLOps maturity <maturity@localhost>")
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")
REMINDER_DAYS_BEFORE_CLOSE = env.int("REMINDER_DAYS_BEFORE_CLOSE", default=3)
# Open sign-up at /accounts/signup/ (off: accounts come from invitations, imports, SSO).
ALLOW_SIGNUP = env.bool("ALLOW_SIGNUP", default=False)
# A lead's "send a reminder now" goes at most once per survey in this many hours.
REMINDER_MANUAL_INTERVAL_HOURS = env.int("REMINDER_MANUAL_INTERVAL_HOURS", default=24)

# Directory of framework files loaded by `make run` and the demo.
FRAMEWORKS_DIR = BASE_DIR / "maturity" / "frameworks"

# Seconds between refreshes of the question health of open surveys (beat).
QUESTION_HEALTH_SECONDS = env.float("QUESTION_HEALTH_SECONDS", default=1800.0)
# Teams (with two answers or more) a question's within-team agreement needs before a low
# value flags it "ambiguous" (maturity.quality.Thresholds.agreement_min_teams).
QUESTION_HEALTH_MIN_TEAMS = env.int("QUESTION_HEALTH_MIN_TEAMS", default=5)

# Evidence uploads (issue 16): an archive or manifest over a limit is refused with a 400
# naming it, before anything is stored. Uploaded archives are read as a stream, never
# extracted; only paths, sha256 and the small configuration files are kept.
EVIDENCE_MAX_COMPRESSED_BYTES = env.int("EVIDENCE_MAX_COMPRESSED_BYTES", default=50 * 1024**2)
EVIDENCE_MAX_EXPANDED_BYTES = env.int("EVIDENCE_MAX_EXPANDED_BYTES", default=500 * 1024**2)
EVIDENCE_MAX_ENTRIES = env.int("EVIDENCE_MAX_ENTRIES", default=100_000)

# Exports (issue 17). A synchronous export (GET /api/v1/exports/answers/ and scores/) of
# more rows than this, estimated before streaming, is refused with a 413 that points to
# export jobs (POST /api/v1/exports/), which a worker writes into a file: at 50k rows/s for
# XLSX, the slowest format, 500,000 rows take ~10 s, well inside gunicorn's timeout.
EXPORT_SYNC_MAX_ROWS = env.int("EXPORT_SYNC_MAX_ROWS", default=500_000)
# Seconds a job's file is kept after it is written; beat deletes it after that.
EXPORT_FILE_SECONDS = env.int("EXPORT_FILE_SECONDS", default=24 * 3600)
# Seconds a signed download URL (GET /api/v1/exports/{id}/) stays valid.
EXPORT_DOWNLOAD_URL_SECONDS = env.int("EXPORT_DOWNLOAD_URL_SECONDS", default=3600)

# Webhooks and the weekly digest (notifications; README, "Webhooks and the weekly digest").
# Off (the default): a webhook may only send to public internet addresses, checked at
# registration, at each attempt and at each redirect (common.ssrf). Local
# development and the tests turn it on, to send to 127.0.0.1.
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=False)
# Failed deliveries in a row (retries exhausted, or refused for good) that disable a webhook.
WEBHOOK_DISABLE_AFTER_FAILURES = env.int("WEBHOOK_DISABLE_AFTER_FAILURES", default=10)
# Days the delivery log is kept (beat prunes it daily).
WEBHOOK_LOG_DAYS = env.int("WEBHOOK_LOG_DAYS", default=30)
# Attempts per delivery, and the first retry's wait in seconds (each next one 4x longer,
# +-20 %: 30 s, 2 min, 8 min, 32 min, ~2 h); a receiver's Retry-After is obeyed up to the max.
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=6)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=30.0)
WEBHOOK_RETRY_AFTER_MAX_SECONDS = env.float("WEBHOOK_RETRY_AFTER_MAX_SECONDS", default=3600.0)
# Seconds to connect, and to wait for each read of the answer.
WEBHOOK_CONNECT_TIMEOUT = env.float("WEBHOOK_CONNECT_TIMEOUT", default=5.0)
WEBHOOK_READ_TIMEOUT = env.float("WEBHOOK_READ_TIMEOUT", default=10.0)
# A CA bundle (PEM file) to verify receivers' certificates with; empty: certifi's.
WEBHOOK_CA_BUNDLE = env("WEBHOOK_CA_BUNDLE", default="")
# Campaigns (issue 19): campaign.deadline_near is published once per campaign when its due
# date is this many days away or fewer and some team does not meet the goal yet.
CAMPAIGN_DEADLINE_NEAR_DAYS = env.int("CAMPAIGN_DEADLINE_NEAR_DAYS", default=14)
# Issue trackers (issue 19, the trackers app). Tracker credentials are stored encrypted with
# these Fernet keys, comma-separated: the first encrypts, every one decrypts, so a key is
# rotated by putting a new one first (README, "Issue trackers"). Not SECRET_KEY: rotating
# one must not lose the other. Empty: no connection can be created (trackers.W001).
TRACKER_ENCRYPTION_KEY = env("TRACKER_ENCRYPTION_KEY", default="")
# The fixed, public key local development and the tests use (never production's).
DEV_TRACKER_ENCRYPTION_KEY = "bG9jYWwtZGV2LXRyYWNrZXIta2V5LW5vdC1zZWNyZXQ="
# Off (the default): a tracker's API address must resolve to public internet addresses only,
# checked when a connection is saved and at every request (common.ssrf); local development
# and the tests turn it on (the tests' fake trackers listen on 127.0.0.1).
TRACKER_ALLOW_PRIVATE = env.bool("TRACKER_ALLOW_PRIVATE", default=False)
# Minutes between polls of the trackers for the state of pushed issues (beat).
TRACKER_POLL_MINUTES = env.float("TRACKER_POLL_MINUTES", default=15.0)

CELERY_BEAT_SCHEDULE = {
    "reconcile-scores": {
        "task": "reports.tasks.reconcile_scores",
        "schedule": env.float("RECONCILE_SECONDS", default=60.0),
    },
    "recover-stuck-runs": {"task": "reports.tasks.recover_stuck_runs", "schedule": 60.0},
    "notify-overdue-actions": {"task": "actions.tasks.notify_overdue_actions", "schedule": 3600.0},
    "close-due-surveys": {"task": "surveys.tasks.close_due_surveys", "schedule": 60.0},
    "send-reminders": {"task": "surveys.tasks.send_reminders", "schedule": 15 * 60.0},
    # Question health of open surveys whose answers changed (reports.health); closed
    # surveys get theirs from the survey-wide run at the close.
    "refresh-question-health": {
        "task": "reports.tasks.refresh_question_health",
        "schedule": QUESTION_HEALTH_SECONDS,
    },
    # Evidence snapshots left pending by a lost message or a broker outage are queued again.
    "process-pending-snapshots": {
        "task": "evidence.tasks.process_pending_snapshots",
        "schedule": 300.0,
    },
    # Verdicts age with their evidence (fresh_days): re-score open rounds with evidence daily.
    "refresh-evidence-verdicts": {
        "task": "reports.tasks.refresh_evidence_verdicts",
        "schedule": env.float("EVIDENCE_REFRESH_SECONDS", default=86400.0),
    },
    # Export job files past EXPORT_FILE_SECONDS are deleted from their storage.
    "delete-expired-exports": {
        "task": "reports.tasks.delete_expired_exports",
        "schedule": env.float("EXPORT_CLEANUP_SECONDS", default=900.0),
    },
    # Webhook retries too long to wait in the broker, and deliveries whose message was lost.
    "enqueue-due-webhook-deliveries": {
        "task": "notifications.tasks.enqueue_due_deliveries",
        "schedule": 60.0,
    },
    "prune-webhook-deliveries": {
        "task": "notifications.tasks.prune_deliveries",
        "schedule": 86400.0,
    },
    # Mondays at 07:00 in CELERY_TIMEZONE (the deployment's TIME_ZONE, UTC by default).
    "weekly-digest": {
        "task": "notifications.tasks.send_weekly_digest",
        "schedule": crontab(minute="0", hour="7", day_of_week="1"),
    },
    # Campaigns: progress recomputed (team tree changes: moves, archived teams), then
    # campaign.deadline_near for those due within CAMPAIGN_DEADLINE_NEAR_DAYS.
    "campaigns-daily": {"task": "reports.tasks.campaigns_daily", "schedule": 86400.0},
    # The state of issues pushed to trackers: closed -> done (trackers.services).
    "poll-trackers": {
        "task": "trackers.tasks.poll_trackers",
        "schedule": TRACKER_POLL_MINUTES * 60.0,
    },
}
