"""Load and soak test on loopback: gunicorn + a Celery worker + PostgreSQL + Redis.

    .venv/bin/python benchmarks/load.py --users 50 --seconds 60

It builds a dedicated database (BENCH_LOAD_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/mlops_bench_load) with the MLOps framework, 20 teams
and one member per virtual respondent, starts gunicorn and a worker on this machine, and
drives a realistic mix for a bounded time: respondents autosave answers page by page and
submit, managers open team and organisation reports, an admin exports scores. Traffic goes
to 127.0.0.1 only. It prints throughput, p50/p95/p99 and errors per endpoint, and checks
that every acknowledged submission is in the database.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/mlops_bench_load"
PASSWORD = "load-test-pass-2026"  # noqa: S105 - throwaway users of a throwaway database


def setup(url: str, users: int) -> dict:
    """Create the database content; return ids the clients need."""
    os.environ["BENCH_DATABASE_URL"] = url
    from harness import setup_django

    setup_django()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from surveys.models import Membership, Survey, Team

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE surveys_answer, surveys_response, reports_teamrecommendation,"
            " reports_questionscore, reports_dimensionscore, reports_teamscore,"
            " reports_aggregationrun, surveys_survey_teams, surveys_invitation, surveys_reminder,"
            " surveys_survey, surveys_membership, surveys_dimensiontarget, surveys_team,"
            " axes_accessattempt, axes_accessfailurelog, auth_user CASCADE"
        )
    call_command("load_framework", str(ROOT / "maturity/frameworks/mlops.yaml"), verbosity=0)
    from maturity.models import Framework

    framework = Framework.objects.get(slug="mlops")
    model = get_user_model()
    teams = [Team.objects.create(slug=f"team-{i}", name=f"Team {i}") for i in range(20)]
    survey = Survey.objects.create(
        title="Load test",
        framework=framework,
        status="open",
        opens_at=timezone.now() - timezone.timedelta(days=1),
        closes_at=timezone.now() + timezone.timedelta(days=30),
    )
    survey.teams.set(teams)
    respondents = []
    for i in range(users):
        user = model.objects.create_user(f"member{i}", f"member{i}@example.com", PASSWORD)
        team = teams[i % len(teams)]
        Membership.objects.create(user=user, team=team)
        respondents.append((user.username, team.slug))
    managers = []
    for i in range(4):
        user = model.objects.create_user(f"manager{i}", f"manager{i}@example.com", PASSWORD)
        for team in teams[i * 5 : i * 5 + 5]:
            Membership.objects.create(user=user, team=team, role="manager")
        managers.append((user.username, teams[i * 5].slug))
    model.objects.create_superuser("admin", "admin@example.com", PASSWORD)
    dimensions = list(framework.dimensions.order_by("order").prefetch_related("questions"))
    pages = [(d.key, [q.key for q in d.questions.all()]) for d in dimensions]
    return {"survey": survey.pk, "respondents": respondents, "managers": managers, "pages": pages}


class Client:
    """A logged-in browser-like client over one keep-alive connection."""

    def __init__(self, port: int, stats: dict, lock: threading.Lock) -> None:
        self.port, self.stats, self.lock = port, stats, lock
        self.cookies: dict[str, str] = {}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(
        self,
        name: str,
        method: str,
        path: str,
        body: dict | None = None,
        headers: dict | None = None,
    ) -> tuple[int, str, dict]:
        data = urllib.parse.urlencode(body or {}, doseq=True) if body is not None else None
        sent = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if data is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
            sent["X-CSRFToken"] = self.cookies.get("csrftoken", "")
            sent["Referer"] = f"http://127.0.0.1:{self.port}{path}"
        sent.update(headers or {})
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=data, headers=sent)
            response = self.connection.getresponse()
            text = response.read().decode(errors="replace")
            status = response.status
        except (OSError, http.client.HTTPException) as error:
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            status, text, response = 0, str(error), None
        elapsed = time.perf_counter() - started
        for header in response.headers.get_all("Set-Cookie") or [] if response else []:
            key, _, rest = header.partition("=")
            self.cookies[key] = rest.split(";", 1)[0]
        with self.lock:
            self.stats[name]["times"].append(elapsed)
            if status == 0 or status >= 500 or status in (403, 404, 429):
                self.stats[name]["errors"] += 1
        return status, text, dict(response.headers) if response else {}

    def login(self, username: str) -> None:
        status, text, _ = self.request("login page", "GET", "/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', text).group(1)
        self.request(
            "login",
            "POST",
            "/accounts/login/",
            {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        )


def respondent(
    client: Client, plan: dict, username: str, team: str, stop: float, acknowledged: list
) -> None:
    client.login(username)
    survey = plan["survey"]
    rng = random.Random(username)  # noqa: S311
    while time.monotonic() < stop:
        for key, questions in plan["pages"]:
            path = f"/surveys/{survey}/{team}/d/{key}/"
            client.request("survey page", "GET", path)
            for question in questions:  # autosave after each answer, as autosave.js does
                answers = {f"q-{q}": str(rng.randint(0, 4)) for q in questions}
                client.request(
                    "autosave",
                    "POST",
                    f"{path}autosave/",
                    answers | {"focus": question},
                    headers={"Accept": "application/json"},
                )
                if time.monotonic() >= stop:
                    return
        status, _, headers = client.request(
            "submit", "POST", f"/surveys/{survey}/{team}/review/", {}
        )
        if status == 302 and "/done/" in headers.get("Location", ""):
            acknowledged.append(username)


def manager(client: Client, plan: dict, username: str, team: str, stop: float) -> None:
    client.login(username)
    while time.monotonic() < stop:
        client.request("team report", "GET", f"/reports/teams/{team}/?survey={plan['survey']}")
        client.request("org report", "GET", f"/reports/?survey={plan['survey']}")
        time.sleep(0.5)


def admin_export(client: Client, plan: dict, stop: float) -> None:
    client.login("admin")
    while time.monotonic() < stop:
        client.request("scores API", "GET", f"/api/v1/surveys/{plan['survey']}/scores/")
        client.request(
            "export scores csv",
            "GET",
            f"/api/v1/exports/scores/?survey={plan['survey']}&format=csv",
        )
        time.sleep(2)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="concurrent respondents")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    args = parser.parse_args()
    url = os.environ.get("BENCH_LOAD_DATABASE_URL", DEFAULT_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
    plan = setup(url, args.users)

    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "AXES_FAILURE_LIMIT": "1000",
        "GUNICORN_BIND": f"127.0.0.1:{args.port}",
        "GUNICORN_WORKERS": str(args.gunicorn_workers),
        "GUNICORN_THREADS": "4",
        "GUNICORN_ACCESS_LOG": "/dev/null",
        "API_THROTTLE_USER": "100000/min",
    }
    venv_bin = Path(sys.executable).parent
    subprocess.run(
        [str(venv_bin / "python"), "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    processes = [
        subprocess.Popen(
            [str(venv_bin / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
        ),
        subprocess.Popen(
            [
                str(venv_bin / "celery"),
                "-A",
                "config",
                "worker",
                "-c",
                "2",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,
        ),
    ]
    try:
        for _ in range(100):
            try:
                connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        stats: dict = defaultdict(lambda: {"times": [], "errors": 0})
        lock = threading.Lock()
        acknowledged: list[str] = []
        started = time.monotonic()
        stop = started + args.seconds
        threads = [
            threading.Thread(
                target=respondent,
                args=(Client(args.port, stats, lock), plan, u, t, stop, acknowledged),
            )
            for u, t in plan["respondents"]
        ]
        threads += [
            threading.Thread(
                target=manager, args=(Client(args.port, stats, lock), plan, u, t, stop)
            )
            for u, t in plan["managers"]
        ]
        threads.append(
            threading.Thread(target=admin_export, args=(Client(args.port, stats, lock), plan, stop))
        )
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        duration = time.monotonic() - started
        time.sleep(5)  # let the worker finish scoring

        from surveys.models import Response

        stored = Response.objects.filter(survey_id=plan["survey"]).exclude(status="draft").count()
        from harness import machine, table

        rows = []
        for name, entry in sorted(stats.items()):
            times = entry["times"]
            rows.append(
                [
                    name,
                    f"{len(times):,}",
                    f"{len(times) / duration:.1f}",
                    f"{statistics.median(times) * 1000:.0f}",
                    f"{percentile(times, 0.95):.0f}",
                    f"{percentile(times, 0.99):.0f}",
                    str(entry["errors"]),
                ]
            )
        print(f"Machine: {machine()}")
        print(
            f"{args.users} respondents + {len(plan['managers'])} managers + 1 admin for "
            f"{duration:.0f} s; gunicorn {args.gunicorn_workers} workers x 4 threads, "
            "1 Celery worker (2 processes)"
        )
        print()
        print(
            table(["endpoint", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"], rows)
        )
        print()
        print(
            f"submissions acknowledged: {len(acknowledged)}, stored (submitted or replaced): "
            f"{stored}, lost: {len(acknowledged) - stored}"
        )
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
