"""Benchmark reading evidence snapshots against reading the same tarball with tarfile alone.

    .venv/bin/python benchmarks/evidence.py                  # 10,000 files, 5 runs
    .venv/bin/python benchmarks/evidence.py --files 50000 --runs 3

Builds one synthetic repository in memory (text-like files of 200 B to 16 KB, one in 25 a
kept configuration file, a few 200 KB files), as ``git archive --format=tar.gz --prefix=``
would write it (pax global header with the commit, gzip level 6), then times:

* ``tarfile alone``: ``tarfile.open(mode="r|gz")``, every member's bytes read (the floor);
* ``tarfile + sha256``: the same, hashing every file (what any snapshot must do);
* ``manifest_from_archive``: the hostile-input-proof reader;
* ``manifest_from_json``: the CI script's manifest of the same tree;
* ``manifest_from_directory``: the same tree written to a temporary directory.

No database or network. Prints a markdown table (paste it into BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import random
import sys
import tarfile
import tempfile
from pathlib import Path

from harness import ROOT, median, table, timed

sys.path.insert(0, str(ROOT))

from maturity.evidence.snapshot import (  # noqa: E402 - after the path set-up
    manifest_from_archive,
    manifest_from_directory,
    manifest_from_json,
)

COMMIT = "4f3c2b1a0f9e8d7c6b5a49382716051423324150"
WORDS = (
    "import def return model train data feature pipeline deploy metric score batch "
    "epoch loss config yaml docker image registry tensor frame schema version test"
).split()
KEPT_EXAMPLES = (
    "Dockerfile",
    "requirements.txt",
    "pyproject.toml",
    "dvc.yaml",
    "kustomization.yaml",
    "main.tf",
)


def synthetic_tree(files: int, seed: int) -> dict[str, bytes]:
    """Return ``files`` paths and contents shaped like a mid-sized ML repository."""
    rng = random.Random(seed)
    tree: dict[str, bytes] = {
        ".gitlab-ci.yml": (
            b".defaults: &defaults\n  image: python:3.12\n  tags: [docker]\n"
            + b"".join(
                f"job{n}:\n  <<: *defaults\n  script: [make {n}]\n".encode() for n in range(40)
            )
        ),
        "README.md": b"# synthetic\n",
    }
    while len(tree) < files:
        number = len(tree)  # grows by one each turn: every path below is new
        directory = f"pkg{number % 40}/mod{number % 7}"
        if number % 25 == 0:
            directory = f"pkg{number % 40}/service{number}"
            name = KEPT_EXAMPLES[number % len(KEPT_EXAMPLES)]
            size = rng.randint(100, 2000)
        else:
            name = f"file{number}.py"
            size = 200_000 if number % 1000 == 1 else rng.randint(200, 16_000)
        text = " ".join(rng.choice(WORDS) for _ in range(size // 6 + 1))[:size]
        tree[f"{directory}/{name}"] = text.encode()
    return tree


def archive(tree: dict[str, bytes], prefix: str = "repo/") -> bytes:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=16)
    options = parser.parse_args()

    tree = synthetic_tree(options.files, options.seed)
    data = archive(tree)
    manifest = manifest_from_archive(io.BytesIO(data))
    assert manifest.n_files == len(tree) and manifest.commit == COMMIT
    manifest_json = json.dumps(manifest.to_json()).encode()
    assert manifest_from_json(manifest_json).sha256 == manifest.sha256

    with tempfile.TemporaryDirectory(prefix="evidence-bench-") as directory:
        root = Path(directory)
        for path, content in tree.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(content)
        assert manifest_from_directory(root).sha256 == manifest.sha256
        cases = {
            "tarfile alone (read every member)": lambda: tarfile_alone(data, False),
            "tarfile + sha256": lambda: tarfile_alone(data, True),
            "manifest_from_archive": lambda: manifest_from_archive(io.BytesIO(data)),
            "manifest_from_json": lambda: manifest_from_json(manifest_json),
            "manifest_from_directory": lambda: manifest_from_directory(root),
        }
        seconds = {name: median(timed(action, options.runs)) for name, action in cases.items()}

    floor = seconds["tarfile alone (read every member)"]
    expanded = sum(len(content) for content in tree.values())
    print(
        f"{len(tree):,} files, {expanded / 2**20:.1f} MiB expanded, "
        f"{len(data) / 2**20:.1f} MiB tar.gz, {manifest.n_kept} kept; manifest JSON "
        f"{len(manifest_json) / 2**20:.1f} MiB; median of {options.runs} runs; "
        f"{os.cpu_count()} cores, Python {platform.python_version()}\n"
    )
    rows = [
        [name, f"{value * 1000:.0f}", f"{value / floor:.2f}x"] for name, value in seconds.items()
    ]
    print(table(["reader", "ms", "vs tarfile alone"], rows))


if __name__ == "__main__":
    main()
