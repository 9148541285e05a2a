"""Benchmark the report pages beside the cached scores API page, over HTTP (gunicorn).

    .venv/bin/python benchmarks/reports.py                 # 200- and 1,000-team rounds
    .venv/bin/python benchmarks/reports.py --teams 1000    # one size

For each size, a round of framework v2 (13 dimensions) is generated with ``--respondents``
submitted responses per team, teams under 20 parent teams (so roll-ups exist), scored by
one survey-wide run; an admin and a manager of one team get a session. gunicorn serves
with config/gunicorn.py (its workers and threads). Measured, in one run:

- serially (one client): the cached scores API page (the baseline: one page of 100 teams
  of JSON, from the cache), the team report and organisation page as an admin and as the
  manager of one team, and the heatmap data; median, p95 and bytes;
- with 8 concurrent clients (wrk, keep-alive): p50, p95, p99 and requests/s of the same;
- with 8 clients again, the team report and organisation pages while the data revision
  is renewed every ``--renew-every`` seconds (as any write elsewhere renews it: the
  whole-page cache then misses and pages are built from their versioned fragments);
- in-process, what a page costs when its cache is cold (the first view after a scoring
  run): building the team report and the organisation page (selectors and template).

Prints markdown tables (BENCHMARKS.md records them).

Environment:
    BENCH_DATABASE_URL  the benchmark's own PostgreSQL database (default
                        postgres://postgres@127.0.0.1:5432/mlops_bench_reports); created and
                        marked when missing, refused without the mark (it is truncated).
    BENCH_PORT          the port gunicorn serves on (default 8765).
    BENCH_REDIS_URL     the Redis database of the web processes' cache, sessions and queue
                        (default redis://127.0.0.1:6379/12); claimed when empty, emptied
                        before and after.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mlops_bench_reports"
)
BENCH_REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")

from harness import (  # noqa: E402
    BIN,
    HOST,
    ROOT,
    bench_port,
    claim_redis,
    empty_redis,
    generate_survey,
    machine,
    median,
    p95,
    require_free_port,
    setup_django,
    table,
    truncate_surveys,
    vacuum,
    wait_until_serving,
)

PORT = bench_port()
PARENTS = 20
CLIENTS = 8
# wrk prints these percentiles (ms) and the request rate, one per line, when it is done.
WRK_SCRIPT = """
local headers = {}
init = function(args)
  for _, header in ipairs(args) do
    local name, value = header:match("^([^:]+): (.*)$")
    headers[name] = value
  end
end
request = function()
  return wrk.format("GET", nil, headers)
end
done = function(summary, latency, requests)
  io.write(string.format("p50 %.3f\\n", latency:percentile(50) / 1000))
  io.write(string.format("p95 %.3f\\n", latency:percentile(95) / 1000))
  io.write(string.format("p99 %.3f\\n", latency:percentile(99) / 1000))
  io.write(string.format("rps %.1f\\n", summary.requests / (summary.duration / 1e6)))
  io.write(string.format("errors %d\\n", summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.status + summary.errors.timeout))
end
"""


def build_round(teams: int, respondents: int, seed: int):  # type: ignore[no-untyped-def]
    """Generate and score a round of ``teams`` teams; return the survey and the seconds."""
    from maturity.models import Framework
    from reports.services import aggregate
    from surveys.models import Team

    truncate_surveys()
    if not Framework.objects.filter(slug="mlops", version=2).exists():
        from django.core.management import call_command

        frameworks = ROOT / "maturity" / "frameworks"
        call_command(
            "load_framework", str(frameworks / "mlops.yaml"), str(frameworks / "mlops-v2.yaml")
        )
    framework = Framework.objects.get(slug="mlops", version=2)
    survey, _, answers, _ = generate_survey(framework, teams, respondents, seed, probe=False)
    parents = Team.objects.bulk_create(
        Team(slug=f"group-{i}", name=f"Group {i}") for i in range(PARENTS)
    )
    ids = sorted(Team.objects.filter(slug__regex=r"^t\d+$").values_list("id", flat=True))
    for index, parent in enumerate(parents):
        Team.objects.filter(id__in=ids[index::PARENTS]).update(parent=parent)
    started = time.perf_counter()
    aggregate(survey=survey)
    seconds = time.perf_counter() - started
    vacuum("reports_teamscore", "reports_dimensionscore", "reports_questionscore")
    print(f"{teams} teams: {answers:,} answers, survey-wide scoring run {seconds:.1f} s")
    return survey


def sessions(survey) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Return the session cookies of an admin and of the manager of one team (t0), and an
    API key of the admin."""
    from django.contrib.auth.models import User
    from django.test import Client

    from reports.authentication import api_token_create
    from surveys.models import Membership, Team

    User.objects.filter(username__in=["bench-admin", "bench-manager"]).delete()
    admin = User.objects.create_user("bench-admin", is_staff=True, is_superuser=True)
    manager = User.objects.create_user("bench-manager")
    Membership.objects.create(user=manager, team=Team.objects.get(slug="t0"), role="manager")
    cookies = {}
    for name, user in (("admin", admin), ("manager", manager)):
        client = Client()
        client.force_login(user)
        cookies[name] = f"sessionid={client.cookies['sessionid'].value}"
    _, key = api_token_create(user=admin, name="bench")
    cookies["token"] = key
    return cookies


