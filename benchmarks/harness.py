"""Shared set-up for benchmarks: a dedicated PostgreSQL database, Redis database, port, Django.

The benchmarks wipe what they run on (they truncate their tables, empty their Redis
database), so they only ever wipe what they created themselves:
- a PostgreSQL database is theirs when they created it (they mark it with the database
  comment ``mlops-benchmark: ...``); any other database is refused before anything is
  written to it, migrations included;
- a Redis database is theirs when it holds their marker key ``mlops-benchmark:claimed``,
  which they set only in an empty database; one holding other keys is refused.

This module is not named ``common``: that is the app's package, which the scripts import
through Django.
"""

from __future__ import annotations

import http.client
import math
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

if TYPE_CHECKING:
    import redis

ROOT = Path(__file__).resolve().parent.parent
# The interpreter's directory: gunicorn and celery of the same virtualenv.
BIN = Path(sys.executable).parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/mlops_bench"
DEFAULT_PORT = 8765
HOST = "127.0.0.1"
DATABASE_MARKER = "mlops-benchmark"
REDIS_MARKER_KEY = "mlops-benchmark:claimed"

# Atomically: 1 when the database holds the marker, 2 when it was empty and is claimed
# now, 0 when it holds keys of someone else.
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
if redis.call('DBSIZE') == 0 then redis.call('SET', KEYS[1], ARGV[1]) return 2 end
return 0
"""
# Atomically: empty a claimed database and keep its marker; 0 when it is not claimed.
_EMPTY = """
local owner = redis.call('GET', KEYS[1])
if not owner then return 0 end
redis.call('FLUSHDB')
redis.call('SET', KEYS[1], owner)
return 1
"""


def setup_django(variable: str = "BENCH_DATABASE_URL", default: str = DEFAULT_URL) -> str:
    """Point Django at the benchmark database named by ``variable`` and migrate it.

    The database is created (and marked as the benchmarks') when missing; an existing one
    must carry the mark (claim_database), else the script exits with a message. Return
    the database URL.
    """
    sys.path.insert(0, str(ROOT))
    url = os.environ.setdefault(variable, default)
    if not url.startswith("postgres"):
        raise SystemExit(f"Benchmarks run on PostgreSQL: set {variable}=postgres://...")
    claim_database(url, variable)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ["DEBUG"] = "false"  # DEBUG keeps every query in memory
    os.environ.pop("REDIS_URL", None)
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


def claim_database(url: str, variable: str = "BENCH_DATABASE_URL") -> None:
    """Create the PostgreSQL database of ``url``, marked as the benchmarks', or check the mark.

    The mark is the database's comment, starting with DATABASE_MARKER. Exit with a message
    (naming ``variable``) when the database exists without it, or the server is unreachable:
    the benchmarks truncate their database, so they must never run on someone else's.
    """
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = unquote(parts.path.lstrip("/"))
    if not name or "/" in name:
        raise SystemExit(f"{variable} must name a database: postgres://user@host:port/name")
    server = urlunsplit(parts._replace(path="/postgres"))
    try:
        with psycopg.connect(server, autocommit=True) as connection:
            row = connection.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                [name],
            ).fetchone()
            if row is None:
                script = Path(sys.argv[0]).name
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                comment = (
                    f"{DATABASE_MARKER}: created by benchmarks/{script} on "
                    f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; every benchmark run wipes it"
                )
                connection.execute(
                    sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                        sql.Identifier(name), sql.Literal(comment)
                    )
                )
                print(f"created the benchmark database {name}")
                return
    except psycopg.OperationalError as error:
        raise SystemExit(f"Cannot reach PostgreSQL for {variable}: {error}") from None
    if not (row[0] or "").startswith(DATABASE_MARKER):
        raise SystemExit(
            f'Refusing to use the database "{name}" ({variable}): the benchmarks did not '
            f'create it (its comment does not start with "{DATABASE_MARKER}"), and they '
            "truncate the tables of the database they run on. Set "
            f"{variable} to a database that does not exist yet; the script creates and "
            f"marks it. If {name} is a benchmark database made before the mark existed and "
            "may be wiped, mark it yourself: "
            f"psql -h {parts.hostname} -p {parts.port or 5432} -U {parts.username or 'postgres'}"
            f' postgres -c "COMMENT ON DATABASE \\"{name}\\" IS \'{DATABASE_MARKER}\'"'
        )


def claim_redis(url: str, variable: str = "BENCH_REDIS_URL") -> redis.Redis:
    """Return a client of the Redis database of ``url``, claimed for the benchmarks and empty.

    An empty database is claimed by setting REDIS_MARKER_KEY; one that holds the marker
    was claimed by an earlier run and is emptied (the marker stays). Exit with a message
    (naming ``variable``) when it holds keys but no marker, or Redis is unreachable.
    """
    import redis

    client = redis.Redis.from_url(url)
    number = client.connection_pool.connection_kwargs.get("db", 0)
    owner = f"benchmarks/{Path(sys.argv[0]).name}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    try:
        claimed = client.eval(_CLAIM, 1, REDIS_MARKER_KEY, owner)
        keys = client.dbsize()
    except redis.RedisError as error:
        raise SystemExit(f"Cannot reach Redis at {variable}: {error}") from None
    if not claimed:
        raise SystemExit(
            f"Refusing to use Redis database {number} ({variable}): it holds {keys} key(s) "
            f"the benchmarks did not write (no {REDIS_MARKER_KEY} key), and they empty the "
            f"database they use. Set {variable} to a database number that is empty "
            f"(redis-cli -n <number> dbsize says 0); the script claims it."
        )
    empty_redis(client)
    return client


def empty_redis(client: redis.Redis) -> None:
    """Delete every key of a database claim_redis claimed, except the marker.

    Raise RuntimeError when the marker is gone (someone else flushed or took it meanwhile).
    """
    if not client.eval(_EMPTY, 1, REDIS_MARKER_KEY):
        raise RuntimeError(f"the Redis database lost its {REDIS_MARKER_KEY} key; not emptied")


def port_number(text: str) -> int:
    """Return ``text`` as a TCP port number (1-65535); raise ValueError otherwise."""
    text = text.strip()
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"not a port number from 1 to 65535: {text!r}")
    return int(text)


def bench_port() -> int:
    """Return the HTTP port for the benchmark's server: BENCH_PORT, default DEFAULT_PORT."""
    try:
        return port_number(os.environ.get("BENCH_PORT", str(DEFAULT_PORT)))
    except ValueError as error:
        raise SystemExit(f"BENCH_PORT: {error}") from None


def require_free_port(port: int, setting: str = "BENCH_PORT") -> None:
    """Exit with a message naming ``setting`` when nothing may listen on HOST:``port``.

    The probe binds with SO_REUSEADDR, as gunicorn does: a port held only by closing
    connections of an earlier run counts as free, one with a listener does not.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as error:
            raise SystemExit(
                f"Port {port} on {HOST} is not free ({error.strerror}): another server "
                f"listens there. Set {setting} to a free port (`ss -ltn` lists the taken "
                "ones)."
            ) from None


def wait_until_serving(process: subprocess.Popen, port: int, seconds: float = 30) -> None:
    """Wait until the server ``process`` answers /healthz with 200 on HOST:``port``.

    Exit with a message when the process ends first (e.g. it could not bind) or does not
    answer within ``seconds``.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(
                f"The server exited (status {process.returncode}) before serving on "
                f"{HOST}:{port}; see its messages above (a port taken meanwhile? set "
                "BENCH_PORT to a free port)."
            )
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    process.terminate()
    process.wait(timeout=30)
    raise SystemExit(f"The server did not answer /healthz on {HOST}:{port} in {seconds:.0f} s")


def timed(
    action: Callable[[], object], runs: int, before: Callable[[], object] | None = None
) -> list[float]:
    """Run ``action`` ``runs`` times; return the wall-clock seconds of each run.

    ``before`` runs ahead of each run, untimed (e.g. a VACUUM between runs).
    """
    seconds = []
    for _ in range(runs):
        if before is not None:
            before()
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return seconds


def median(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB RAM, Python "
        f"{platform.python_version()}, PostgreSQL {server}"
    )


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def vacuum(*tables: str) -> None:
    """VACUUM (ANALYZE) ``tables`` (all, if none), as autovacuum would keep them.

    A bulk load leaves no visibility map (no index-only scans) and unset hint bits (the
    first reads write), and repeated runs leave dead snapshot rows; some PostgreSQL
    installations run with autovacuum off (this machine's did), so benchmarks settle the
    tables themselves, outside the timed part.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")


def synthetic_framework(
    slug: str,
    title: str,
    questions: int,
    question_fields: Callable[[int, int], dict[str, object]] | None = None,
    dimension_fields: Callable[[int], dict[str, object]] | None = None,
    per_dimension: int = 5,
) -> dict[str, object]:
    """Return a framework file's content for a benchmark: ``questions`` questions of five
    choices (0-4) in dimensions of ``per_dimension``, keys ``q<d>-<q>``, dimension keys
    ``d<d>``, default levels 0/20/40/60/80. ``question_fields(d, q)`` and
    ``dimension_fields(d)`` add fields (weights, prerequisites, allow_na)."""
    return {
        "slug": slug,
        "version": 1,
        "title": title,
        "levels": [{"number": n, "name": f"L{n}", "threshold": 20 * n} for n in range(5)],
        "dimensions": [
            {
                "key": f"d{d}",
                "name": f"Dimension {d}",
                "seed_refs": ["benchmark"],
                **(dimension_fields(d) if dimension_fields else {}),
                "questions": [
                    {
                        "key": f"q{d}-{q}",
                        "text": f"Question {d}.{q}?",
                        "seed_refs": ["benchmark"],
                        **(question_fields(d, q) if question_fields else {}),
                        "choices": [
                            {"score": s, "label": f"S{s}"}
                            | ({"next_step": f"Step {s + 1}"} if s < 4 else {})
                            for s in range(5)
                        ],
                    }
                    for q in range(per_dimension)
                ],
            }
            for d in range(math.ceil(questions / per_dimension))
        ],
    }


def truncate_surveys() -> None:
    """Empty the survey and score tables (teams, surveys, responses, answers, snapshots of
    scores and what references them). Only on a benchmark's own database (setup_django)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE surveys_answer, surveys_response, reports_teamrecommendation,"
            " reports_questionscore, reports_dimensionscore, reports_teamscore,"
            " reports_aggregationrun, surveys_survey_teams, surveys_invitation,"
            " surveys_survey, surveys_membership, surveys_team CASCADE"
        )


