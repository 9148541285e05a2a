"""Benchmark the evidence pipeline (issue 16) against baselines measured in the same run.

    .venv/bin/python benchmarks/evidence_pipeline.py  # 10,000-file snapshot; 1,000 teams
    .venv/bin/python benchmarks/evidence_pipeline.py --teams 0  # the snapshot measurements only
    .venv/bin/python benchmarks/evidence_pipeline.py --files 50000 --runs 3

Four measurements, one table each:

1. **Upload to checks, one snapshot.** One synthetic repository (``--files`` files: the
   realistic kept configuration files of tests/maturity/test_evidence_collectors.py, about
   30 (workflows, a GitLab pipeline, Dockerfiles, requirements, pyproject, conda, Terraform,
   a CI run history, a Scorecard result, ...), the rest sources, tests and data of 200 B to
   16 KB, one in 1,000 of 200 KB), as ``git archive --format=tar.gz`` writes it. Timed:
   ``tarfile`` alone reading every member's bytes (the baseline); the same hashing them;
   (b) ``manifest_from_archive``; (c) + ``collect_all``; (d) + every check of framework v2
   (``rules.evaluate`` over the facts); (e) the services on PostgreSQL, what the upload and
   the worker do: ``manifest_from_archive`` + ``snapshot_store`` + ``snapshot_collect`` +
   ``snapshot_evaluate`` for a team in an open v2 round. Each run reads another archive
   (one file differs), so nothing is reused from an earlier run. ``snapshot_evaluate`` has
   the team re-scored once it commits; with no broker (as here) that run is eager, in the
   timed call, and is reported apart (on a worker it is a task of its own).
2. **collect_all at scale**: the facts step alone on 10,000 and 100,000 paths.
3. **One pass over 1,000 teams** (``--teams``): each team of an open v2 round with its
   own stored snapshot content (``--team-files`` paths, a varying subset of the kept files)
   and stored facts, no check results (as after a checks update). Timed: the baseline, one
   plain SELECT of those facts (decoded); ``evaluate_contents`` over all contents;
   ``round_outcomes``; ``reports.evidence.round_evidence`` with results stored and without.
4. **The evidence step of a survey-wide scoring run**: ``reports.services.aggregate`` over
   the same round (``--respondents`` per team answering every question), with evidence,
   after a checks update, and with no snapshot at all.

Environment:
    BENCH_DATABASE_URL  the benchmark's own PostgreSQL database (default
                        postgres://postgres@127.0.0.1:5432/mlops_bench_evidence). Created and
                        marked when missing; a database without the mark is refused (see
                        harness.py): the script truncates the survey and evidence tables.

Prints markdown tables (paste them into BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from harness import (
    ROOT,
    generate_survey,
    machine,
    median,
    p95,
    setup_django,
    table,
    timed,
    truncate_surveys,
    vacuum,
)

sys.path.insert(0, str(ROOT))

from maturity.evidence import rules  # noqa: E402 - after the path set-up
from maturity.evidence.collectors import collect_all, fact_catalogue  # noqa: E402
from maturity.evidence.reader import SnapshotReader  # noqa: E402
from maturity.evidence.snapshot import (  # noqa: E402
    FileEntry,
    Manifest,
    is_kept,
    manifest_from_archive,
    manifest_from_directory,
    manifest_from_json,
)
from maturity.schema import CheckSpec, FrameworkSpec, parse_framework_file  # noqa: E402
from tests.maturity.test_evidence_collectors import KEPT, PATHS_ONLY  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/mlops_bench_evidence"
FRAMEWORK_FILE = ROOT / "maturity" / "frameworks" / "mlops-v2.yaml"
COMMIT = "4f3c2b1a0f9e8d7c6b5a49382716051423324150"
WORDS = (
    "import def return model train data feature pipeline deploy metric score batch "
    "epoch loss config yaml docker image registry tensor frame schema version test"
).split()
EVIDENCE_TABLES = (
    "evidence_checkresult",
    "evidence_factset",
    "evidence_snapshot",
    "evidence_snapshotcontent",
)
SCORE_TABLES = (
    "reports_teamscore",
    "reports_dimensionscore",
    "reports_questionscore",
    "reports_teamrecommendation",
    "reports_aggregationrun",
)
# Paths of a monorepo that are neither kept nor in the fixtures: sources, tests, data.
SOURCE_KINDS = (
    "src/pkg{}/module{}.py",
    "tests/pkg{}/test_module{}.py",
    "data/raw/{}/part-{}.parquet",
    "notebooks/{}/analysis{}.ipynb",
)


EXTRA_KEPT = {
    "Dockerfile": "FROM python:3.11-slim\nCOPY . /app\nRUN pip install -r requirements.txt\n",
    "requirements.txt": "numpy==1.26.4\npandas>=2\nmlflow==2.16.0\n",
    "pyproject.toml": '[project]\nname = "svc"\ndependencies = ["fastapi", "bentoml>=1.3"]\n',
}


def kept_fixtures(count: int) -> dict[str, str]:
    """The kept files of the fixture repository (tests/maturity/test_evidence_collectors.py),
    the listed-only ones a real archive keeps by pattern (CODEOWNERS, Terraform), and service
    Dockerfiles, requirements and pyproject files up to ``count`` files."""
    files = {path: text for path, text in KEPT.items() if is_kept(path)}
    files.update({path: f"# {path}\n" for path in PATHS_ONLY if is_kept(path)})
    service = 0
    while len(files) < count:
        for name, text in EXTRA_KEPT.items():
            if len(files) < count:
                files[f"services/svc{service}/{name}"] = text
        service += 1
    return files


def source_paths(count: int, start: int = 0) -> list[str]:
    return [
        SOURCE_KINDS[i % len(SOURCE_KINDS)].format(i // 300, i) for i in range(start, start + count)
    ]


def repository_tree(files: int, kept: int, seed: int) -> dict[str, bytes]:
    """Return ``files`` paths and contents shaped like a mid-sized ML repository: ``kept``
    kept configuration files, the rest text of 200 B to 16 KB (one in 1,000 of 200 KB)."""
    rng = random.Random(seed)
    text = " ".join(rng.choice(WORDS) for _ in range(60_000)).encode()
    tree = {path: content.encode() for path, content in kept_fixtures(kept).items()}
    tree.update({path: b"listed\n" for path in PATHS_ONLY if path not in tree})
    tree.update({path: b"listed\n" for path in KEPT if path not in tree})
    for number, path in enumerate(source_paths(max(0, files - len(tree)))):
        size = 200_000 if number % 1000 == 1 else rng.randint(200, 16_000)
        offset = rng.randrange(len(text) - size)
        tree[path] = text[offset : offset + size]
    return tree


def archive(tree: dict[str, bytes], prefix: str = "repo/") -> bytes:
    """The tree as ``git archive --format=tar.gz --prefix=repo/`` writes it (pax global
    header with the commit, gzip level 6)."""
    raw = io.BytesIO()
    with tarfile.open(
        fileobj=raw,
        mode="w:gz",
        format=tarfile.PAX_FORMAT,
        pax_headers={"comment": COMMIT},
        compresslevel=6,
    ) as tar:
        for path, data in sorted(tree.items()):
            info = tarfile.TarInfo(prefix + path)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def tarfile_alone(data: bytes, hash_files: bool) -> int:
    total = 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|gz") as tar:
        for member in tar:
            stream = tar.extractfile(member)
            if stream is None:
                continue
            digest = hashlib.sha256()
            chunk = stream.read(256 * 1024)
            while chunk:
                total += len(chunk)
                if hash_files:
                    digest.update(chunk)
                chunk = stream.read(256 * 1024)
    return total


def framework_checks(spec: FrameworkSpec) -> list[CheckSpec]:
    return [
        check
        for dimension in spec.dimensions
        for question in dimension.questions
        for check in question.checks
    ]


def merged_facts(reader: SnapshotReader) -> dict[str, object]:
    facts: dict[str, object] = {}
    for result in collect_all(reader):
        assert result.error is None, result.error  # noqa: S101 - a broken run is no timing
        facts.update(result.facts)
    return facts


def evaluate_all(checks: list[CheckSpec], facts: dict[str, object]) -> list[rules.Outcome]:
    """What evidence.services does per content: every check's rule over its facts."""
    return [rules.evaluate(check.rule, facts) for check in checks]


