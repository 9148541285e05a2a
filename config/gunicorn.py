"""gunicorn settings: `gunicorn -c config/gunicorn.py config.wsgi` (what the container runs).

Every value can be overridden from the environment, so one image fits any machine size.
"""

from __future__ import annotations

import json
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", min(2 * multiprocessing.cpu_count() + 1, 9)))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))  # exports stream; keep above a chunk
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Workers are not recycled, and the app is imported once, in the master, before the workers
# fork (issue 17; `benchmarks/load.py --recycling`, BENCHMARKS.md "Worker recycling"). Each
# restart closes the worker's keep-alive connections: with a restart every ~20 s per worker,
# wrk counted 16-19 socket read errors in 45 s (and 8 timeouts without preloading), none
# without restarts; memory stayed flat without them (RSS of all processes 1,030 -> 1,069 MB
# over 45 s at 55 requests/s). Preloading shares the imported Django, pandas, pyarrow and
# scipy pages between workers (838-941 MB for the master and 4 workers against
# 1,030-1,129 MB) and makes a replacement worker (after a timeout or a crash) a fork, not 2 s
# of imports. Set GUNICORN_MAX_REQUESTS to recycle anyway (say, against a leak in a library).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", str(max_requests // 10)))
preload_app = os.environ.get("GUNICORN_PRELOAD_APP", "true").lower() in {"1", "true", "yes"}
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# One JSON object per request, with the request id the app sets (X-Request-ID).
access_log_format = json.dumps(
    {
        "time": "%(t)s",
        "level": "INFO",
        "logger": "gunicorn.access",
        "remote": "%(h)s",
        "method": "%(m)s",
        "path": "%(U)s",
        "query": "%(q)s",
        "status": "%(s)s",
        "bytes": "%(B)s",
        "duration_ms": "%(M)s",
        "request_id": "%({x-request-id}o)s",
        "user_agent": "%(a)s",
    }
)
