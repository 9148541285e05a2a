"""Load and soak test on loopback: gunicorn + a Celery worker + PostgreSQL + Redis.

    .venv/bin/python benchmarks/load.py --users 50 --seconds 60

It builds a dedicated database with the MLOps framework, 20 teams and one member per
virtual respondent, starts gunicorn and a worker on this machine, and drives a realistic
mix for a bounded time: respondents answer page by page, each answer autosaved as the
survey page's script sends it (that question, its comment and the page's respondent tag),
and submit; managers open team and organisation reports; an admin exports scores. Traffic
goes to 127.0.0.1 only. It prints throughput, p50/p95/p99 and errors per endpoint (an
error is any answer other than the one the request expects, e.g. a 422 to an autosave).

Then it checks submissions by identity, not by count: every acknowledged submission (its
respondent and team, the time between sending it and its answer, and the scores the
server had confirmed saving) must be exactly one stored response, submitted or
superseded, with those scores; every stored response must be one of those submissions;
and each respondent's counted response must be their latest. It names each missing,
duplicated, altered or unaccounted-for response, and exits with status 1 if there is any.

``--recycling SECONDS`` measures gunicorn's worker recycling instead (issue 17): after
the same setup, each member submits once and the survey is scored; then for each
recycling/preloading setting of config/gunicorn.py (GUNICORN_MAX_REQUESTS,
GUNICORN_MAX_REQUESTS_JITTER, GUNICORN_PRELOAD_APP) a fresh gunicorn serves the admin's
cached scores API page to wrk (8 keep-alive connections, ``/usr/bin/wrk``) for SECONDS,
while the script samples the server's memory (RSS of the master and its workers) and
counts worker restarts. It prints requests/s, p50/p99, wrk's socket errors, restarts and
RSS per setting.

Environment:
    BENCH_LOAD_DATABASE_URL  the benchmark's own PostgreSQL database (default
                             postgres://postgres@127.0.0.1:5432/mlops_bench_load). Created
                             and marked when missing (its comment starts with
                             "mlops-benchmark"); any database without that mark is refused,
                             because the script truncates its survey and user tables.
    BENCH_PORT               the port gunicorn serves on, on 127.0.0.1 (default 8765;
                             --port overrides it); the script stops with a message when
                             something already listens there.
    BENCH_REDIS_URL          the Redis database of the web processes and the worker (Celery
                             broker and cache; default redis://127.0.0.1:6379/12). Claimed
                             when empty (a "mlops-benchmark:claimed" key), emptied before and
                             after the run; a database holding other keys is refused.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
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
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    BIN,
    HOST,
    ROOT,
    bench_port,
    claim_redis,
    empty_redis,
    port_number,
    require_free_port,
    setup_django,
    wait_until_serving,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/mlops_bench_load"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
PASSWORD = "load-test-pass-2026"  # noqa: S105 - throwaway users of a throwaway database
# The survey page's respondent tag, which autosave.js sends back with every save.
RESPONDENT_TAG = re.compile(r'data-respondent="([^"]*)"')
# Slack (seconds) around a submit request's window when matching its stored response: the
# client and the server read the same clock, so this only absorbs rounding.
WINDOW_SLACK = 0.05
SHOWN = 10  # problems listed by identity, per kind


def setup(users: int) -> dict:
    """Create the database content; return ids the clients need.

    Only on the benchmark's own database: setup_django refused any other before this
    truncates it.
    """
    setup_django("BENCH_LOAD_DATABASE_URL", DEFAULT_URL)
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

    def __init__(
        self, port: int, stats: dict, lock: threading.Lock, autosave_port: int | None = None
    ) -> None:
        self.port, self.stats, self.lock = port, stats, lock
        # Autosaves go to their own pool when there is one (see --autosave-workers).
        self.autosave_port = autosave_port or port
        self.cookies: dict[str, str] = {}
        self.connections: dict[int, http.client.HTTPConnection] = {}

    def request(
        self,
        name: str,
        method: str,
        path: str,
        body: dict | None = None,
        headers: dict | None = None,
        expect: int = 200,
    ) -> tuple[int, str, dict]:
        """Send one request; return status (0: no answer), body text and headers.

        An answer other than ``expect`` counts as an error of ``name``.
        """
        data = urllib.parse.urlencode(body or {}, doseq=True) if body is not None else None
        sent = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if data is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
            sent["X-CSRFToken"] = self.cookies.get("csrftoken", "")
            sent["Referer"] = f"http://{HOST}:{self.port}{path}"
        sent.update(headers or {})
        port = self.autosave_port if name == "autosave" else self.port
        started = time.perf_counter()
        # A keep-alive connection the server closed while idle (gunicorn's keepalive, 5 s:
        # with two pools a client's page connection idles while it autosaves) fails before
        # any answer; a browser then sends the request again on a new connection, once.
        for attempt in range(2):
            reused = port in self.connections
            connection = self.connections.setdefault(
                port, http.client.HTTPConnection(HOST, port, timeout=60)
            )
            try:
                connection.request(method, path, body=data, headers=sent)
                response = connection.getresponse()
                text = response.read().decode(errors="replace")
                status = response.status
                break
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                del self.connections[port]
                status, text, response = 0, str(error), None
                stale = isinstance(
                    error, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
                )
                if not (reused and stale and attempt == 0):
                    break
        elapsed = time.perf_counter() - started
        for header in response.headers.get_all("Set-Cookie") or [] if response else []:
            key, _, rest = header.partition("=")
            self.cookies[key] = rest.split(";", 1)[0]
        problem = None if status == expect else str(status) if status else "no answer"
        self.record(name, elapsed, problem, started)
        return status, text, dict(response.headers) if response else {}

    def record(
        self, name: str, elapsed: float | None, problem: str | None, started: float = 0.0
    ) -> None:
        """Count a request's time (if given; sent at ``started``, perf_counter seconds) and,
        when ``problem`` is set, an error."""
        with self.lock:
            entry = self.stats[name]
            if elapsed is not None:
                entry["times"].append(elapsed)
                entry["sent"].append(started)
            if problem is not None:
                entry["errors"] += 1
                entry["unexpected"][problem] += 1

    def login(self, username: str) -> bool:
        """Sign in through the login form; return whether it worked."""
        _, text, _ = self.request("login page", "GET", "/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', text)
        if token is None:
            return False
        status, _, _ = self.request(
            "login",
            "POST",
            "/accounts/login/",
            {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
            expect=302,
        )
        return status == 302


@dataclass(frozen=True)
class Attempt:
    """One submit request of a respondent: who, when (epoch seconds), how it ended, and
    the scores the server had confirmed saving in the draft, by question key."""

    respondent: str
    team: str
    sent: float
    answered: float
    outcome: str  # "acknowledged"; "refused" (a definite no); "unknown" (no answer, 5xx)
    answers: dict[str, int]

    def __str__(self) -> str:
        return (
            f"{self.respondent}@{self.team}, submit sent {_clock(self.sent)}, "
            f"answered {_clock(self.answered)} ({self.outcome})"
        )


@dataclass(frozen=True)
class Stored:
    """A stored submission: a submitted or superseded response with its scores by key."""

    response_id: int
    respondent: str
    team: str
    status: str
    submitted_at: float  # epoch seconds
    answers: dict[str, int | None]

    def __str__(self) -> str:
        return (
            f"response {self.response_id} ({self.respondent}@{self.team}, {self.status}, "
            f"submitted {_clock(self.submitted_at)})"
        )


@dataclass
class Reconciliation:
    """What reconcile found; ``found`` counts acknowledged submissions stored as sent."""

    found: int = 0
    compared: int = 0  # answers compared in the found submissions
    missing: list[Attempt] = field(default_factory=list)
    duplicated: list[tuple[Attempt, list[Stored]]] = field(default_factory=list)
    altered: list[tuple[Attempt, Stored, list[str]]] = field(default_factory=list)
    unanswered_but_stored: list[tuple[Attempt, Stored]] = field(default_factory=list)
    unaccounted: list[Stored] = field(default_factory=list)
    counted: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(
            self.missing or self.duplicated or self.altered or self.unaccounted or self.counted
        )


def reconcile(attempts: list[Attempt], stored: list[Stored]) -> Reconciliation:
    """Match each submit attempt to the stored responses of its respondent and team whose
    ``submitted_at`` lies inside the attempt's request window (one respondent's requests
    are sequential, so windows do not overlap).

    An acknowledged attempt must match exactly one response, holding the scores it
    confirmed (else missing, duplicated or altered). A response matched by an attempt
    that got no answer (timeout, 5xx) is reported, not a failure: the client could not
    know. Any other stored response is unaccounted for (a refused attempt's included).
    Each respondent's only counted (``submitted``) response must be their latest.
    """
    result = Reconciliation()
    rows: dict[tuple[str, str], list[Stored]] = defaultdict(list)
    for row in stored:
        rows[(row.respondent, row.team)].append(row)
    claimed: set[int] = set()
    for attempt in attempts:
        if attempt.outcome == "refused":
            continue
        inside = [
            row
            for row in rows[(attempt.respondent, attempt.team)]
            if attempt.sent - WINDOW_SLACK <= row.submitted_at <= attempt.answered + WINDOW_SLACK
        ]
        claimed.update(row.response_id for row in inside)
        _judge(result, attempt, inside)
    result.unaccounted = [row for row in stored if row.response_id not in claimed]
    result.counted = [
        problem for group in rows.values() if group and (problem := _counted_problem(group))
    ]
    return result


def _judge(result: Reconciliation, attempt: Attempt, inside: list[Stored]) -> None:
    """Record what the stored responses inside ``attempt``'s window say about it."""
    if len(inside) > 1:
        result.duplicated.append((attempt, inside))
    elif attempt.outcome != "acknowledged":
        if inside:
            result.unanswered_but_stored.append((attempt, inside[0]))
    elif not inside:
        result.missing.append(attempt)
    else:
        row = inside[0]
        differing = sorted(k for k, v in attempt.answers.items() if row.answers.get(k) != v)
        if differing:
            result.altered.append((attempt, row, differing))
        else:
            result.found += 1
            result.compared += len(attempt.answers)


def _counted_problem(group: list[Stored]) -> str | None:
    """Describe what is wrong with one respondent's counted response, if anything."""
    counted = [row for row in group if row.status == "submitted"]
    latest = max(group, key=lambda row: row.submitted_at)
    if len(counted) == 1 and counted[0] is latest:
        return None
    who = f"{group[0].respondent}@{group[0].team}"
    ids = ", ".join(str(row.response_id) for row in counted) or "none"
    return f"{who}: counted response(s) {ids}; the latest stored is {latest}"


def stored_submissions(survey_id: int) -> list[Stored]:
    """Return the survey's submitted and superseded responses with their scores by key."""
    from surveys.models import Answer, Response

    statuses = [Response.Status.SUBMITTED, Response.Status.SUPERSEDED]
    scores: dict[int, dict[str, int | None]] = defaultdict(dict)
    for response_id, key, score in Answer.objects.filter(
        response__survey_id=survey_id, response__status__in=statuses
    ).values_list("response_id", "question__key", "score"):
        scores[response_id][key] = score
    return [
        Stored(pk, username or "", team, status, submitted_at.timestamp(), scores[pk])
        for pk, username, team, status, submitted_at in Response.objects.filter(
            survey_id=survey_id, status__in=statuses
        ).values_list("pk", "respondent__username", "team__slug", "status", "submitted_at")
    ]


def respondent(
    client: Client,
    plan: dict,
    username: str,
    team: str,
    stop: float,
    attempts: list,
    start: float = 0.0,
    think: float = 0.0,
) -> None:
    """From ``start`` (monotonic seconds), sign in, answer every page, autosaving each
    answer after ``think`` seconds on average, then submit; start over until ``stop``."""
    time.sleep(max(0.0, start - time.monotonic()))
    if not client.login(username):
        return
    rng = random.Random(username)  # noqa: S311
    confirmed: dict[str, int] = {}  # question key -> score the server confirmed saving
    while time.monotonic() < stop:
        for key, questions in plan["pages"]:
            path = f"/surveys/{plan['survey']}/{team}/d/{key}/"
            if not _answer_page(client, path, questions, rng, confirmed, stop, think):
                return
        attempts.append(_submit(client, plan["survey"], username, team, confirmed))


def _think(rng: random.Random, think: float, stop: float) -> None:
    """Pause as a person choosing an answer does: uniformly 0.5-1.5 x ``think`` seconds,
    never past ``stop``."""
    if think > 0:
        time.sleep(max(0.0, min(rng.uniform(0.5, 1.5) * think, stop - time.monotonic())))


def _answer_page(
    client: Client,
    path: str,
    questions: list[str],
    rng: random.Random,
    confirmed: dict[str, int],
    stop: float,
    think: float = 0.0,
) -> bool:
    """Open a survey page and autosave its answers one by one, as autosave.js sends them,
    each after a think time (see _think).

    Keep ``confirmed`` to what the server confirmed; return False once ``stop`` passed.
    """
    _, page, _ = client.request("survey page", "GET", path)
    tag = RESPONDENT_TAG.search(page)
    for question in questions:
        choice = rng.randint(0, 4)
        _think(rng, think, stop)
        if time.monotonic() >= stop:
            return False
        fields = {f"q-{question}": str(choice), f"comment-{question}": ""}
        if tag is not None:
            fields["respondent"] = tag.group(1)
        status, text, _ = client.request(
            "autosave", "POST", f"{path}autosave/", fields, headers={"Accept": "application/json"}
        )
        _note_saved(confirmed, question, choice, status, text)
        if time.monotonic() >= stop:
            return False
    return True


def _note_saved(
    confirmed: dict[str, int], question: str, choice: int, status: int, text: str
) -> None:
    """Update what the server holds for ``question`` after an autosave answered ``status``.

    200 and 422 list the saved questions; another 4xx saved nothing; without an answer
    (or with a 5xx) the draft may hold either value, so the question is not checked.
    """
    if status in (200, 422):
        try:
            saved = json.loads(text).get("saved", [])
        except (ValueError, AttributeError):
            saved = None
        if saved is not None:
            if question in saved:
                confirmed[question] = choice
            return
    elif 400 <= status < 500:
        return
    confirmed.pop(question, None)


def _submit(
    client: Client, survey: int, username: str, team: str, confirmed: dict[str, int]
) -> Attempt:
    """Press Submit on the review page; return the attempt, with how it ended."""
    sent = time.time()
    status, _, headers = client.request(
        "submit", "POST", f"/surveys/{survey}/{team}/review/", {}, expect=302
    )
    answered = time.time()
    location = headers.get("Location", "")
    if status == 302 and "/done/" in location:
        outcome = "acknowledged"
    elif status == 0 or status >= 500:
        outcome = "unknown"
    else:
        outcome = "refused"
        if status == 302:  # redirected elsewhere (a login page): not an acknowledgement
            client.record("submit", None, f"302 to {location}")
    return Attempt(username, team, sent, answered, outcome, dict(confirmed))


def manager(client: Client, plan: dict, username: str, team: str, stop: float) -> None:
    if not client.login(username):
        return
    while time.monotonic() < stop:
        client.request("team report", "GET", f"/reports/teams/{team}/?survey={plan['survey']}")
        client.request("org report", "GET", f"/reports/?survey={plan['survey']}")
        time.sleep(0.5)


def admin_export(client: Client, plan: dict, stop: float) -> None:
    if not client.login("admin"):
        return
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
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=50, help="concurrent respondents")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument(
        "--port", type=port_number, default=bench_port(), help="default: BENCH_PORT or 8765"
    )
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument("--gunicorn-threads", type=int, default=4)
    parser.add_argument(
        "--autosave-workers",
        type=int,
        default=0,
        help="serve autosaves from a pool of their own with this many workers (as a load "
        "balancer routing .../autosave/ to its own gunicorn would; default 0: one pool)",
    )
    parser.add_argument(
        "--autosave-port", type=port_number, default=None, help="default: --port + 1"
    )
    parser.add_argument(
        "--pages-nice",
        type=int,
        default=0,
        help="with --autosave-workers: run the other pool at this nice level, as CPU reserved "
        "for the autosave pool (its own pod or CPU share in production) would",
    )
    parser.add_argument(
        "--recycling",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="measure worker recycling settings with wrk for SECONDS each (see above)",
    )
    parser.add_argument(
        "--ramp",
        type=float,
        default=0.0,
        help="spread the respondents' arrival (sign-in) over this many seconds (default 0: "
        "all at once)",
    )
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="a respondent's mean time per answer before it is autosaved (uniform over "
        "0.5-1.5x; default 0: a closed loop that saturates the server, which measures "
        "capacity, not a respondent's wait)",
    )
    args = parser.parse_args()
    args.autosave_port = args.autosave_port or args.port + 1
    # Refuse a taken port or a foreign Redis database before anything is written.
    require_free_port(args.port, "--port (or BENCH_PORT)")
    if args.autosave_workers:
        require_free_port(args.autosave_port, "--autosave-port")
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    redis_client = claim_redis(redis_url)
    plan = setup(args.users)
    env = {
        **os.environ,
        "DATABASE_URL": os.environ["BENCH_LOAD_DATABASE_URL"],
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "CONN_MAX_AGE": os.environ.get("CONN_MAX_AGE", "60"),  # as in production
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "AXES_FAILURE_LIMIT": "1000",
        "GUNICORN_BIND": f"{HOST}:{args.port}",
        "GUNICORN_WORKERS": str(args.gunicorn_workers),
        "GUNICORN_THREADS": str(args.gunicorn_threads),
        "GUNICORN_ACCESS_LOG": "/dev/null",
        "API_THROTTLE_USER": "100000/min",
    }
    subprocess.run(
        [str(BIN / "python"), "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    if args.recycling:
        try:
            _recycling(args, plan, env)
        finally:
            empty_redis(redis_client)
        return
    processes = _start(env, args.pages_nice if args.autosave_workers else 0)
    if args.autosave_workers:
        pool = {
            **env,
            "GUNICORN_BIND": f"{HOST}:{args.autosave_port}",
            "GUNICORN_WORKERS": str(args.autosave_workers),
        }
        processes.append(
            subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi"],
                cwd=ROOT,
                env=pool,
                start_new_session=True,
            )
        )
    try:
        wait_until_serving(processes[0], args.port)
        if args.autosave_workers:
            wait_until_serving(processes[-1], args.autosave_port)
        stats, attempts, duration = _drive(args, plan)
        start = stats.pop("_start")
        time.sleep(5)  # let the worker finish scoring
        _print_table(args, plan, stats, duration)
        _print_timeline(stats, start, duration)
        check = reconcile(attempts, stored_submissions(plan["survey"]))
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):  # it may have exited already
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)
        empty_redis(redis_client)
    _print_reconciliation(attempts, check)
    if check.failed:
        raise SystemExit(1)


