"""Benchmark exports and the API over HTTP (gunicorn) on PostgreSQL, against psql's \\copy.

    .venv/bin/python benchmarks/exports.py                  # 1,000 teams x 20 x 50 = 1M answers
    .venv/bin/python benchmarks/exports.py --teams 100      # smaller, faster

Measures, in one run: the floor (``psql -c "\\copy (the export's query) to stdout csv"``),
every export format over HTTP with a client on the same machine, the serving process's
peak memory for 1M rows against 100k rows, the submission endpoint (50 answers) and the
scores endpoint of a 1,000-team survey under 8 concurrent clients. Prints a markdown table.

Environment:
    BENCH_DATABASE_URL  the benchmark's own PostgreSQL database (default
                        postgres://postgres@127.0.0.1:5432/mlops_bench_exports). Created and
                        marked when missing (its comment starts with "mlops-benchmark"); any
                        database without that mark is refused, because its answers,
                        responses and scores are truncated first.
    BENCH_PORT          the port gunicorn serves on, on 127.0.0.1 (default 8765); the script
                        stops with a message when something already listens there.
    BENCH_REDIS_URL     the Redis database the web processes queue Celery tasks and cache
                        in (default redis://127.0.0.1:6379/13). Claimed when empty (a
                        "mlops-benchmark:claimed" key), emptied before and after the run;
                        a database holding other keys is refused.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mlops_bench_exports"
)

from harness import (  # noqa: E402
    BIN,
    HOST,
    ROOT,
    bench_port,
    claim_redis,
    empty_redis,
    machine,
    p95,
    require_free_port,
    setup_django,
    table,
    vacuum,
    wait_until_serving,
)

PORT = bench_port()
FORMATS = ["csv", "ndjson", "json", "parquet", "xlsx"]
# Celery tasks queued by submissions go to this Redis database and are dropped afterwards
# (no worker runs): what a web process does in production, without the scoring work.
BENCH_REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


class Server:
    """gunicorn serving config.wsgi against the benchmark database."""

    def __init__(self, workers: int, threads: int = 1) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": os.environ["BENCH_DATABASE_URL"],
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "REDIS_URL": BENCH_REDIS,
            "CELERY_BROKER_URL": BENCH_REDIS,
            "CONN_MAX_AGE": "60",
            # keep throttling on (its cost is measured) but above the benchmark's rates
            "API_THROTTLE_USER": "1000000/min",
            "API_THROTTLE_TOKEN": "1000000/min",
            # the benchmark measures streaming a million rows; a 413 would point to jobs
            "EXPORT_SYNC_MAX_ROWS": "100000000",
        }
        require_free_port(PORT)
        self.process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "config.wsgi",
                "--bind",
                f"{HOST}:{PORT}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--timeout",
                "900",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        wait_until_serving(self.process, PORT)

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def download(path: str, key: str) -> tuple[float, int, dict]:
    """GET ``path`` and read the body to the end; return seconds, bytes and headers."""
    connection = http.client.HTTPConnection(HOST, PORT, timeout=900)
    started = time.perf_counter()
    connection.request("GET", path, headers={"Authorization": f"Token {key}"})
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"{path}: {response.status} {response.read()[:300]!r}")
    size = 0
    while data := response.read(1 << 20):
        size += len(data)
    seconds = time.perf_counter() - started
    return seconds, size, dict(response.getheaders())


def floor_seconds(sql: str, runs: int) -> float:
    """Time ``psql -c "\\copy (sql) to stdout csv header"``, with the export's settings."""
    url = os.environ["BENCH_DATABASE_URL"]
    env = {**os.environ, "PGOPTIONS": "-c work_mem=64MB -c jit=off"}
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            ["psql", url, "-X", "-q", "-c", f"\\copy ({sql}) to stdout with csv header"],
            stdout=subprocess.DEVNULL,
            check=True,
            env=env,
        )
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def inline(sql: str, params: list) -> str:
    """Bind parameters client-side, as the export's COPY does, for psql."""
    from django.db import connection

    with connection.cursor() as cursor:
        return cursor.cursor.mogrify(sql, params)