def per_run(values: list[Any]) -> Callable[[Callable[[Any], object]], Callable[[], object]]:
    """Return a wrapper that hands each run the next of ``values`` (warm-up first)."""
    source: Iterator[Any] = iter(values)

    def wrap(action: Callable[[Any], object]) -> Callable[[], object]:
        return lambda: action(next(source))

    return wrap


# --- 1. upload to checks ----------------------------------------------------------------------


def upload_team():  # type: ignore[no-untyped-def]
    """A team alone in an open round of framework v2 (created after the 1,000-team round,
    so it is not one of its teams)."""
    from django.utils import timezone

    from surveys.models import Survey, Team

    framework = v2_framework()
    team = Team.objects.create(slug="uploader", name="Uploading team")
    survey = Survey.objects.create(
        title="Upload benchmark", framework=framework, status="open", opens_at=timezone.now()
    )
    survey.teams.set([team])
    return team


def measure_upload(options: argparse.Namespace, spec: FrameworkSpec) -> None:
    from evidence.models import CheckResult, FactSet
    from evidence.services import snapshot_collect, snapshot_evaluate, snapshot_store
    from reports.models import AggregationRun

    team = upload_team()
    checks = framework_checks(spec)
    runs = options.runs
    # One archive per run and per measured row (+ a warm-up each): no row reads one twice,
    # and the services never find a content already stored.
    started = time.perf_counter()
    tree = repository_tree(options.files, options.kept, options.seed)
    archives = [archive(tree | {"VERSION": f"run {n}\n".encode()}) for n in range(runs + 1)]
    built = time.perf_counter() - started
    tree, data = tree | {"VERSION": b"run 0\n"}, archives[0]
    manifest = manifest_from_archive(io.BytesIO(data))
    assert manifest.n_files == len(tree) and manifest.commit == COMMIT  # noqa: S101
    manifest_json = json.dumps(manifest.to_json()).encode()
    assert manifest_from_json(manifest_json).sha256 == manifest.sha256  # noqa: S101
    outcomes = evaluate_all(checks, merged_facts(manifest.reader()))
    decided = sum(outcome.passed is not None for outcome in outcomes)

    rescoring: list[float] = []

    def through_services(data: bytes) -> None:
        before = AggregationRun.objects.count()
        upload = manifest_from_archive(io.BytesIO(data))
        snapshot = snapshot_store(team=team, manifest=upload, kind="archive", defer=True)
        snapshot_collect(snapshot.pk)
        snapshot_evaluate(snapshot.pk)
        run = AggregationRun.objects.order_by("-pk").first()
        assert run is not None and AggregationRun.objects.count() == before + 1  # noqa: S101
        rescoring.append((run.load_ms + run.score_ms + run.persist_ms) / 1000)

    def rows_for(action: Callable[[bytes], object]) -> list[float]:
        wrap = per_run(archives)
        return timed(wrap(action), runs + 1)[1:]  # the first run warms up

    with tempfile.TemporaryDirectory(prefix="evidence-bench-") as directory:
        root = Path(directory)
        for path, content in tree.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(content)
        assert manifest_from_directory(root).sha256 == manifest.sha256  # noqa: S101
        seconds = {
            "tarfile alone, every member read (baseline)": rows_for(
                lambda data: tarfile_alone(data, False)
            ),
            "tarfile alone + sha256 of every file": rows_for(
                lambda data: tarfile_alone(data, True)
            ),
            "(b) manifest_from_archive": rows_for(
                lambda data: manifest_from_archive(io.BytesIO(data))
            ),
            "(c) (b) + collect_all": rows_for(
                lambda data: merged_facts(manifest_from_archive(io.BytesIO(data)).reader())
            ),
            f"(d) (c) + all {len(checks)} v2 checks (rules.evaluate)": rows_for(
                lambda data: evaluate_all(
                    checks, merged_facts(manifest_from_archive(io.BytesIO(data)).reader())
                )
            ),
            "(e) (b) + snapshot_store + snapshot_collect + snapshot_evaluate, PostgreSQL": (
                rows_for(through_services)
            ),
            "other inputs: manifest_from_json (the CI script's manifest)": timed(
                lambda: manifest_from_json(manifest_json), runs
            ),
            "other inputs: manifest_from_directory (a checkout)": timed(
                lambda: manifest_from_directory(root), runs
            ),
        }
    rescoring = rescoring[1:]
    services_key = next(key for key in seconds if key.startswith("(e)"))
    without = [total - run for total, run in zip(seconds[services_key], rescoring, strict=True)]
    stored = CheckResult.objects.filter(content__snapshots__team=team).count()
    facts = FactSet.objects.filter(content__snapshots__team=team).count()

    floor = median(seconds["tarfile alone, every member read (baseline)"])
    rows = []
    for name, values in seconds.items():
        rows.append(
            [
                name,
                f"{median(values) * 1000:.0f}",
                f"{p95(values) * 1000:.0f}",
                f"{median(values) / floor:.2f}x",
            ]
        )
        if name == services_key:
            rows.append(
                [
                    "  of which the team's re-scoring (eager here; a task of its own on a worker)",
                    f"{median(rescoring) * 1000:.0f}",
                    f"{p95(rescoring) * 1000:.0f}",
                    "",
                ]
            )
            rows.append(
                [
                    "  (e) without it: upload to stored check results",
                    f"{median(without) * 1000:.0f}",
                    f"{p95(without) * 1000:.0f}",
                    f"{median(without) / floor:.2f}x",
                ]
            )
    expanded = sum(len(content) for content in tree.values())
    print(f"\n### 1. Upload to checks, one {len(tree):,}-file snapshot\n")
    print(
        f"{len(tree):,} files, {expanded / 2**20:.1f} MiB expanded, {len(data) / 2**20:.1f} MiB "
        f"tar.gz, {manifest.n_kept} kept; manifest JSON {len(manifest_json) / 2**20:.1f} MiB; "
        f"{len(checks)} checks, {decided} decided on this snapshot; {runs} runs after a "
        f"warm-up (archives built in {built:.1f} s, untimed); the services stored "
        f"{facts} fact sets and {stored} check results\n"
    )
    print(table(["step", "median ms", "p95 ms", "vs tarfile alone"], rows))