# Recycling settings compared by --recycling: label, environment for config/gunicorn.py.
RECYCLING = [
    ("max_requests 2000±200 (before)", {"GUNICORN_MAX_REQUESTS": "2000", "PRELOAD": "false"}),
    # A worker restart as often as 2000 requests give at 300 requests/s (every ~30 s), at
    # the ~50-70 requests/s a shared 2-core VM serves: 300 requests per worker.
    ("max_requests 300±30", {"GUNICORN_MAX_REQUESTS": "300", "PRELOAD": "false"}),
    ("max_requests 300±30, preload_app", {"GUNICORN_MAX_REQUESTS": "300", "PRELOAD": "true"}),
    ("no max_requests", {"GUNICORN_MAX_REQUESTS": "0", "PRELOAD": "false"}),
    ("no max_requests, preload_app", {"GUNICORN_MAX_REQUESTS": "0", "PRELOAD": "true"}),
]
WRK_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
WRK_SOCKET_ERRORS = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"
)


def _score_survey(plan: dict) -> str:
    """Have every member submit once and score the survey; return the admin's API key."""
    from django.contrib.auth import get_user_model

    from maturity.models import Question
    from reports.authentication import api_token_create
    from reports.services import aggregate
    from surveys.models import Survey, Team
    from surveys.services import AnswerInput, respondent_key_for, response_submit

    survey = Survey.objects.select_related("framework").get(pk=plan["survey"])
    questions = list(Question.objects.filter(framework=survey.framework).order_by("order"))
    users = get_user_model().objects
    for index, (username, slug) in enumerate(plan["respondents"]):
        user = users.get(username=username)
        response_submit(
            survey=survey,
            team=Team.objects.get(slug=slug),
            respondent_key=respondent_key_for(user, survey),
            respondent=user,
            answers=[
                AnswerInput(question=q, score=(index + n) % 5) for n, q in enumerate(questions)
            ],
        )
    aggregate(survey=survey)
    return api_token_create(user=users.get(username="admin"), name="bench")[1]