def load(
    method: str, path: str, keys: list[str], body_for, seconds: float, clients: int
) -> tuple[float, float, float, int]:
    """Run ``clients`` threads doing requests for ``seconds``; return rate, p50 and p95
    latency (seconds) and errors."""
    latencies: list[float] = []
    errors = [0]
    stop = time.perf_counter() + seconds
    lock = threading.Lock()

    def client(index: int) -> None:
        key = keys[index % len(keys)]
        mine = []
        failed = 0
        count = 0
        while time.perf_counter() < stop:
            body = body_for(index, count)
            headers = {"Authorization": f"Token {key}"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            started = time.perf_counter()
            connection = http.client.HTTPConnection(HOST, PORT, timeout=60)
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            connection.close()
            mine.append(time.perf_counter() - started)
            failed += response.status >= 300
            count += 1
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, statistics.median(latencies), p95(latencies), errors[0]


# wrk (Debian's package) as the load client: C, a thread per connection, so the 8 clients do
# not share one Python interpreter with the server's 2 cores (the Python client above spends
# about a millisecond of CPU per request and queues its threads on the GIL). Each thread is
# one client with its own token; a submission's choices vary with the client and the count.
WRK_SCRIPT = """
local tokens = {%(tokens)s}
local questions = {%(questions)s}
local team = "%(team)s"
local submit = %(submit)s
local method = "%(method)s"
local threads = {}
function setup(thread)
  thread:set("client", #threads)
  table.insert(threads, thread)
end
function init(args)
  token = tokens[(client %% #tokens) + 1]
  count = 0
end
function request()
  local headers = {["Authorization"] = "Token " .. token}
  local body = nil
  if submit then
    local answers = {}
    for n, key in ipairs(questions) do
      answers[n] = string.format('{"question": "%%s", "choice": %%d}', key,
        (client + count + n - 1) %% 5)
    end
    body = '{"team": "' .. team .. '", "answers": [' .. table.concat(answers, ", ") .. ']}'
    headers["Content-Type"] = "application/json"
  end
  count = count + 1
  return wrk.format(method, nil, headers, body)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %%d, "us": %%d, "p50": %%d, "p95": %%d, "errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def load_wrk(
    method: str,
    path: str,
    keys: list[str],
    seconds: float,
    clients: int,
    submission: tuple[str, list[str]] | None = None,
) -> tuple[float, float, float, int]:
    """Run wrk with ``clients`` connections for ``seconds``; return rate, p50, p95, errors.

    ``submission`` (team slug, question keys) makes each request a 50-answer submission.
    """
    import shutil
    import tempfile

    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (or pass --no-wrk)")
    team, questions = submission if submission else ("", [])
    script = WRK_SCRIPT % {
        "tokens": ", ".join(json.dumps(key) for key in keys),
        "questions": ", ".join(json.dumps(key) for key in questions),
        "team": team,
        "submit": "true" if submission else "false",
        "method": method,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as file:
        file.write(script)
        file.flush()
        command = ["wrk", "-t", str(clients), "-c", str(clients), "-d", f"{round(seconds)}s"]
        command += ["-s", file.name, "--timeout", "60s", f"http://{HOST}:{PORT}{path}"]
        run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0 or "RESULT " not in run.stdout:
        raise SystemExit(f"wrk failed: {run.stdout}{run.stderr}")
    output = run.stdout
    result = json.loads(output.split("RESULT ", 1)[1].splitlines()[0])
    rate = result["requests"] / (result["us"] / 1e6)
    return rate, result["p50"] / 1e6, result["p95"] / 1e6, result["errors"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--teams", type=int, default=1000)
    parser.add_argument("--respondents", type=int, default=20)
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3, help="floor and CSV runs (median)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15.0, help="per load test")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers for load")
    parser.add_argument("--skip-xlsx", action="store_true")
    parser.add_argument(
        "--xlsx-rows",
        type=int,
        default=100_000,
        help="rows of the in-process XLSX writer comparison (0 skips it)",
    )
    parser.add_argument(
        "--no-api", action="store_true", help="skip the submission and scores load tests"
    )
    parser.add_argument(
        "--no-wrk", action="store_true", help="load-test with the Python client only"
    )
    parser.add_argument(
        "--api-only", action="store_true", help="only the submission and scores load tests"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="keep the generated data of an earlier run"
    )
    args = parser.parse_args()

    # Refuse a taken port or a foreign Redis database before the data takes minutes to build.
    require_free_port(PORT)
    redis_client = claim_redis(BENCH_REDIS)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    setup_django()
    from aggregation import build
    from django.contrib.auth import get_user_model

    from reports.authentication import api_token_create
    from reports.models import ExportAudit
    from reports.services import aggregate
    from surveys.models import Survey

    survey = Survey.objects.order_by("-pk").first() if args.reuse else None
    if survey is None:
        survey, _probe, answers, generate_seconds = build(
            args.teams, args.respondents, args.questions, seed=42
        )
        print(f"generated {answers:,} answers in {generate_seconds:.1f} s")
        started = time.perf_counter()
        aggregate(survey=survey)
        print(f"aggregated {args.teams + 1} teams in {time.perf_counter() - started:.1f} s")
    ExportAudit.objects.all().delete()
    # Every table, with its planner statistics, as autovacuum would keep them (the version
    # of cached score pages read teams and snapshots without statistics otherwise).
    vacuum()
    User = get_user_model()
    admin, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    _, admin_key = api_token_create(user=admin, name="bench")

    rows = []
    if not args.api_only:
        rows, full_rows, small_rows = _exports(args, survey, admin_key)
        if args.xlsx_rows:
            rows += _xlsx_writers(survey, args.xlsx_rows)
        rows += _parquet_paths(survey)
    if not args.no_api:
        _api_load(args, survey, admin_key, rows, redis_client)

    print()
    print(f"Machine: {machine()}")
    data = (
        f"Data: {args.teams:,} teams x {args.respondents} respondents x {args.questions} "
        f"questions (+ a 10-respondent probe team)"
    )
    if not args.api_only:
        data += (
            f" = {full_rows:,} counted answers; memory: {small_rows:,} rows (since=) vs "
            f"{full_rows:,}; gunicorn sync workers, client on the same machine"
        )
    print(data)
    print()
    print(
        table(
            ["measure", "time", "rows/s or rate", "vs floor", "worker peak RSS growth"],
            rows,
        )
    )


def _exports(args, survey, admin_key):  # type: ignore[no-untyped-def]
    """Measure the floor and every export format; return the table rows and row counts."""
    from django.db import connection

    from reports.exports import Export, ExportRequest
    from reports.models import ExportAudit

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT max(submitted_at) FROM surveys_response WHERE survey_id = %s", [survey.pk]
        )
        newest = cursor.fetchone()[0]
    # submitted_at = now - g seconds for respondent g: the newest 2 of 20 are ~10%
    since = newest - _seconds(1.5)
    small = ExportRequest(kind="answers", survey=survey, since=since)
    small_rows = Export(small).estimated_rows()
    full_rows = Export(ExportRequest(kind="answers", survey=survey)).estimated_rows()
    query = Export(ExportRequest(kind="answers", survey=survey)).query
    copy_sql = inline(query.copy_sql, query.copy_params)
    floor = floor_seconds(copy_sql, args.runs)
    floor_rate = full_rows / floor
    rows = [
        [
            f"floor: psql `\\copy (export query) to stdout csv`, {full_rows:,} rows",
            f"{floor:.2f} s",
            f"{floor_rate:,.0f}",
            "1.00x",
            "",
        ]
    ]

    # One worker serves the exports, so that its peak memory is the export's.
    server = Server(workers=1)
    try:
        [worker] = server.worker_pids()
        since_param = since.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        for fmt in FORMATS:
            if fmt == "xlsx" and args.skip_xlsx:
                continue
            base = f"/api/v1/exports/answers/?survey={survey.pk}&format={fmt}"
            reset_peak(worker)
            before = peak_rss_mb(worker)
            download(f"{base}&since={since_param}", admin_key)
            small_peak = peak_rss_mb(worker) - before
            reset_peak(worker)
            before = peak_rss_mb(worker)
            runs = args.runs if fmt == "csv" else 1
            timings = []
            for _ in range(runs):
                seconds, size, headers = download(base, admin_key)
                timings.append(seconds)
            full_peak = peak_rss_mb(worker) - before
            audit = ExportAudit.objects.get(pk=int(headers["X-Export-Id"]))
            assert audit.row_count == full_rows, (audit.row_count, full_rows)
            seconds = statistics.median(timings)
            rate = full_rows / seconds
            rows.append(
                [
                    f"{fmt} over HTTP ({size / 2**20:,.0f} MiB)",
                    f"{seconds:.2f} s",
                    f"{rate:,.0f}",
                    f"{rate / floor_rate:.2f}x",
                    f"{small_peak:+.0f} / {full_peak:+.0f} MB "
                    f"(growth {full_peak - small_peak:+.0f} MB)",
                ]
            )
            print(rows[-1])
    finally:
        server.stop()
    return rows, full_rows, small_rows


def _xlsx_writers(survey, limit: int) -> list[list[str]]:  # type: ignore[no-untyped-def]
    """Write the first ``limit`` answer rows with each XLSX writer, in this process.

    The rows are read once (as the export reads them) and kept in memory, so that only the
    writers are timed: openpyxl write-only (lxml when installed) with string cells, as the
    exports wrote XLSX before issue 17; XlsxWriter in constant_memory mode, every cell
    through its typed write method; and ``reports.exports.xlsx_write``. Wall time and the
    process's CPU time (both threads): the VM is shared.
    """
    import tempfile

    import openpyxl
    import xlsxwriter
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    from reports.exports import Export, ExportRequest, xlsx_text, xlsx_write

    export = Export(ExportRequest(kind="answers", survey=survey))
    data: list[tuple] = []
    for chunk in export._chunks():
        data += chunk[: limit - len(data)]
        if len(data) >= limit:
            break
    columns = export.query.columns

    def by_openpyxl(file) -> None:  # type: ignore[no-untyped-def]
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("answers-1")
        sheet.append(columns)
        for row in data:
            cells = []
            for value in row:
                if isinstance(value, str):
                    cell = WriteOnlyCell(sheet, value=xlsx_text(value))
                    cell.data_type = "s"
                    value = cell
                cells.append(value)
            sheet.append(cells)
        workbook.save(file)

    def by_xlsxwriter(file) -> None:  # type: ignore[no-untyped-def]
        workbook = xlsxwriter.Workbook(file, {"constant_memory": True})
        sheet = workbook.add_worksheet("answers-1")
        sheet.write_row(0, 0, columns)
        for number, row in enumerate(data, 1):
            for column, value in enumerate(row):
                if value is None or value == "":
                    continue
                if isinstance(value, str):
                    sheet.write_string(number, column, xlsx_text(value))
                elif isinstance(value, bool):
                    sheet.write_boolean(number, column, value)
                else:
                    sheet.write_number(number, column, value)
        workbook.close()

    def by_ours(file) -> None:  # type: ignore[no-untyped-def]
        xlsx_write(
            file, "answers", columns, [data[i : i + 5000] for i in range(0, len(data), 5000)]
        )

    backend = "lxml" if openpyxl.LXML else "et_xmlfile, no lxml"
    rows = []
    for label, writer in [
        (f"openpyxl {openpyxl.__version__} write-only ({backend})", by_openpyxl),
        (f"XlsxWriter {xlsxwriter.__version__} constant_memory", by_xlsxwriter),
        ("reports.exports.xlsx_write (XlsxWriter package, own rows, zlib thread)", by_ours),
    ]:
        with tempfile.TemporaryFile() as file:
            cpu, started = time.process_time(), time.perf_counter()
            writer(file)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            size = file.seek(0, 2)
        rows.append(
            [
                f"xlsx in-process, {label}, {len(data):,} rows ({size / 2**20:,.1f} MiB)",
                f"{seconds:.2f} s (CPU {cpu:.2f} s)",
                f"{len(data) / seconds:,.0f} ({len(data) / cpu:,.0f} per CPU s)",
                "",
                "",
            ]
        )
        print(rows[-1])
    return rows


def _parquet_paths(survey) -> list[list[str]]:  # type: ignore[no-untyped-def]
    """Time Parquet's two ways to Arrow batches over the whole answer export, in-process:
    Arrow arrays of the fetched rows (SQLite's path, PostgreSQL's before issue 17) and
    Arrow's CSV reader over COPY (PostgreSQL's now)."""
    import pyarrow as pa

    from reports.exports import Export, ExportRequest

    rows = []
    for label, method in [
        ("Arrow arrays of fetched rows", "_arrow_batches"),
        ("Arrow's CSV reader over COPY", "_copy_arrow_batches"),
    ]:
        export = Export(ExportRequest(kind="answers", survey=survey, format="parquet"))
        schema = pa.schema(list(zip(export.query.columns, export.query.arrow_types, strict=True)))
        cpu, started = time.process_time(), time.perf_counter()
        count = sum(batch.num_rows for batch in getattr(export, method)(schema))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        rows.append(
            [
                f"parquet batches in-process, {label}, {count:,} rows",
                f"{seconds:.2f} s (CPU {cpu:.2f} s)",
                f"{count / seconds:,.0f} ({count / cpu:,.0f} per CPU s)",
                "",
                "",
            ]
        )
        print(rows[-1])
    return rows


def _api_load(args, survey, admin_key, rows, redis_client):  # type: ignore[no-untyped-def]
    """Load-test the submission and scores endpoints; append their rows to the table."""
    from django.contrib.auth import get_user_model

    from reports.authentication import api_token_create
    from surveys.models import Membership, Team

    User = get_user_model()
    # Submissions: 8 clients, each its own member of a dedicated team, 50 answers a time.
    team, _ = Team.objects.get_or_create(
        slug="bench-submit", defaults={"name": "Benchmark submissions"}
    )
    survey.teams.add(team)
    _forget_submissions(team.pk)
    keys = []
    for index in range(args.clients):
        user, _ = User.objects.get_or_create(username=f"bench-member-{index}")
        Membership.objects.get_or_create(user=user, team=team)
        keys.append(api_token_create(user=user, name="bench")[1])
    question_keys = list(survey.framework.questions.order_by("order").values_list("key", flat=True))

    def submission(index: int, count: int) -> str:
        return json.dumps(
            {
                "team": team.slug,
                "answers": [
                    {"question": key, "choice": (index + count + n) % 5}
                    for n, key in enumerate(question_keys)
                ],
            }
        )

    def nothing(index: int, count: int) -> None:
        return None

    server = Server(workers=args.workers)
    clients = [] if args.no_wrk else ["wrk"]
    clients.append("Python")
    try:
        url = f"/api/v1/surveys/{survey.pk}/responses/"
        load("POST", url, keys, submission, 2, args.clients)  # warm up
        label = f"submission, {len(question_keys)} answers, {args.clients} clients"
        for client in clients:
            if client == "wrk":
                measured = load_wrk(
                    "POST", url, keys, args.seconds, args.clients, (team.slug, question_keys)
                )
            else:
                measured = load("POST", url, keys, submission, args.seconds, args.clients)
            name = f"{label} ({args.workers} workers, {client} client)"
            rows.append(_load_row(name, *measured))
            print(rows[-1])
        for label, path in [
            ("first page (100 teams)", f"/api/v1/surveys/{survey.pk}/scores/"),
            ("one page of 1,000 teams", f"/api/v1/surveys/{survey.pk}/scores/?page_size=1000"),
        ]:
            load("GET", path, [admin_key], nothing, 2, args.clients)
            name = f"scores of a {args.teams + 2:,}-team survey, {label}, {args.clients} clients"
            for client in clients:
                if client == "wrk":
                    measured = load_wrk("GET", path, [admin_key], args.seconds, args.clients)
                else:
                    measured = load("GET", path, [admin_key], nothing, args.seconds, args.clients)
                rows.append(_load_row(f"{name} ({client} client)", *measured))
                print(rows[-1])
    finally:
        server.stop()
        empty_redis(redis_client)  # the queued scoring tasks: no worker runs
        _forget_submissions(team.pk)


def _load_row(label: str, rate: float, p50: float, p95: float, errors: int) -> list[str]:
    """A table row for one load test: latency percentiles, rate and errors."""
    return [
        label,
        f"p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms",
        f"{rate:,.0f} req/s",
        "",
        f"{errors} errors",
    ]


def _seconds(value: float):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    return timedelta(seconds=value)


def _forget_submissions(team_id: int) -> None:
    """Delete what the submission load test stored, so that --reuse runs start alike.

    Without this, each run left some 200,000 answers behind in the exported survey.
    """
    from django.db import connection, transaction

    responses = "SELECT id FROM surveys_response WHERE team_id = %s"
    with transaction.atomic(), connection.cursor() as cursor:
        for table in ("surveys_answer", "surveys_responsedimensionscore"):
            cursor.execute(
                f"DELETE FROM {table} WHERE response_id IN ({responses})",  # noqa: S608
                [team_id],
            )
        cursor.execute("DELETE FROM surveys_response WHERE team_id = %s", [team_id])
    vacuum("surveys_answer", "surveys_response")


if __name__ == "__main__":
    main()