# --- 2. collect_all at scale ------------------------------------------------------------------


def measure_collectors(options: argparse.Namespace) -> None:
    kept = kept_fixtures(options.kept)
    rows = []
    for size in (10_000, 100_000):
        paths = [p for p in PATHS_ONLY if p not in kept] + source_paths(size - len(PATHS_ONLY))
        paths = paths[: size - len(kept)]

        def collect(paths: list[str] = paths) -> None:
            merged_facts(SnapshotReader(paths, kept))

        collect()  # warm-up: imports, compiled patterns
        seconds = timed(collect, options.collector_runs)
        rows.append(
            [
                f"{len(paths) + len(kept):,}",
                str(len(kept)),
                f"{median(seconds) * 1000:.1f}",
                f"{p95(seconds) * 1000:.1f}",
            ]
        )
    print("\n### 2. collect_all at scale (a fresh SnapshotReader per run)\n")
    print(table(["paths", "kept files", "median ms", "p95 ms"], rows))


# --- 3. and 4. the 1,000-team round ------------------------------------------------------------


def v2_framework():  # type: ignore[no-untyped-def]
    from maturity.models import Framework

    return Framework.objects.get(slug="mlops", version=2)


def team_manifest(
    number: int, files: int, kept: dict[str, str], hashes: dict[str, str]
) -> Manifest:
    """Team ``number``'s repository: about three quarters of the kept files (a different
    subset per team), the listed fixtures, sources up to ``files`` paths and a file of its
    own, so every team's content (sha256) and facts differ."""
    contents = {
        path: text
        for index, (path, text) in enumerate(kept.items())
        if (number * 7 + index * 3) % 4 != 0
    }
    paths = [f"src/team{number}/__init__.py", *PATHS_ONLY]
    paths += source_paths(max(0, files - len(paths) - len(contents)), start=number % 97)
    entries = {path: FileEntry(hashes.setdefault(path, _fake_hash(path)), 100) for path in paths}
    for path, text in contents.items():
        entries[path] = FileEntry(hashlib.sha256(text.encode()).hexdigest(), len(text.encode()))
    return Manifest("bench", None, None, entries, contents)


