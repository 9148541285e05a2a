"""Snapshots from hostile input: archives, JSON manifests and local checkouts.

Archives are built in memory (tarfile + gzip); a few headers are forged by hand where
tarfile refuses to write the hostile shape.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maturity.evidence.reader import MAX_YAML_EXPANDED_NODES
from maturity.evidence.snapshot import (
    KEPT_PATTERNS,
    MAX_KEPT_BYTES,
    MAX_TAR_HEADER_BYTES,
    FileEntry,
    Limits,
    Manifest,
    SnapshotError,
    is_kept,
    manifest_from_archive,
    manifest_from_directory,
    manifest_from_json,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"
BILLION_LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)
BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + BILLION_LAUGHS


# --- building archives -------------------------------------------------------------------


def member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, **attrs) -> tuple:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def tar_bytes(*members: tuple, fmt: int = tarfile.PAX_FORMAT, global_pax=None) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(
        fileobj=raw,
        mode="w",
        format=fmt,
        pax_headers=global_pax,
        encoding="utf-8",
        errors="surrogateescape",
    ) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return raw.getvalue()


def gz(raw: bytes) -> bytes:
    return gzip.compress(raw, mtime=0)


def tgz(*members: tuple, **options) -> bytes:
    return gz(tar_bytes(*members, **options))


def retyped(raw: bytes, offset: int, typeflag: bytes) -> bytes:
    """``raw`` with the typeflag of the header at ``offset`` replaced (checksum redone)."""
    header = bytearray(raw[offset : offset + 512])
    header[156:157] = typeflag
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\x00 " % sum(header)
    return raw[:offset] + bytes(header) + raw[offset + 512 :]


def read(data: bytes, limits: Limits | None = None) -> Manifest:
    return manifest_from_archive(io.BytesIO(data), limits)


class TrickleSource:
    """A file object handing over at most 4 KiB per read, counting what it gave."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.given = 0

    def read(self, size: int = -1) -> bytes:
        size = 4096 if size < 0 else min(size, 4096)
        chunk = self.data[self.given : self.given + size]
        self.given += len(chunk)
        return chunk