def generate_survey(  # type: ignore[no-untyped-def]
    framework, teams: int, respondents: int, seed: int, probe: bool = True
):
    """Generate an open survey of ``framework`` with ``teams`` teams (slugs t0, t1, ...) of
    ``respondents`` submitted responses, each answering every question of the framework;
    return it, its probe team (a 10-respondent team ``probe``; None without ``probe``), the
    number of answers and the seconds the generation took.

    Teams sit at different maturity (team id mod 5), respondents disagree by +-1 (choices
    0-4). Call truncate_surveys first. The responses' dimension scores are recorded in one
    pass afterwards (reported, not part of the seconds returned), as the per-submission
    team runs would have.
    """
    from django.db import connection
    from django.utils import timezone

    from reports.services import record_response_dimension_scores
    from surveys.models import Survey, Team

    now = timezone.now()
    Team.objects.bulk_create(Team(slug=f"t{i}", name=f"Team {i}") for i in range(teams))
    probe_team = Team.objects.create(slug="probe", name="Probe team") if probe else None
    survey = Survey.objects.create(
        title="Benchmark", framework=framework, status="open", opens_at=now
    )
    survey.teams.set(Team.objects.all())

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [seed / 1000])
        cursor.execute(
            "INSERT INTO surveys_response (survey_id, team_id, respondent_key, status,"
            " started_at, updated_at, submitted_at, last_dimension, idempotency_fingerprint,"
            " withdrawn_reason)"
            " SELECT %s, t.id, 'b:' || t.id || ':' || g, 'submitted', now(), now(),"
            " now() - g * interval '1 second', '', '', ''"
            " FROM surveys_team t CROSS JOIN generate_series(1, CASE WHEN t.slug = 'probe'"
            " THEN 10 ELSE %s END) g",
            [survey.pk, respondents],
        )
        cursor.execute(
            "INSERT INTO surveys_answer (response_id, question_id, score, na, comment,"
            " updated_at)"
            " SELECT r.id, q.id, LEAST(4, GREATEST(0, r.team_id %% 5 + floor(random() * 3)::int"
            " - 1)), false, '', now()"
            " FROM surveys_response r CROSS JOIN maturity_question q"
            " WHERE r.survey_id = %s AND q.framework_id = %s",
            [survey.pk, framework.pk],
        )
        answers = cursor.rowcount
    generate_seconds = time.perf_counter() - started
    vacuum("surveys_answer", "surveys_response")
    started = time.perf_counter()
    recorded = record_response_dimension_scores(survey)
    record_seconds = time.perf_counter() - started
    vacuum("surveys_responsedimensionscore")
    print(
        f"recorded {recorded:,} per-response dimension scores in {record_seconds:.1f} s "
        "(what the per-submission runs would have written)"
    )
    return survey, probe_team, answers, generate_seconds