def endpoints(survey, cookies: dict[str, str]) -> list[tuple[str, str, dict[str, str]]]:  # type: ignore[no-untyped-def]
    admin = {"Cookie": cookies["admin"]}
    manager = {"Cookie": cookies["manager"]}
    return [
        (
            "scores API page (cached, baseline)",
            f"/api/v1/surveys/{survey.pk}/scores/",
            {"Authorization": f"Token {cookies['token']}"},
        ),
        ("team report, admin", f"/reports/teams/t5/?survey={survey.pk}", admin),
        ("team report, manager of one team", f"/reports/teams/t0/?survey={survey.pk}", manager),
        ("org page, admin", f"/reports/?survey={survey.pk}", admin),
        ("org page, admin, sorted by score", f"/reports/?survey={survey.pk}&sort=score", admin),
        ("org page, manager of one team", f"/reports/?survey={survey.pk}", manager),
        ("heatmap data, admin (all teams)", f"/reports/heatmap.json?survey={survey.pk}", admin),
    ]


def serve() -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": os.environ["BENCH_DATABASE_URL"],
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "CONN_MAX_AGE": os.environ.get("CONN_MAX_AGE", "60"),  # as in production
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "GUNICORN_ACCESS_LOG": "/dev/null",
        "GUNICORN_BIND": f"{HOST}:{PORT}",
        "REDIS_URL": BENCH_REDIS,
        "CELERY_BROKER_URL": BENCH_REDIS,
        "API_THROTTLE_USER": "1000000/min",
        "API_THROTTLE_TOKEN": "1000000/min",
    }
    require_free_port(PORT)
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi"], cwd=ROOT, env=env
    )
    wait_until_serving(process, PORT)
    return process


def get(connection: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> int:
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"{path}: {response.status} {body[:200]!r}")
    return len(body)


def serial(path: str, headers: dict[str, str], runs: int) -> tuple[list[float], int]:
    connection = http.client.HTTPConnection(HOST, PORT, timeout=60)
    size = 0
    for _ in range(3):  # warm: the first view fills the cache
        size = get(connection, path, headers)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        get(connection, path, headers)
        times.append(time.perf_counter() - started)
    connection.close()
    return times, size