def zero_bomb(megabytes: int) -> bytes:
    """gzip of a tiny tar followed by ``megabytes`` MB of zeros, never held inflated."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [compressor.compress(tar_bytes(member("a.txt", b"a")))]
    block = bytes(1024 * 1024)
    parts += [compressor.compress(block) for _ in range(megabytes)]
    parts.append(compressor.flush())
    return b"".join(parts)


def two_files_raw() -> bytes:
    return tar_bytes(
        member("a.txt", b"a" * 100), member("b.txt", b"b" * 100), fmt=tarfile.GNU_FORMAT
    )


def _truncated_in_data() -> bytes:
    raw = tar_bytes(member("big.txt", b"x" * 5000), fmt=tarfile.GNU_FORMAT)
    return gz(raw[: 512 + 1000])


def _without_end_marker() -> bytes:
    raw = tar_bytes(member("a.txt", b"x" * 512), fmt=tarfile.GNU_FORMAT)
    return gz(raw[:1024])


def _corrupt_second_header() -> bytes:
    raw = bytearray(two_files_raw())
    raw[1024 + 1] ^= 0x20  # b.txt's header: a name byte, checksum left as it was
    return gz(bytes(raw))


def _corrupt_crc() -> bytes:
    data = bytearray(tgz(member("a.txt", b"hello")))
    data[-8] ^= 0xFF  # the CRC32 of the gzip trailer
    return bytes(data)


# Each row: id, archive bytes, limits, expected code, a fragment the message must hold.
SMALL = Limits(max_compressed=10_000, max_expanded=1024 * 1024, max_entries=3)
# fmt: off
HOSTILE_ARCHIVES = [
    ("dotdot", tgz(member("../etc/passwd", b"x")), None, "path_traversal", "'../etc/passwd'"),
    ("dotdot-inside", tgz(member("a/../../b", b"x")), None, "path_traversal", "'a/../../b'"),
    ("absolute", tgz(member("/etc/passwd", b"x")), None, "absolute_path", "'/etc/passwd'"),
    ("drive-letter", tgz(member("C:/Windows/win.ini", b"x")), None, "absolute_path", "C:/Windows"),
    ("backslash", tgz(member("a\\..\\..\\b", b"x")), None, "backslash_in_path", "'a\\..\\..\\b'"),
    ("symlink", tgz(member("link", kind=tarfile.SYMTYPE, linkname="../../secret")), None, "symlink", "'../../secret'"),
    ("hard-link", tgz(member("a.txt", b"x"), member("b.txt", kind=tarfile.LNKTYPE, linkname="a.txt")), None, "hard_link", "'b.txt'"),
    ("char-device", tgz(member("dev/null", kind=tarfile.CHRTYPE, devmajor=1, devminor=3)), None, "special_file", "character device"),
    ("block-device", tgz(member("dev/sda", kind=tarfile.BLKTYPE, devmajor=8)), None, "special_file", "block device"),
    ("fifo", tgz(member("pipe", kind=tarfile.FIFOTYPE)), None, "special_file", "'pipe' is a FIFO"),
    ("unknown-type", gz(retyped(tar_bytes(member("tape", b"x"), fmt=tarfile.GNU_FORMAT), 0, b"V")), None, "special_file", "'V'"),
    ("gnu-sparse", gz(retyped(tar_bytes(member("holes", b"x"), fmt=tarfile.GNU_FORMAT), 0, b"S")), None, "sparse_file", "'holes'"),
    ("duplicate", tgz(member("a.txt", b"1"), member("a.txt", b"2")), None, "duplicate_entry", "'a.txt'"),
    ("duplicate-dot-slash", tgz(member("./a.txt", b"1"), member("a.txt", b"2")), None, "duplicate_entry", "'a.txt'"),
    ("file-and-directory", tgz(member("a", b"1"), member("a/b", b"2")), None, "path_conflict", "'a'"),
    ("non-utf8-name", tgz(member("caf\udce9.txt", b"x"), fmt=tarfile.GNU_FORMAT), None, "non_utf8_name", "caf\\xe9.txt"),
    ("nul-in-pax-name", tgz(member("a.txt", b"x", pax_headers={"path": "a\x00.txt"})), None, "nul_in_name", "a\\x00.txt"),
    ("empty-name", tgz(member("./", b"x")), None, "empty_path", "'./'"),
    ("path-too-long", tgz(member("d/" * 600 + "x", b"x")), None, "path_too_long", "max_path_length=1024"),
    ("too-many-entries", tgz(member("d", kind=tarfile.DIRTYPE), *(member(f"d/{n}", b"x") for n in range(3))), SMALL, "too_many_entries", "max_entries=3"),
    ("too-large-compressed", tgz(member("noise.bin", os.urandom(20_000))), SMALL, "too_large_compressed", "max_compressed=10000"),
    ("too-large-declared", tgz(member("big.bin", bytes(2 * 1024 * 1024))), SMALL, "too_large_expanded", "'big.bin'"),
    ("gzip-bomb", zero_bomb(8), SMALL, "too_large_expanded", "max_expanded=1048576"),
    ("header-too-large", tgz(member("a.txt", b"x", pax_headers={"comment": "x" * MAX_TAR_HEADER_BYTES})), None, "header_too_large", str(MAX_TAR_HEADER_BYTES)),
    ("not-gzip", tar_bytes(member("a.txt", b"x")), None, "not_gzip", "not gzip"),
    ("empty-upload", b"", None, "not_gzip", "not gzip"),
    ("truncated-gzip", tgz(member("a.txt", os.urandom(3000)))[:-100], None, "truncated", "truncated upload"),
    ("corrupt-gzip-crc", _corrupt_crc(), None, "corrupt_gzip", "corrupt"),
    ("gzip-of-text", gz(b"just some text, not a tar archive\n" * 40), None, "not_tar", "not a readable tar"),
    ("truncated-in-member", _truncated_in_data(), None, "truncated", "'big.txt'"),
    ("no-end-marker", _without_end_marker(), None, "truncated", "end-of-archive"),
    ("corrupt-second-header", _corrupt_second_header(), None, "corrupt_tar", "bad checksum"),
    ("unsafe-yaml-bomb", tgz(member(".github/workflows/ci.yml", BILLION_LAUGHS.encode())), None, "unsafe_yaml", "'.github/workflows/ci.yml'"),
    ("unsafe-yaml-tag", tgz(member(".gitlab-ci.yml", b"job: !!python/object/apply:os.system [id]\n")), None, "unsafe_yaml", "'.gitlab-ci.yml': the tag"),
    ("too-much-kept", tgz(*(member(f"svc{n}/Dockerfile", b"FROM x\n" * 100) for n in range(3))), Limits(max_kept_total=1000), "too_much_kept_content", "max_kept_total=1000"),
]
# fmt: on


@pytest.mark.parametrize(
    ("data", "limits", "code", "fragment"),
    [row[1:] for row in HOSTILE_ARCHIVES],
    ids=[row[0] for row in HOSTILE_ARCHIVES],
)
def test_hostile_archive_is_refused_naming_the_limit_or_entry(data, limits, code, fragment):
    with pytest.raises(SnapshotError) as refused:
        read(data, limits)
    assert refused.value.code == code
    assert fragment in refused.value.message
    assert str(refused.value).startswith(f"{code}: ")


def test_the_hostile_table_covers_at_least_twenty_distinct_codes_or_shapes():
    assert len(HOSTILE_ARCHIVES) >= 20
    assert len({row[3] for row in HOSTILE_ARCHIVES}) >= 20


def test_a_refused_entry_names_its_path_in_the_error():
    with pytest.raises(SnapshotError) as refused:
        read(tgz(member("ok.txt", b"x"), member("../../x", b"x")))
    assert refused.value.path == "../../x"
    with pytest.raises(SnapshotError) as refused:
        read(tgz(member("caf\udce9.txt", b"x"), fmt=tarfile.GNU_FORMAT))
    assert refused.value.path == "caf\\xe9.txt"  # printable, storable


def test_a_gzip_bomb_stops_reading_at_the_expanded_limit():
    bomb = zero_bomb(64)  # 64 MB of zeros in about 64 KB
    source = TrickleSource(bomb)
    with pytest.raises(SnapshotError) as refused:
        manifest_from_archive(source, Limits(max_expanded=1024 * 1024))  # type: ignore[arg-type]
    assert refused.value.code == "too_large_expanded"
    # 1 MB inflated needs about 1/64 of the compressed bytes: far from all of them.
    assert source.given < len(bomb) // 8


def test_an_oversized_upload_stops_reading_at_the_compressed_limit():
    data = tgz(member("noise.bin", os.urandom(200_000)))
    source = TrickleSource(data)
    with pytest.raises(SnapshotError) as refused:
        manifest_from_archive(source, Limits(max_compressed=50_000))  # type: ignore[arg-type]
    assert refused.value.code == "too_large_compressed"
    assert source.given <= 50_000 + 4096


# --- reading archives --------------------------------------------------------------------


def test_a_git_archive_like_upload_gives_paths_hashes_kept_contents_and_commit():
    dockerfile = b"FROM python:3.12\nRUN pip install -r requirements.txt\n"
    source = b"print('not kept')\n"
    data = tgz(
        member("src", kind=tarfile.DIRTYPE),
        member("src/app.py", source),
        member("Dockerfile", dockerfile),
        member(".gitlab-ci.yml", b".d: &d {image: x}\njob:\n  <<: *d\n  script: [make]\n"),
        global_pax={"comment": COMMIT.upper()},
    )
    manifest = read(data)
    assert manifest.commit == COMMIT
    assert manifest.repository is None and manifest.generated_at is None
    assert sorted(manifest.files) == [".gitlab-ci.yml", "Dockerfile", "src/app.py"]
    assert manifest.files["src/app.py"] == FileEntry(hashlib.sha256(source).hexdigest(), 18)
    assert manifest.contents == {
        "Dockerfile": dockerfile.decode(),
        ".gitlab-ci.yml": ".d: &d {image: x}\njob:\n  <<: *d\n  script: [make]\n",
    }
    assert (manifest.n_files, manifest.n_kept) == (3, 2)
    assert manifest.total_size == len(dockerfile) + len(source) + len(
        manifest.contents[".gitlab-ci.yml"]
    )
    reader = manifest.reader()
    assert reader.glob("**/Dockerfile") == ["Dockerfile"]
    assert reader.yaml(".gitlab-ci.yml")["job"]["image"] == "x"


def test_a_pax_comment_that_is_not_a_commit_id_is_ignored():
    manifest = read(tgz(member("a.txt", b"x"), global_pax={"comment": "made by hand"}))
    assert manifest.commit is None


def test_a_prefix_directory_is_stripped_when_no_file_sits_at_the_root():
    data = tgz(
        member("repo", kind=tarfile.DIRTYPE),
        member("repo/.gitlab-ci.yml", b"stages: [test]\n"),
        member("repo/src/app.py", b"x"),
    )
    manifest = read(data)
    assert sorted(manifest.files) == [".gitlab-ci.yml", "src/app.py"]
    assert manifest.contents == {".gitlab-ci.yml": "stages: [test]\n"}


def test_no_prefix_is_stripped_when_a_file_sits_at_the_root():
    data = tgz(member("README.md", b"x"), member("repo/.gitlab-ci.yml", b"stages: [test]\n"))
    manifest = read(data)
    assert sorted(manifest.files) == ["README.md", "repo/.gitlab-ci.yml"]
    # **/*.gitlab-ci.yml keeps an included CI file wherever it lies.
    assert manifest.contents == {"repo/.gitlab-ci.yml": "stages: [test]\n"}


def test_a_dot_directory_is_never_read_as_a_prefix():
    manifest = read(tgz(member(".github/workflows/ci.yml", b"on: push\n")))
    assert manifest.contents == {".github/workflows/ci.yml": "on: push\n"}
    data = tgz(member("README.md", b"x"), member("repo/.github/workflows/ci.yml", b"on: push\n"))
    manifest = read(data)
    assert sorted(manifest.files) == ["README.md", "repo/.github/workflows/ci.yml"]


def test_two_top_level_directories_are_not_a_prefix():
    manifest = read(tgz(member("a/Dockerfile", b"FROM a"), member("b/x.py", b"x")))
    assert sorted(manifest.files) == ["a/Dockerfile", "b/x.py"]
    assert manifest.contents == {"a/Dockerfile": "FROM a"}


def test_kept_files_keep_text_only_when_small_utf8_and_without_nul():
    big = b"numpy==1.0\n" * (MAX_KEPT_BYTES // 11 + 1)
    manifest = read(
        tgz(
            member("README.md", b"readme"),
            member("requirements.txt", "pandas==2.2  # café\n".encode()),
            member("requirements-dev.txt", b"\xff\xfe p\x00y\x00"),  # UTF-16: path only
            member("requirements-big.txt", big),
            member("svc/requirements-nul.txt", b"a\x00b"),
            member("svc/app.py", b"source"),
        )
    )
    assert manifest.contents == {"requirements.txt": "pandas==2.2  # café\n"}
    assert manifest.files["requirements-big.txt"].size == len(big)
    assert manifest.reader().has_content("requirements-big.txt") is False


def test_a_kept_yaml_file_that_does_not_parse_is_kept_for_collectors_to_skip():
    manifest = read(tgz(member(".gitlab-ci.yml", b"job: 'unclosed\n")))
    assert manifest.contents == {".gitlab-ci.yml": "job: 'unclosed\n"}


def test_directories_and_dot_slash_prefixes_are_normalised_away():
    manifest = read(
        tgz(
            member(".", kind=tarfile.DIRTYPE),
            member("./a", kind=tarfile.DIRTYPE),
            member("./a//b.txt", b"x"),
            member("./README", b"r"),
        )
    )
    assert sorted(manifest.files) == ["README", "a/b.txt"]


def test_concatenated_gzip_members_are_one_stream():
    raw = tar_bytes(member("a.txt", b"a"), member("b.txt", b"b"))
    manifest = read(gz(raw[:700]) + gz(raw[700:]))
    assert sorted(manifest.files) == ["a.txt", "b.txt"]


def test_an_empty_archive_is_an_empty_tree():
    manifest = read(tgz())
    assert manifest.files == {} and manifest.contents == {}


def _git(repo: Path, *args: str) -> str:
    environment = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, env=environment
    )
    return done.stdout.decode()


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / "src").mkdir()
    (repo / "Dockerfile").write_text("FROM python:3.12\n")
    (repo / ".github" / "workflows" / "ci.yml").write_text("on: push\njobs: {}\n")
    (repo / "src" / "train.py").write_text("print('train')\n")
    (repo / "requirements.txt").write_bytes(b"\xff binary\n")
    (repo / "README.md").write_text("# repo\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "init")
    return repo


def test_real_git_archive_output_with_and_without_prefix_gives_the_same_tree(git_repo):
    head = _git(git_repo, "rev-parse", "HEAD").strip()
    plain = subprocess.run(
        ["git", "-C", str(git_repo), "archive", "--format=tar.gz", "HEAD"],
        check=True,
        capture_output=True,
    ).stdout
    prefixed = subprocess.run(
        ["git", "-C", str(git_repo), "archive", "--format=tar.gz", "--prefix=repo/", "HEAD"],
        check=True,
        capture_output=True,
    ).stdout
    first, second = read(plain), read(prefixed)
    assert first.commit == second.commit == head
    assert sorted(first.files) == [
        ".github/workflows/ci.yml",
        "Dockerfile",
        "README.md",
        "requirements.txt",
        "src/train.py",
    ]
    assert first.contents == {
        "Dockerfile": "FROM python:3.12\n",
        ".github/workflows/ci.yml": "on: push\njobs: {}\n",
    }
    assert first.sha256 == second.sha256
    assert first.to_json() == second.to_json()


def test_a_checkout_reads_like_its_archive_skipping_git_and_symlinks(git_repo, tmp_path):
    archived = read(
        subprocess.run(
            ["git", "-C", str(git_repo), "archive", "--format=tar.gz", "HEAD"],
            check=True,
            capture_output=True,
        ).stdout
    )
    (tmp_path / "outside.txt").write_text("secret")
    (git_repo / "link.txt").symlink_to(tmp_path / "outside.txt")
    (git_repo / "linked-dir").symlink_to(tmp_path)
    (git_repo / "sub").mkdir()
    (git_repo / "sub" / ".git").write_text("gitdir: ../.git/modules/sub\n")
    os.mkfifo(git_repo / "pipe")
    local = manifest_from_directory(git_repo)
    assert sorted(local.files) == sorted(archived.files)
    assert local.contents == archived.contents
    assert local.sha256 == archived.sha256


def test_a_checkout_over_the_limits_is_refused(tmp_path):
    for n in range(4):
        (tmp_path / f"f{n}.txt").write_text("x" * 100)
    with pytest.raises(SnapshotError) as refused:
        manifest_from_directory(tmp_path, Limits(max_entries=3))
    assert refused.value.code == "too_many_entries"
    with pytest.raises(SnapshotError) as refused:
        manifest_from_directory(tmp_path, Limits(max_expanded=250))
    assert (refused.value.code, refused.value.path) == ("too_large_expanded", "f2.txt")
    (tmp_path / ".gitlab-ci.yml").write_text(BILLION_LAUGHS)
    with pytest.raises(SnapshotError) as refused:
        manifest_from_directory(tmp_path)
    assert (refused.value.code, refused.value.path) == ("unsafe_yaml", ".gitlab-ci.yml")


def test_a_checkout_with_a_backslash_in_a_name_is_refused(tmp_path):
    (tmp_path / "a\\b.txt").write_text("x")
    with pytest.raises(SnapshotError) as refused:
        manifest_from_directory(tmp_path)
    assert refused.value.code == "backslash_in_path"


# --- JSON manifests ----------------------------------------------------------------------


def manifest_document(files: dict[str, bytes], **metadata) -> dict:
    """The upload of ``files`` as the script sends it, written out plainly."""
    rows = []
    for path, data in sorted(files.items()):
        row: dict = {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        if is_kept(path):
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if text is not None and "\x00" not in text and len(data) <= MAX_KEPT_BYTES:
                row["content"] = text
        rows.append(row)
    return {"format": "maturity-evidence/1", **metadata, "files": rows}


def encode(document) -> bytes:
    return json.dumps(document).encode()


def test_a_manifest_reads_with_its_metadata_and_round_trips():
    files = {"Dockerfile": b"FROM x\n", "src/a.py": b"a", "pyproject.toml": b"[project]\n"}
    document = manifest_document(
        files,
        repository="recsys-training",
        commit=COMMIT,
        generated_at="2026-12-01T11:00:00+01:00",
    )
    manifest = manifest_from_json(encode(document))
    assert manifest.repository == "recsys-training"
    assert manifest.commit == COMMIT
    assert manifest.generated_at == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert manifest.contents == {"Dockerfile": "FROM x\n", "pyproject.toml": "[project]\n"}
    canonical = manifest.to_json()
    assert canonical["generated_at"] == "2026-12-01T10:00:00Z"
    assert [row["path"] for row in canonical["files"]] == [
        "Dockerfile",
        "pyproject.toml",
        "src/a.py",
    ]
    assert manifest_from_json(encode(canonical)) == manifest


def test_the_sha256_is_the_tree_and_leaves_metadata_out():
    files = {"Dockerfile": b"FROM x\n", "src/a.py": b"a"}
    bare = manifest_from_json(encode(manifest_document(files)))
    dated = manifest_from_json(
        encode(manifest_document(files, commit=COMMIT, generated_at="2026-01-01T00:00:00Z"))
    )
    assert bare.sha256 == dated.sha256
    tree = {"format": "maturity-evidence/1", "files": bare.to_json()["files"]}
    canonical = json.dumps(tree, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert bare.sha256 == hashlib.sha256(canonical.encode()).hexdigest()
    changed = manifest_from_json(encode(manifest_document({**files, "Dockerfile": b"FROM y\n"})))
    assert changed.sha256 != bare.sha256


def test_the_same_tree_as_archive_and_as_manifest_has_the_same_sha256():
    files = {
        "Dockerfile": b"FROM x\n",
        "svc/requirements.txt": b"numpy\n",
        "src/model.py": b"import numpy\n",
        "data.bin": bytes(range(256)),
    }
    archived = read(tgz(*(member(path, data) for path, data in files.items())))
    uploaded = manifest_from_json(encode(manifest_document(files, commit=COMMIT)))
    assert archived.sha256 == uploaded.sha256
    assert archived.files == uploaded.files and archived.contents == uploaded.contents


def test_content_may_be_left_out_for_a_kept_file():
    document = manifest_document({"Dockerfile": b"FROM x\n"})
    del document["files"][0]["content"]
    manifest = manifest_from_json(encode(document))
    assert manifest.contents == {} and list(manifest.files) == ["Dockerfile"]


def _entry(path: str = "a.txt", **changes) -> dict:
    row = {"path": path, "sha256": hashlib.sha256(b"x").hexdigest(), "size": 1}
    row.update(changes)
    return row


def _with_files(*rows) -> bytes:
    return encode({"format": "maturity-evidence/1", "files": list(rows)})


def _kept(path: str, text: str) -> dict:
    data = text.encode()
    return {
        "path": path,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "content": text,
    }


# fmt: off
HOSTILE_MANIFESTS = [
    ("not-json", b"{not json", None, "bad_manifest", "not JSON"),
    ("not-utf8", '{"format": "maturity-evidence/1", "files": [], "repository": "café"}'.encode("latin-1"), None, "bad_manifest", "not UTF-8"),
    ("nan", b'{"format": "maturity-evidence/1", "files": [{"path": "a", "sha256": "' + b"0" * 64 + b'", "size": NaN}]}', None, "bad_manifest", "NaN"),
    ("duplicate-key", b'{"format": "maturity-evidence/1", "files": [], "files": []}', None, "bad_manifest", "'files' appears twice"),
    ("top-level-list", b"[]", None, "bad_manifest", "JSON object"),
    ("unknown-key", encode({"format": "maturity-evidence/1", "files": [], "extra": 1}), None, "bad_manifest", "extra"),
    ("wrong-format", encode({"format": "maturity-evidence/2", "files": []}), None, "unsupported_format", "maturity-evidence/2"),
    ("files-not-list", encode({"format": "maturity-evidence/1", "files": {}}), None, "bad_manifest", "files must be a list"),
    ("entry-not-object", _with_files("a.txt"), None, "bad_manifest", "files[0] must be an object"),
    ("unknown-entry-key", _with_files(_entry(mode="755")), None, "bad_manifest", "mode"),
    ("path-not-string", _with_files(_entry(path=7)), None, "bad_manifest", "files[0].path"),
    ("sha256-short", _with_files(_entry(sha256="abc")), None, "bad_manifest", "'a.txt': sha256"),
    ("sha256-uppercase", _with_files(_entry(sha256="A" * 64)), None, "bad_manifest", "64 lowercase hex"),
    ("size-negative", _with_files(_entry(size=-1)), None, "bad_manifest", "'a.txt': size"),
    ("size-bool", _with_files(_entry(size=True)), None, "bad_manifest", "non-negative integer"),
    ("size-float", _with_files(_entry(size=1.5)), None, "bad_manifest", "non-negative integer"),
    ("traversal", _with_files(_entry(path="../x")), None, "path_traversal", "'../x'"),
    ("absolute", _with_files(_entry(path="/etc/passwd")), None, "absolute_path", "'/etc/passwd'"),
    ("lone-surrogate", b'{"format": "maturity-evidence/1", "files": [{"path": "a\\ud800", "sha256": "' + b"0" * 64 + b'", "size": 1}]}', None, "non_utf8_name", "a\\ud800"),
    ("nul-path", _with_files(_entry(path="a\x00b")), None, "nul_in_name", "a\\x00b"),
    ("duplicate-after-normalising", _with_files(_entry(path="./a.txt"), _entry(path="a.txt")), None, "duplicate_entry", "'a.txt'"),
    ("file-and-directory", _with_files(_entry(path="a"), _entry(path="a/b")), None, "path_conflict", "'a'"),
    ("content-not-kept", _with_files(_entry(path="src/app.py", content="x")), None, "content_not_allowed", "'src/app.py'"),
    ("content-too-large", _with_files(_kept("Dockerfile", "x" * (MAX_KEPT_BYTES + 1))), None, "content_too_large", f"MAX_KEPT_BYTES={MAX_KEPT_BYTES}"),
    ("content-mismatch", _with_files(_entry(path="Dockerfile", content="FROM y")), None, "content_mismatch", "'Dockerfile'"),
    ("content-not-string", _with_files(_entry(path="Dockerfile", content=["x"])), None, "bad_manifest", "content must be a string"),
    ("content-nul", _with_files(_kept("Dockerfile", "a\x00b")), None, "bad_manifest", "NUL"),
    ("unsafe-yaml", _with_files(_kept("catalog-info.yaml", BILLION_LAUGHS)), None, "unsafe_yaml", str(MAX_YAML_EXPANDED_NODES)),
    ("repository-too-long", encode({"format": "maturity-evidence/1", "files": [], "repository": "r" * 101}), None, "bad_manifest", "repository must be a string of 1 to 100"),
    ("commit-not-hex", encode({"format": "maturity-evidence/1", "files": [], "commit": "main"}), None, "bad_manifest", "commit must be a hex"),
    ("naive-time", encode({"format": "maturity-evidence/1", "files": [], "generated_at": "2026-01-01T00:00:00"}), None, "bad_manifest", "no time zone"),
    ("bad-time", encode({"format": "maturity-evidence/1", "files": [], "generated_at": "yesterday"}), None, "bad_manifest", "'yesterday'"),
    ("deep-nesting", b'{"format": "maturity-evidence/1", "files": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", None, "bad_manifest", "nests too deeply"),
    ("too-many-files", _with_files(*(_entry(path=f"f{n}") for n in range(4))), Limits(max_entries=3), "too_many_entries", "max_entries=3"),
    ("huge-body", _with_files(*(_entry(path=f"f{n}") for n in range(100))), Limits(max_manifest_bytes=1000), "too_large_manifest", "max_manifest_bytes=1000"),
    ("path-too-long", _with_files(_entry(path="p" * 1025)), None, "path_too_long", "max_path_length=1024"),
]
# fmt: on


@pytest.mark.parametrize(
    ("data", "limits", "code", "fragment"),
    [row[1:] for row in HOSTILE_MANIFESTS],
    ids=[row[0] for row in HOSTILE_MANIFESTS],
)
def test_hostile_manifest_is_refused_naming_the_field_limit_or_path(data, limits, code, fragment):
    with pytest.raises(SnapshotError) as refused:
        manifest_from_json(data, limits)
    assert refused.value.code == code
    assert fragment in refused.value.message


# --- limits and patterns -----------------------------------------------------------------


def test_limits_from_a_mapping_override_defaults_and_refuse_nonsense():
    limits = Limits.from_mapping({"max_entries": 10})
    assert limits.max_entries == 10 and limits.max_expanded == Limits().max_expanded
    assert limits.as_dict()["max_entries"] == 10
    with pytest.raises(ValueError, match="unknown snapshot limits: max_files"):
        Limits.from_mapping({"max_files": 1})
    for bad in (0, -1, True, "10"):
        with pytest.raises(ValueError, match="positive integer"):
            Limits.from_mapping({"max_entries": bad})


@pytest.mark.parametrize(
    ("path", "kept"),
    [
        ("Dockerfile", True),
        ("services/api/Dockerfile", True),
        ("images/gpu.dockerfile", True),
        ("Dockerfile.prod", False),
        (".github/workflows/ci.yml", True),
        (".github/workflows/nested/ci.yml", False),
        (".gitlab-ci.yml", True),
        ("ci/templates/build.gitlab-ci.yml", True),
        ("sub/.gitlab-ci.yml", True),
        ("sub/.github/workflows/ci.yml", False),
        ("infra/main.tf", True),
        ("pipelines/dvc.yaml", True),
        ("CODEOWNERS", True),
        ("src/CODEOWNERS", False),
        ("requirements-dev.txt", True),
        ("svc/pyproject.toml", True),
        (".maturity/ci-runs.json", True),
        ("charts/api/Chart.yaml", True),
        ("src/model.py", False),
        ("README.md", False),
    ],
)
def test_kept_patterns_name_config_files_not_source(path, kept):
    assert is_kept(path) is kept


def test_every_kept_pattern_keeps_something():
    examples = {pattern.replace("**/", "x/").replace("*", "name") for pattern in KEPT_PATTERNS}
    assert all(is_kept(example) for example in examples)


# --- properties --------------------------------------------------------------------------

_names = st.sampled_from(
    ["Dockerfile", "a.py", "requirements.txt", "dvc.yaml", "b", "c.tf", "README.md", "é.txt"]
)
_dirs = st.sampled_from(["src", "svc", "infra", ".github/workflows", "deep/er/dir"])
_data = st.one_of(
    st.binary(max_size=64),
    st.text(max_size=64).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"key: value\n", b"\xff\xfe", b"FROM x\n"]),
)


@st.composite
def trees(draw) -> dict[str, bytes]:
    root_files = draw(st.dictionaries(_names, _data, max_size=4))
    nested = draw(st.dictionaries(st.tuples(_dirs, _names), _data, max_size=8))
    tree = dict(root_files)
    for (directory, name), data in nested.items():
        tree[f"{directory}/{name}"] = data
    # A tree holding a file as a directory's name is refused by both routes alike.
    return {
        path: data
        for path, data in tree.items()
        if not any(path.startswith(f"{other}/") for other in tree)
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees().filter(bool), prefixed=st.booleans())
def test_archive_and_manifest_routes_agree_on_any_tree(tree, prefixed):
    # (An archive of nothing but git's pax global header is refused as not_tar.)
    prefix = "repo/" if prefixed else ""
    members = [member(prefix + path, data) for path, data in sorted(tree.items())]
    try:
        archived = read(tgz(*members, global_pax={"comment": COMMIT}))
    except SnapshotError as error:
        archived_error = error.code
    else:
        archived_error = None
    try:
        uploaded = manifest_from_json(encode(manifest_document(tree, commit=COMMIT)))
    except SnapshotError as error:
        uploaded_error = error.code
    else:
        uploaded_error = None
    assert archived_error == uploaded_error
    if archived_error is None:
        root_has_file = any("/" not in path for path in tree)
        dot_top = all(path.startswith(".") for path in tree)
        if prefixed or root_has_file or dot_top:
            assert archived.files == uploaded.files
            assert archived.contents == uploaded.contents
            assert archived.sha256 == uploaded.sha256
            assert archived.commit == uploaded.commit == COMMIT
        else:  # one top-level directory and no root file: read as a prefix
            assert len(archived.files) == len(uploaded.files)


_VALID = tar_bytes(
    member("Dockerfile", b"FROM x\n"),
    member("a/b.txt", b"b" * 700),
    member("c", kind=tarfile.DIRTYPE),
    global_pax={"comment": COMMIT},
)


@settings(max_examples=300, deadline=None)
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8
    ),
    cut=st.one_of(st.none(), st.integers(0, len(_VALID))),
)
def test_any_damaged_tar_is_read_or_refused_with_a_snapshot_error(edits, cut):
    raw = bytearray(_VALID)
    for offset, value in edits:
        raw[offset] = value
    damaged = bytes(raw if cut is None else raw[:cut])
    try:
        manifest = read(gz(damaged))
    except SnapshotError as error:
        assert error.code and error.message
    else:
        assert all(isinstance(entry, FileEntry) for entry in manifest.files.values())


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["path", "sha256", "size", "content", "x"]), children),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    files=st.lists(
        st.fixed_dictionaries(
            {"path": st.sampled_from(["a", "./a", "Dockerfile", "../b", "c/d"]) | _json_values},
            optional={
                "sha256": st.sampled_from(["0" * 64, "z"]) | _json_values,
                "size": st.integers(-1, 3) | _json_values,
                "content": st.sampled_from(["", "FROM x"]) | _json_values,
            },
        ),
        max_size=4,
    ),
    extra=st.dictionaries(st.sampled_from(["repository", "commit", "generated_at"]), _json_values),
)
def test_any_json_shape_is_read_or_refused_with_a_snapshot_error(files, extra):
    document = {"format": "maturity-evidence/1", "files": files, **extra}
    try:
        manifest = manifest_from_json(encode(document))
    except SnapshotError as error:
        assert error.code and error.message
    else:
        assert len(manifest.files) == len(files)