def _fake_hash(path: str) -> str:
    return hashlib.sha256(path.encode()).hexdigest()


def build_round(options: argparse.Namespace):  # type: ignore[no-untyped-def]
    """Generate the round of ``--teams`` teams and store a snapshot with facts for each."""
    from django.utils import timezone

    from evidence.models import FactSet, Snapshot, SnapshotContent

    survey, _, answers, generate_seconds = generate_survey(
        v2_framework(), options.teams, options.respondents, options.seed, probe=False
    )
    print(
        f"generated {answers:,} answers in {generate_seconds:.1f} s (server-side INSERT ... SELECT)"
    )
    started = time.perf_counter()
    kept, hashes = kept_fixtures(options.kept), {}
    received = timezone.now() - timedelta(days=1)
    teams = list(survey.teams.order_by("pk"))
    contents, fact_sets, snapshots = [], [], []
    for number, team in enumerate(teams):
        manifest = team_manifest(number, options.team_files, kept, hashes)
        content = SnapshotContent(
            sha256=manifest.sha256,
            manifest=manifest.to_json(),
            n_files=manifest.n_files,
            n_kept=manifest.n_kept,
            total_size=manifest.total_size,
        )
        contents.append(content)
        for result in collect_all(manifest.reader()):
            assert result.error is None, result.error  # noqa: S101
            fact_sets.append(
                FactSet(
                    content=content,
                    collector=result.name,
                    version=result.version,
                    facts=result.facts,
                    problems=result.problems,
                )
            )
        snapshots.append(
            Snapshot(
                team=team,
                source="default",
                content=content,
                kind=Snapshot.Kind.MANIFEST,
                received_at=received,
                status=Snapshot.Status.COLLECTED,
            )
        )
    SnapshotContent.objects.bulk_create(contents, batch_size=100)
    for fact_set in fact_sets:
        fact_set.content_id = fact_set.content.pk
    FactSet.objects.bulk_create(fact_sets, batch_size=500)
    for snapshot in snapshots:
        snapshot.content_id = snapshot.content.pk
    Snapshot.objects.bulk_create(snapshots, batch_size=1000)
    vacuum(*EVIDENCE_TABLES)
    print(
        f"stored {len(contents):,} snapshot contents ({options.team_files:,} paths each) and "
        f"{len(fact_sets):,} fact sets in {time.perf_counter() - started:.1f} s"
    )
    return survey, answers


