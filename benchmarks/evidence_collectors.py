"""Benchmark collect_all on a large snapshot: the facts step of the 2 s upload-to-checks budget.

    .venv/bin/python benchmarks/evidence_collectors.py               # 10,000 paths, 30 kept
    .venv/bin/python benchmarks/evidence_collectors.py --paths 100000

The kept files are the realistic fixtures of tests/maturity/test_evidence_collectors.py
(GitHub workflows, a GitLab pipeline with an include, requirements, pyproject, conda,
setup.cfg, a run history, a Scorecard result, ...) plus copies under service directories
up to ``--kept`` files; the other paths look like a monorepo's (sources, tests, data).
Each run builds a fresh SnapshotReader, so nothing parsed is cached between runs. No
database is needed. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import platform
import sys

from harness import ROOT, median, p95, table, timed

sys.path.insert(0, str(ROOT))

from maturity.evidence.collectors import collect_all  # noqa: E402
from maturity.evidence.reader import SnapshotReader  # noqa: E402
from tests.maturity.test_evidence_collectors import KEPT, PATHS_ONLY  # noqa: E402

EXTRA_KEPT = {
    "Dockerfile": "FROM python:3.11-slim\n",
    "requirements.txt": "numpy==1.26.4\npandas>=2\nmlflow==2.16.0\n",
    "pyproject.toml": '[project]\nname = "svc"\ndependencies = ["fastapi", "bentoml>=1.3"]\n',
}


def snapshot_files(n_paths: int, n_kept: int) -> tuple[list[str], dict[str, str]]:
    kept = dict(KEPT)
    service = 0
    while len(kept) < n_kept:
        for name, text in EXTRA_KEPT.items():
            if len(kept) < n_kept:
                kept[f"services/svc{service}/{name}"] = text
        service += 1
    paths = list(PATHS_ONLY)
    kinds = ("src/pkg{}/module{}.py", "tests/pkg{}/test_module{}.py", "data/raw/{}/part-{}.parquet")
    i = 0
    while len(paths) + len(kept) < n_paths:
        paths.append(kinds[i % 3].format(i // 300, i))
        i += 1
    return paths, kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=10_000)
    parser.add_argument("--kept", type=int, default=30)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    paths, kept = snapshot_files(args.paths, args.kept)

    def collect() -> None:
        results = collect_all(SnapshotReader(paths, kept))
        assert all(r.error is None for r in results)  # noqa: S101 - a broken run is no timing

    collect()  # warm-up: imports, compiled patterns
    seconds = timed(collect, args.runs)
    print(f"Python {platform.python_version()} on {platform.machine()}, {args.runs} runs\n")
    print(
        table(
            ["paths", "kept files", "median ms", "p95 ms"],
            [
                [
                    f"{len(paths) + len(kept):,}",
                    str(len(kept)),
                    f"{median(seconds) * 1000:.1f}",
                    f"{p95(seconds) * 1000:.1f}",
                ]
            ],
        )
    )


if __name__ == "__main__":
    main()