def _tree_rss_mb(master: int) -> tuple[float, list[int]]:
    """Return the RSS (MB) of gunicorn's master and workers together, and the worker pids."""
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return 0.0, []
    total = 0.0
    for pid in [master, *map(int, children)]:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
    return total, [int(pid) for pid in children]


def _milliseconds(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _recycling(args: argparse.Namespace, plan: dict, env: dict) -> None:
    """Serve the cached scores API page to wrk under each RECYCLING setting; print a table."""
    import shutil

    from harness import machine, table

    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    key = _score_survey(plan)
    url = f"http://{HOST}:{args.port}/api/v1/surveys/{plan['survey']}/scores/"
    rows = []
    for label, setting in RECYCLING:
        limit = int(setting["GUNICORN_MAX_REQUESTS"])
        server_env = {
            **env,
            "GUNICORN_MAX_REQUESTS": str(limit),
            "GUNICORN_MAX_REQUESTS_JITTER": str(limit // 10),
            "GUNICORN_PRELOAD_APP": setting["PRELOAD"],
            "API_THROTTLE_TOKEN": "100000000/min",
            "API_THROTTLE_USER": "100000000/min",
        }
        server = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi"],
            cwd=ROOT,
            env=server_env,
            start_new_session=True,
        )
        try:
            wait_until_serving(server, args.port)
            rss: list[float] = []
            workers: set[int] = set()
            command = ["wrk", "-t", "2", "-c", "8", "-d", f"{round(args.recycling)}s"]
            command += ["--latency", "--timeout", "10s", "-H", f"Authorization: Token {key}", url]
            client = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
            while client.poll() is None:
                total, pids = _tree_rss_mb(server.pid)
                rss.append(total)
                workers.update(pids)
                time.sleep(1)
            output = client.communicate()[0]
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
        rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
        latency = {p: _milliseconds(v, u) for p, v, u in WRK_LATENCY.findall(output)}
        errors = WRK_SOCKET_ERRORS.search(output)
        non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
        rows.append(
            [
                label,
                f"{float(rate.group(1)) if rate else 0:.0f}",
                f"{latency.get('50', 0):.1f}",
                f"{latency.get('99', 0):.1f}",
                "none"
                if errors is None
                else "connect {}, read {}, write {}, timeout {}".format(*errors.groups()),
                non_2xx.group(1) if non_2xx else "0",
                str(max(0, len(workers) - _config_workers(server_env))),
                _rss_summary(rss),
            ]
        )
        print(f"{label}: done", flush=True)
    print(f"Machine: {machine()}")
    print(
        f"wrk -t 2 -c 8 -d {round(args.recycling)}s (keep-alive) on the admin's cached scores "
        f"page of a {len(plan['respondents'])}-response, 20-team survey; gunicorn with "
        "config/gunicorn.py defaults otherwise"
    )
    print()
    print(
        table(
            [
                "setting",
                "req/s",
                "p50 ms",
                "p99 ms",
                "wrk socket errors",
                "non-2xx",
                "worker restarts",
                "RSS, all processes: first / mid / last / max MB",
            ],
            rows,
        )
    )


def _config_workers(env: dict) -> int:
    """Return how many workers config/gunicorn.py starts with ``env``."""
    import multiprocessing

    return int(env.get("GUNICORN_WORKERS", min(2 * multiprocessing.cpu_count() + 1, 9)))


def _rss_summary(samples: list[float]) -> str:
    if not samples:
        return "-"
    middle = samples[len(samples) // 2]
    return f"{samples[0]:.0f} / {middle:.0f} / {samples[-1]:.0f} / {max(samples):.0f}"


def _start(env: dict, nice: int = 0) -> list[subprocess.Popen]:
    """Start gunicorn (config/gunicorn.py; at ``nice`` if not 0) and a Celery worker, each
    in its own session."""
    worker = [str(BIN / "celery"), "-A", "config", "worker", "-c", "2", "--loglevel", "WARNING"]
    web = [str(BIN / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi"]
    if nice:
        web = ["nice", "-n", str(nice), *web]
    return [
        subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
        for command in (web, worker)
    ]


def _drive(args: argparse.Namespace, plan: dict) -> tuple[dict, list[Attempt], float]:
    """Run the respondents, managers and admin until ``args.seconds`` passed; return the
    per-endpoint stats, the submit attempts and the seconds it took."""
    stats: dict = defaultdict(
        lambda: {"times": [], "sent": [], "errors": 0, "unexpected": Counter()}
    )
    lock = threading.Lock()
    attempts: list[Attempt] = []
    started = time.monotonic()
    stats["_start"] = time.perf_counter()  # the clock of each request's "sent"
    stop = started + args.seconds

    def client() -> Client:
        return Client(args.port, stats, lock, args.autosave_port if args.autosave_workers else None)

    # Respondents arrive spread over --ramp seconds (people do not all sign in in the same
    # second; 55 simultaneous password hashes saturate 2 cores for half a minute).
    count = len(plan["respondents"])
    threads = [
        threading.Thread(
            target=respondent,
            args=(
                client(),
                plan,
                u,
                t,
                stop,
                attempts,
                started + args.ramp * i / count,
                args.think,
            ),
        )
        for i, (u, t) in enumerate(plan["respondents"])
    ]
    threads += [
        threading.Thread(target=manager, args=(client(), plan, u, t, stop))
        for u, t in plan["managers"]
    ]
    threads.append(threading.Thread(target=admin_export, args=(client(), plan, stop)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return stats, attempts, time.monotonic() - started


def _print_table(args: argparse.Namespace, plan: dict, stats: dict, duration: float) -> None:
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
        f"{duration:.0f} s (arriving over {args.ramp:.0f} s, {args.think:g} s per answer); "
        f"gunicorn "
        f"{args.gunicorn_workers} workers x {args.gunicorn_threads} threads"
        + (
            f" (+ {args.autosave_workers} for autosaves alone; the others at nice "
            f"{args.pages_nice})"
            if args.autosave_workers
            else ""
        )
        + ", 1 Celery worker (2 processes)"
    )
    print()
    print(table(["endpoint", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"], rows))
    unexpected = [
        f"{name}: " + ", ".join(f"{answer} x{n}" for answer, n in entry["unexpected"].items())
        for name, entry in sorted(stats.items())
        if entry["unexpected"]
    ]
    if unexpected:
        print()
        print("errors by answer: " + "; ".join(unexpected))


TIMELINE = ("login", "autosave", "survey page", "team report")  # endpoints per window


def _print_timeline(stats: dict, start: float, duration: float, windows: int = 6) -> None:
    """Print requests and p50/p95 (ms) of the main endpoints per slice of the run, by the
    time each request was sent: the arrivals (sign-ins) and the steady state apart."""
    from harness import table

    width = duration / windows
    rows = []
    for index in range(windows):
        row = [f"{index * width:.0f}-{(index + 1) * width:.0f} s"]
        for name in TIMELINE:
            entry = stats.get(name, {"times": [], "sent": []})
            times = [
                elapsed
                for elapsed, sent in zip(entry["times"], entry["sent"], strict=True)
                if index * width <= sent - start < (index + 1) * width
            ]
            row.append(
                f"{len(times)}: {statistics.median(times) * 1000:.0f} / "
                f"{percentile(times, 0.95):.0f}"
                if times
                else "-"
            )
        rows.append(row)
    print()
    print("By the time a request was sent (requests: p50 / p95 ms):")
    print(table(["sent at", *TIMELINE], rows))


def _print_reconciliation(attempts: list[Attempt], check: Reconciliation) -> None:
    acknowledged = sum(attempt.outcome == "acknowledged" for attempt in attempts)
    print()
    print(
        f"submissions acknowledged: {acknowledged}; stored as acknowledged (found by "
        f"respondent, team, time and answers): {check.found} ({check.compared} answers "
        f"compared); missing: {len(check.missing)}; "
        f"duplicated: {len(check.duplicated)}; stored with other answers: "
        f"{len(check.altered)}; stored but unaccounted for: {len(check.unaccounted)}; "
        f"respondents whose counted response is not their latest: {len(check.counted)}; "
        f"stored after a submit that got no answer (not a failure): "
        f"{len(check.unanswered_but_stored)}"
    )
    sections = [
        ("missing", [str(attempt) for attempt in check.missing]),
        (
            "duplicated",
            [f"{a}: {', '.join(str(row) for row in rows)}" for a, rows in check.duplicated],
        ),
        (
            "stored with other answers",
            [f"{a}: {row}, questions {', '.join(keys)}" for a, row, keys in check.altered],
        ),
        ("unaccounted for", [str(row) for row in check.unaccounted]),
        ("counted response", check.counted),
        (
            "after a submit with no answer",
            [f"{a}: {row}" for a, row in check.unanswered_but_stored],
        ),
    ]
    for title, lines in sections:
        for line in lines[:SHOWN]:
            print(f"  {title}: {line}")
        if len(lines) > SHOWN:
            print(f"  {title}: ... and {len(lines) - SHOWN} more")


def _clock(epoch: float) -> str:
    """Return ``epoch`` as a UTC time of day to the millisecond, e.g. 14:03:07.125Z."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S.%f")[:-3] + "Z"


if __name__ == "__main__":
    main()