def plain_select(content_ids: list[int]) -> int:
    """The baseline: the same stored facts in one plain SELECT, decoded."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT content_id, collector, version, facts FROM evidence_factset"
            " WHERE content_id = ANY(%s)",
            [content_ids],
        )
        # Django's connection hands jsonb over as text (JSONField decodes it).
        return len([orjson.loads(facts) for _, _, _, facts in cursor.fetchall()])


def checks_updated() -> None:
    """What a checks update leaves behind: no current check results (untimed)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE evidence_checkresult")
    vacuum("evidence_checkresult")


def measure_round(options: argparse.Namespace, survey) -> None:  # type: ignore[no-untyped-def]
    from evidence.models import CheckResult, SnapshotContent
    from evidence.selectors import reference_time
    from evidence.services import evaluate_contents, round_outcomes
    from reports.evidence import round_evidence
    from reports.services import framework_tables, load_raw_inputs
    from surveys.selectors import round_plans

    framework = survey.framework
    team_ids = sorted(survey.teams.values_list("pk", flat=True))
    contents = list(SnapshotContent.objects.filter(snapshots__team__in=team_ids))
    content_ids = [content.pk for content in contents]
    tables = framework_tables(framework)
    raw = load_raw_inputs(survey, tables, None, round_plans(survey, None))
    at = reference_time(survey)
    runs = options.runs
    plain_select(content_ids)  # warm-up
    seconds: dict[str, list[float]] = {}
    seconds["baseline: the same facts in one plain SELECT (orjson-decoded)"] = timed(
        lambda: plain_select(content_ids), runs
    )
    evaluated: list[int] = []
    seconds[f"evaluate_contents, {len(contents):,} contents, no results yet (one pass)"] = timed(
        lambda: evaluated.append(evaluate_contents(contents, framework)), runs, checks_updated
    )
    assert evaluated[-1] == len(contents)  # noqa: S101
    results = CheckResult.objects.count()
    vacuum("evidence_checkresult")
    found: list[int] = []
    seconds["round_outcomes, results stored"] = timed(
        lambda: found.append(len(round_outcomes(framework, team_ids, at))), runs
    )
    verdicts: list[int] = []

    def evidence() -> None:
        verdicts.append(
            len(round_evidence(survey, raw.per_question, team_ids, tables.max_scores).rows)
        )

    seconds["round_evidence, results stored (outcomes + verdicts)"] = timed(evidence, runs)
    seconds["round_evidence after a checks update (evaluate + outcomes + verdicts)"] = timed(
        evidence, runs, checks_updated
    )
    floor = median(seconds["baseline: the same facts in one plain SELECT (orjson-decoded)"])
    print(f"\n### 3. One pass over {len(team_ids):,} teams with stored facts\n")
    print(
        f"{len(team_ids):,} teams, one snapshot content each ({options.team_files:,} paths, "
        f"{options.kept} kept files of which ~3/4 per team), {len(content_ids) * 5:,} "
        f"fact sets; {results:,} check results per pass; {found[-1]:,} (team, question) pairs "
        f"with outcomes, {verdicts[-1]:,} verdicts; medians of {runs} runs\n"
    )
    print(
        table(
            ["step", "median s", "p95 s", "vs plain SELECT"],
            [
                [
                    name,
                    f"{median(values):.3f}",
                    f"{p95(values):.3f}",
                    f"{median(values) / floor:.1f}x",
                ]
                for name, values in seconds.items()
            ],
        )
    )