def concurrent(path: str, headers: dict[str, str], seconds: int, script: Path) -> dict[str, float]:
    command = [
        "wrk",
        f"-c{CLIENTS}",
        "-t2",
        f"-d{seconds}s",
        "--timeout",
        "30s",
        "-s",
        str(script),
        f"http://{HOST}:{PORT}{path}",
        "--",
        *[f"{name}: {value}" for name, value in headers.items()],
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return {name: float(value) for name, value in re.findall(r"^(\w+) ([\d.]+)$", output, re.M)}


@contextmanager
def renewing_revision(every: float) -> Iterator[None]:
    """Renew the web processes' data revision (common.revisions) every ``every`` seconds,
    as writes elsewhere do (what any committed write does to the cached pages)."""
    from django.core.cache.backends.redis import RedisCache

    from common.revisions import REVISION_KEY

    shared = RedisCache(BENCH_REDIS, {})
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(every):
            shared.set(REVISION_KEY, secrets.token_hex(8), None)

    thread = threading.Thread(target=renew, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def cold_builds(survey, runs: int) -> list[list[str]]:  # type: ignore[no-untyped-def]
    """What the first view after a scoring run costs: the pages' bodies built in-process."""
    from django.contrib.auth.models import User
    from django.template.loader import render_to_string
    from django.test import RequestFactory

    from reports import selectors, services
    from surveys.models import Team

    admin = User.objects.get(username="bench-admin")
    team = Team.objects.get(slug="t5")
    request = RequestFactory().get("/reports/")
    request.user = admin

    def team_body() -> None:
        report = selectors.team_report(survey, team, services.current_figures(survey))
        render_to_string(
            "reports/_team_body.html", {"report": report, "chart": report.chart_data()}
        )

    def org_body() -> None:
        report = selectors.org_report(survey, admin, None, services.current_figures(survey))
        render_to_string(
            "reports/_org_body.html", {"report": report, "params": request.GET, "user": admin}
        )

    def figures() -> None:
        services.survey_figures_refresh(survey)

    rows = []
    for name, action in (
        ("survey-wide figures (worker, once per run)", figures),
        ("team report body, uncached", team_body),
        ("org page body (admin), uncached", org_body),
    ):
        action()
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            action()
            times.append(time.perf_counter() - started)
        rows.append([name, f"{median(times) * 1000:.1f} ms", f"{p95(times) * 1000:.1f} ms"])
    return rows


def load_cells(load: dict[str, float], baseline: float) -> list[str]:
    """The table's cells of one wrk run: p50, p95, p99, requests/s, p95 / the API's, errors."""
    return [
        f"{load['p50']:.1f}",
        f"{load['p95']:.1f}",
        f"{load['p99']:.1f}",
        f"{load['rps']:.0f}",
        f"{load['p95'] / baseline:.1f}x",
        f"{load['errors']:.0f}",
    ]


def measure(teams: int, options: argparse.Namespace, script: Path) -> None:
    survey = build_round(teams, options.respondents, options.seed)
    cookies = sessions(survey)
    process = serve()
    try:
        rows = []
        baseline = None
        for name, path, headers in endpoints(survey, cookies):
            times, size = serial(path, headers, options.runs)
            load = concurrent(path, headers, options.seconds, script)
            baseline = baseline or load["p95"]
            rows.append(
                [
                    name,
                    f"{size / 1024:.1f} KB",
                    f"{median(times) * 1000:.1f}",
                    f"{p95(times) * 1000:.1f}",
                    *load_cells(load, baseline),
                ]
            )
        # While writes land elsewhere (autosaves, scoring runs), every write renews the data
        # revision, and a page is rebuilt from its versioned fragments on its next view.
        for name, path, headers in endpoints(survey, cookies)[1:4]:
            with renewing_revision(options.renew_every):
                load = concurrent(path, headers, options.seconds, script)
            renewed = f"{name}, revision renewed every {options.renew_every * 1000:.0f} ms"
            rows.append([renewed, "", "", "", *load_cells(load, baseline)])
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    print(f"\n### {teams} teams, {options.respondents} respondents each\n")
    print(
        table(
            [
                "page",
                "bytes",
                "serial median ms",
                "serial p95 ms",
                f"{CLIENTS} clients p50 ms",
                "p95 ms",
                "p99 ms",
                "req/s",
                "p95 / API p95",
                "errors",
            ],
            rows,
        )
    )
    print()
    print(table(["cold (in-process)", "median", "p95"], cold_builds(survey, options.cold_runs)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--teams", type=int, action="append")
    parser.add_argument("--respondents", type=int, default=5)
    parser.add_argument("--runs", type=int, default=100, help="serial requests per page")
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per page")
    parser.add_argument("--cold-runs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--renew-every",
        type=float,
        default=0.1,
        help="seconds between data revision renewals in the 'while writes land' rows",
    )
    options = parser.parse_args()
    setup_django()
    redis_client = claim_redis(BENCH_REDIS)
    empty_redis(redis_client)
    print(machine())
    print(f"gunicorn: config/gunicorn.py; {CLIENTS} concurrent clients by wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_SCRIPT)
        script.flush()
        try:
            for teams in options.teams or [200, 1000]:
                measure(teams, options, Path(script.name))
        finally:
            empty_redis(redis_client)


if __name__ == "__main__":
    sys.exit(main())