def measure_aggregation(options: argparse.Namespace, survey, answers: int) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection

    from reports.services import aggregate

    runs: list[Any] = []

    def settle() -> None:
        vacuum(*SCORE_TABLES)

    def settle_after_update() -> None:
        checks_updated()
        settle()

    settle()
    aggregate(survey=survey)  # warm-up; evaluates what lacks results
    seconds: dict[str, list[float]] = {}
    seconds["aggregate, evidence with stored results"] = timed(
        lambda: runs.append(aggregate(survey=survey)), options.runs, settle
    )
    seconds["aggregate after a checks update (evaluates all teams' checks)"] = timed(
        lambda: runs.append(aggregate(survey=survey)), options.runs, settle_after_update
    )
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(EVIDENCE_TABLES)}")
    vacuum(*EVIDENCE_TABLES)
    seconds["aggregate, no snapshot at all (baseline)"] = timed(
        lambda: runs.append(aggregate(survey=survey)), options.runs, settle
    )
    floor = median(seconds["aggregate, no snapshot at all (baseline)"])
    teams = survey.teams.count()
    print("\n### 4. What the evidence step adds to a survey-wide scoring run\n")
    print(
        f"{teams:,} teams x {options.respondents} respondents x every v2 question = "
        f"{answers:,} answers; medians of {options.runs} runs\n"
    )
    print(
        table(
            ["run", "median s", "p95 s", "added to the baseline", "vs baseline"],
            [
                [
                    name,
                    f"{median(values):.3f}",
                    f"{p95(values):.3f}",
                    f"{median(values) - floor:+.3f} s",
                    f"{median(values) / floor:.2f}x",
                ]
                for name, values in seconds.items()
            ],
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=10_000, help="files of the one snapshot")
    parser.add_argument("--kept", type=int, default=30, help="kept configuration files")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--collector-runs", type=int, default=30)
    parser.add_argument("--teams", type=int, default=1000, help="teams of the round; 0: none")
    parser.add_argument("--team-files", type=int, default=1000, help="paths per team snapshot")
    parser.add_argument("--respondents", type=int, default=10, help="per team of the round")
    parser.add_argument("--seed", type=int, default=16)
    options = parser.parse_args()

    setup_django("BENCH_DATABASE_URL", DEFAULT_URL)
    from django.db import connection

    from maturity.services import framework_load

    spec = parse_framework_file(FRAMEWORK_FILE, facts=fact_catalogue())
    framework_load(spec=spec, source=str(FRAMEWORK_FILE))
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(EVIDENCE_TABLES)}")
    truncate_surveys()
    print(f"Machine: {machine()}")
    survey = answers = None
    if options.teams:
        survey, answers = build_round(options)
    measure_upload(options, spec)
    measure_collectors(options)
    if survey is not None:
        measure_round(options, survey)
        measure_aggregation(options, survey, answers)


if __name__ == "__main__":
    main()
