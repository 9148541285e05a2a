"""Read a repository snapshot from hostile input into one normalised ``Manifest``.

A snapshot arrives in one of three shapes, each read here and nowhere else:

* ``manifest_from_archive``: a ``.tar.gz`` upload (``git archive --format=tar.gz HEAD``),
  streamed: never written to disk, never extracted, refused as soon as a limit is crossed;
* ``manifest_from_json``: the ``maturity-evidence/1`` JSON manifest that
  ``scripts/maturity-evidence`` uploads from a team's CI (paths, hashes, kept contents);
* ``manifest_from_directory``: a local checkout (``manage.py evidence_collect``).

A manifest lists every file (path, sha256, size) and keeps the *content* only of the small
configuration files that ``KEPT_PATTERNS`` names: source code never leaves the company. A
kept file keeps its content when it is UTF-8 text without NUL characters and at most
``MAX_KEPT_BYTES`` long; otherwise only its path, hash and size are kept (a binary or
oversized ``requirements.txt`` is not a reason to refuse a whole snapshot).

Everything refused raises ``SnapshotError`` whose ``code`` says what (for the API's 400
answer) and whose message names the limit or value and the entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tarfile
import zlib
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import IO, Any, cast

from maturity.evidence.paths import compile_glob
from maturity.evidence.reader import SnapshotReader, yaml_problem

FORMAT = "maturity-evidence/1"

# Small configuration files whose content a snapshot keeps (``paths`` glob syntax). The
# server's spec endpoint hands this list to ``scripts/maturity-evidence``: one source.
KEPT_PATTERNS: tuple[str, ...] = (
    "**/Dockerfile",
    "**/Containerfile",
    "**/*.dockerfile",
    ".github/workflows/*.yml",
    ".github/workflows/*.yaml",
    ".github/dependabot.yml",
    ".github/dependabot.yaml",
    ".gitlab-ci.yml",
    "**/*.gitlab-ci.yml",
    "**/*.tf",
    "**/dvc.yaml",
    "**/MLproject",
    "**/catalog-info.yaml",
    "CODEOWNERS",
    ".github/CODEOWNERS",
    "docs/CODEOWNERS",
    "**/requirements*.txt",
    "**/pyproject.toml",
    "**/environment.yml",
    "**/environment.yaml",
    "**/setup.cfg",
    ".pre-commit-config.yaml",
    "renovate.json",
    ".maturity/ci-runs.json",
    ".maturity/scorecard.json",
    "**/Chart.yaml",
    "**/kustomization.yaml",
)
# A kept file longer than this (bytes) keeps only its path, hash and size.
MAX_KEPT_BYTES = 256 * 1024

_MB = 1024 * 1024
# pax and GNU long-name headers are read whole by tarfile: a 1 GB "header" would be read
# into memory before anything else could refuse it.
MAX_TAR_HEADER_BYTES = _MB
_CHUNK = 256 * 1024  # hashing and draining
_SOURCE_CHUNK = 64 * 1024  # compressed bytes per read of an upload
_INFLATE_STEP = 1024 * 1024  # inflated bytes per zlib call at most
_KEPT_RE = re.compile(
    "|".join(f"(?:{compile_glob(pattern).pattern})" for pattern in KEPT_PATTERNS), re.DOTALL
)
_SHA256_RE = re.compile(r"[0-9a-f]{64}\Z")
_COMMIT_RE = re.compile(r"[0-9a-f]{7,64}\Z")
_DRIVE_RE = re.compile(r"[A-Za-z]:")
_YAML_SUFFIXES = (".yml", ".yaml")
_MAX_REPOSITORY_LENGTH = 100
_MAX_SHOWN = 200


def is_kept(path: str) -> bool:
    """Tell whether ``path`` (normalised, relative to the repository root) is a kept file."""
    return _KEPT_RE.match(path) is not None


@dataclass(frozen=True)
class Limits:
    """Bounds on one snapshot; every route refuses input beyond them.

    Sizes are bytes. ``max_compressed`` bounds the bytes read from an archive upload,
    ``max_expanded`` the bytes it inflates to (tar headers included) and the summed sizes of
    a local checkout's files; a JSON manifest only declares sizes, so they are not bounded
    (it exists for repositories too big to upload). ``max_entries`` counts archive members
    (directories too), manifest files, and files plus directories of a checkout.
    ``max_kept_total`` bounds the kept contents of one snapshot together.
    """

    max_compressed: int = 50 * _MB
    max_expanded: int = 500 * _MB
    max_entries: int = 100_000
    max_path_length: int = 1024
    max_manifest_bytes: int = 20 * _MB
    max_kept_total: int = 20 * _MB

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> Limits:
        """Return the default limits overridden by ``values`` (e.g. a Django setting).

        Raise ValueError for an unknown name or a value that is not a positive int.
        """
        names = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown snapshot limits: {', '.join(unknown)}")
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"snapshot limit {name} must be a positive integer")
        return cls(**values)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, int]:
        """Return the limits by name (what the spec endpoint publishes)."""
        return asdict(self)


class SnapshotError(ValueError):
    """An upload refused: ``code`` (snake_case), ``message`` (names the limit or value and
    the entry), ``path`` (the entry, shown safely, or None).

    Codes: too_large_compressed, too_large_expanded, too_large_manifest, too_many_entries,
    header_too_large, too_much_kept_content, not_gzip, corrupt_gzip, truncated, not_tar,
    corrupt_tar, path_traversal, absolute_path, backslash_in_path, nul_in_name,
    non_utf8_name, path_too_long, empty_path, duplicate_entry, path_conflict, symlink,
    hard_link, special_file, sparse_file, unsafe_yaml, bad_manifest, unsupported_format,
    content_not_allowed, content_too_large, content_mismatch.
    """

    def __init__(self, code: str, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class FileEntry:
    """One file: lowercase hex ``sha256`` of its bytes and its ``size`` in bytes."""

    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """One snapshot: every file's hash and size, and the contents of its kept files.

    Build it with the ``manifest_from_*`` functions, which validate. ``files`` is keyed by
    normalised POSIX paths relative to the repository root; ``contents`` holds the kept
    files' text (a subset of ``files``' keys); ``generated_at`` is timezone-aware.
    """

    repository: str | None
    commit: str | None
    generated_at: datetime | None
    files: dict[str, FileEntry]
    contents: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        """Return the canonical ``maturity-evidence/1`` document: files sorted by path,
        absent metadata omitted, ``generated_at`` in UTC with a ``Z``."""
        document: dict[str, Any] = {"format": FORMAT}
        if self.repository is not None:
            document["repository"] = self.repository
        if self.commit is not None:
            document["commit"] = self.commit
        if self.generated_at is not None:
            document["generated_at"] = _format_time(self.generated_at)
        document["files"] = self._file_list()
        return document

    @cached_property
    def sha256(self) -> str:
        """Hex sha256 of the tree: the canonical JSON (sorted keys, no spaces, UTF-8) of the
        format and the file list with kept contents.

        Metadata (repository, commit, generated_at) is left out, so the same tree uploaded
        as an archive or as a manifest, or again by the next CI run, has the same sha256.
        """
        tree = {"format": FORMAT, "files": self._file_list()}
        canonical = json.dumps(tree, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    @property
    def n_files(self) -> int:
        return len(self.files)

    @property
    def n_kept(self) -> int:
        return len(self.contents)

    @property
    def total_size(self) -> int:
        """The files' sizes added up, in bytes."""
        return sum(entry.size for entry in self.files.values())

    def reader(self) -> SnapshotReader:
        """Return the read-only view collectors get."""
        return SnapshotReader(self.files, self.contents)

    def _file_list(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for path in sorted(self.files):
            entry = self.files[path]
            row: dict[str, Any] = {"path": path, "sha256": entry.sha256, "size": entry.size}
            if path in self.contents:
                row["content"] = self.contents[path]
            rows.append(row)
        return rows


# --- paths -------------------------------------------------------------------------------


def _shown(path: str) -> str:
    """``path`` safe to print and store: undecodable bytes and control characters escaped,
    long paths cut."""
    try:  # the bytes of a name tarfile or os.scandir could not decode
        raw = path.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate from JSON ("\ud800")
        raw = path.encode("utf-8", "backslashreplace")
    text = raw.decode("utf-8", "backslashreplace")
    text = "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."


def normal_path(raw: str) -> str:
    """Return ``raw`` as a normalised relative POSIX path (no ``.``, empty components or
    trailing ``/``), or raise SnapshotError.

    Refused: ``..`` anywhere (path_traversal), a leading ``/`` or a drive letter
    (absolute_path), a backslash (backslash_in_path: a Windows separator, and ``..\\`` on
    Windows), NUL (nul_in_name), bytes that are not UTF-8 (non_utf8_name: tarfile and
    os.scandir hand them over as surrogate escapes), nothing left (empty_path).
    """
    if "\x00" in raw:
        raise SnapshotError("nul_in_name", f"'{_shown(raw)}': a NUL byte in a name", _shown(raw))
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        shown = _shown(raw)
        raise SnapshotError("non_utf8_name", f"'{shown}': the name is not UTF-8", shown) from None
    if "\\" in raw:
        raise SnapshotError(
            "backslash_in_path", f"'{_shown(raw)}': a backslash in a path", _shown(raw)
        )
    if raw.startswith("/") or _DRIVE_RE.match(raw):
        raise SnapshotError("absolute_path", f"'{_shown(raw)}': an absolute path", _shown(raw))
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise SnapshotError("path_traversal", f"'{_shown(raw)}': '..' in a path", _shown(raw))
    if not parts:
        raise SnapshotError("empty_path", f"'{_shown(raw)}': no file name left", _shown(raw))
    return "/".join(parts)


def _check_length(path: str, limits: Limits) -> None:
    if len(path) > limits.max_path_length:
        raise SnapshotError(
            "path_too_long",
            f"'{_shown(path)}': the path is {len(path)} characters long, "
            f"more than max_path_length={limits.max_path_length}",
            _shown(path),
        )


def _check_tree(paths: Iterable[str]) -> None:
    """Refuse a path that is both a file and another file's directory (path_conflict)."""
    files = set(paths)
    for path in files:
        slash = path.find("/")
        while slash != -1:
            if path[:slash] in files:
                raise SnapshotError(
                    "path_conflict",
                    f"'{_shown(path[:slash])}' is a file and also the directory of "
                    f"'{_shown(path)}'",
                    _shown(path),
                )
            slash = path.find("/", slash + 1)


def _count_entry(entries: int, path: str, limits: Limits) -> int:
    entries += 1
    if entries > limits.max_entries:
        raise SnapshotError(
            "too_many_entries",
            f"more than max_entries={limits.max_entries} entries (at '{_shown(path)}')",
            _shown(path),
        )
    return entries


# --- kept contents -----------------------------------------------------------------------


def _kept_text(data: bytes) -> str | None:
    """The text a kept file keeps, or None when only its path is kept (too long, not
    UTF-8, or a NUL character that PostgreSQL text cannot store)."""
    if len(data) > MAX_KEPT_BYTES:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text


def _check_kept(contents: Mapping[str, str], limits: Limits) -> None:
    """Refuse kept YAML with hostile features (unsafe_yaml) and too much kept text.

    A kept YAML file that merely does not parse is kept: collectors skip it and say so.
    """
    total = 0
    for path, text in contents.items():
        total += len(text.encode("utf-8"))
        if total > limits.max_kept_total:
            raise SnapshotError(
                "too_much_kept_content",
                f"kept files hold more than max_kept_total={limits.max_kept_total} bytes "
                f"(at '{_shown(path)}')",
                _shown(path),
            )
        if path.endswith(_YAML_SUFFIXES):
            problem = yaml_problem(text, hostile_only=True)
            if problem is not None:
                raise SnapshotError("unsafe_yaml", f"'{_shown(path)}': {problem}", _shown(path))


def _duplicate(path: str) -> SnapshotError:
    return SnapshotError(
        "duplicate_entry", f"'{_shown(path)}' appears more than once", _shown(path)
    )


def _format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- archives ----------------------------------------------------------------------------


class _Inflater:
    """A read-only byte stream of the tar inside a gzip upload, counting as it goes.

    Raise SnapshotError as soon as more than ``max_compressed`` bytes were read or more than
    ``max_expanded`` bytes inflated, so a decompression bomb stops at the limit (inflating
    at most ``_INFLATE_STEP`` beyond it). Concatenated gzip members are read as one stream,
    as gzip(1) does; the last member's CRC and length are checked once the data are drained.
    """

    def __init__(self, source: IO[bytes], limits: Limits) -> None:
        self._source = source
        self._limits = limits
        self._compressed = 0
        self._expanded = 0
        self._decompressor = zlib.decompressobj(wbits=31)  # gzip wrapper only
        self._carry = b""
        self._inflated = b""
        self._offset = 0
        self._started = False
        self._finished = False

    def read(self, size: int = -1) -> bytes:
        """Return up to ``size`` inflated bytes (b"" at the end)."""
        if self._offset >= len(self._inflated):
            # Inflating in steps far larger than tarfile's 10 KB reads: zlib copies the
            # unconsumed input on every call, which made small steps cost 50 % more.
            self._inflated, self._offset = self._inflate(), 0
        size = size if size >= 0 else len(self._inflated)
        chunk = self._inflated[self._offset : self._offset + size]
        self._offset += len(chunk)
        return chunk

    def _inflate(self) -> bytes:
        while not self._finished:
            if self._decompressor.eof:
                self._next_member()
                continue
            compressed = self._carry or self._read_source()
            try:
                out = self._decompressor.decompress(compressed, _INFLATE_STEP)
            except zlib.error as error:
                raise SnapshotError(
                    "corrupt_gzip", f"the gzip data are corrupt ({error})"
                ) from None
            self._carry = self._decompressor.unconsumed_tail or self._decompressor.unused_data
            if not out and not compressed and not self._decompressor.eof:
                raise SnapshotError(
                    "truncated", "the gzip stream ends before its end (a truncated upload?)"
                )
            if out:
                self._expanded += len(out)
                if self._expanded > self._limits.max_expanded:
                    raise SnapshotError(
                        "too_large_expanded",
                        f"the archive inflates to more than "
                        f"max_expanded={self._limits.max_expanded} bytes",
                    )
                return out
        return b""

    def drain(self) -> None:
        """Read to the end of the gzip stream (checks its CRC, trailer and the limits)."""
        while self.read(_CHUNK):
            pass

    def _read_source(self) -> bytes:
        chunk = self._source.read(_SOURCE_CHUNK)
        if not self._started:
            self._started = True
            while 0 < len(chunk) < 2:  # a source that hands over one byte at a time
                more = self._source.read(_SOURCE_CHUNK)
                if not more:
                    break
                chunk += more
            if not chunk.startswith(b"\x1f\x8b"):
                raise SnapshotError("not_gzip", "the upload is not gzip data (no gzip magic)")
        self._compressed += len(chunk)
        if self._compressed > self._limits.max_compressed:
            raise SnapshotError(
                "too_large_compressed",
                f"the upload is larger than max_compressed={self._limits.max_compressed} bytes",
            )
        return chunk

    def _next_member(self) -> None:
        if not self._carry:
            self._carry = self._read_source()
        if self._carry:
            self._decompressor = zlib.decompressobj(wbits=31)
        else:
            self._finished = True


class _StrictTarInfo(tarfile.TarInfo):
    """tarfile's member header, made strict where tarfile is lenient.

    tarfile ends an archive quietly at a bad or truncated header after the first one; a
    snapshot missing its tail would contradict answers, so those are refused. Its
    ``_proc_member`` is tarfile's documented hook for subclasses.
    """

    @classmethod
    def fromtarfile(cls, archive: tarfile.TarFile) -> _StrictTarInfo:
        at_start = archive.fileobj is not None and archive.fileobj.tell() == 0
        try:
            return super().fromtarfile(archive)
        except tarfile.HeaderError as error:
            kind = type(error).__name__
            if at_start or kind == "EOFHeaderError":  # the end-of-archive marker
                raise
            if kind in {"EmptyHeaderError", "TruncatedHeaderError"}:
                raise SnapshotError(
                    "truncated", "the tar data end without an end-of-archive marker"
                ) from None
            raise SnapshotError("corrupt_tar", f"a corrupt tar header ({error})") from None

    def _proc_member(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise _sparse(self.name)
        if self.type in _METADATA_TYPES and self.size > MAX_TAR_HEADER_BYTES:
            raise SnapshotError(
                "header_too_large",
                f"a tar extended header of {self.size} bytes (more than {MAX_TAR_HEADER_BYTES})",
            )
        member: tarfile.TarInfo = super()._proc_member(archive)  # type: ignore[misc]
        return member


_METADATA_TYPES = frozenset(
    {
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
    }
)


def _sparse(name: str) -> SnapshotError:
    return SnapshotError("sparse_file", f"'{_shown(name)}' is a sparse file", _shown(name))


def _refuse_non_regular(member: tarfile.TarInfo) -> None:
    """Raise for a member that is neither a regular file nor a directory."""
    if member.isreg() and member.sparse is None:
        return
    name = _shown(member.name)
    if member.issym():
        raise SnapshotError(
            "symlink", f"'{name}' is a symbolic link (to '{_shown(member.linkname)}')", name
        )
    if member.islnk():
        raise SnapshotError(
            "hard_link", f"'{name}' is a hard link (to '{_shown(member.linkname)}')", name
        )
    if member.sparse is not None:
        raise _sparse(member.name)
    if not member.isreg():
        kind = {
            tarfile.CHRTYPE: "a character device",
            tarfile.BLKTYPE: "a block device",
            tarfile.FIFOTYPE: "a FIFO",
        }.get(member.type, f"a tar entry of type {member.type!r}")
        raise SnapshotError("special_file", f"'{name}' is {kind}", name)


class _ArchiveReader:
    """The state of one archive read: files by raw normalised path, candidate kept bytes."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.files: dict[str, FileEntry] = {}
        self.kept_bytes: dict[str, bytes] = {}
        self.entries = 0
        self.declared = 0
        self.buffered = 0

    def add(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        self.entries = _count_entry(self.entries, member.name, self.limits)
        if member.isdir():
            if member.name != ".":  # "./", as `tar -C dir .` writes it
                normal_path(member.name)
            return
        if member.size < 0:
            raise SnapshotError(
                "corrupt_tar", f"'{_shown(member.name)}': a negative size", _shown(member.name)
            )
        _refuse_non_regular(member)
        path = normal_path(member.name)
        if path in self.files:
            raise _duplicate(path)
        # Both readings of the path (prefix stripped or not) too long: refuse now.
        first, _, rest = path.partition("/")
        _check_length(rest or first, self.limits)
        self.declared += member.size
        if self.declared > self.limits.max_expanded:
            raise SnapshotError(
                "too_large_expanded",
                f"'{_shown(path)}' takes the files past max_expanded="
                f"{self.limits.max_expanded} bytes",
                _shown(path),
            )
        keep = member.size <= MAX_KEPT_BYTES and (is_kept(path) or (bool(rest) and is_kept(rest)))
        self.files[path] = self._hash(tar, member, path, keep)

    def _hash(
        self, tar: tarfile.TarFile, member: tarfile.TarInfo, path: str, keep: bool
    ) -> FileEntry:
        stream = tar.extractfile(member)
        if stream is None:  # tarfile gives every regular member a stream
            raise SnapshotError("special_file", f"'{_shown(path)}' has no data", _shown(path))
        digest = hashlib.sha256()
        kept: list[bytes] = []
        try:
            chunk = stream.read(_CHUNK)
            while chunk:
                digest.update(chunk)
                if keep:
                    kept.append(chunk)
                chunk = stream.read(_CHUNK)
        except tarfile.ReadError as error:
            raise SnapshotError(
                "truncated", f"'{_shown(path)}': the archive ends inside it ({error})", _shown(path)
            ) from None
        if keep:
            data = b"".join(kept)
            self.buffered += len(data)
            if self.buffered > self.limits.max_kept_total:
                raise SnapshotError(
                    "too_much_kept_content",
                    f"kept files hold more than max_kept_total={self.limits.max_kept_total} "
                    f"bytes (at '{_shown(path)}')",
                    _shown(path),
                )
            self.kept_bytes[path] = data
        return FileEntry(digest.hexdigest(), member.size)

    def manifest(self, commit: str | None) -> Manifest:
        prefix = _archive_prefix(self.files)
        cut = len(prefix) + 1 if prefix is not None else 0
        files: dict[str, FileEntry] = {}
        contents: dict[str, str] = {}
        for path in sorted(self.files):
            final = path[cut:]
            _check_length(final, self.limits)
            files[final] = self.files[path]
            data = self.kept_bytes.get(path)
            if data is not None and is_kept(final):
                text = _kept_text(data)
                if text is not None:
                    contents[final] = text
        _check_tree(files)
        _check_kept(contents, self.limits)
        return Manifest(None, commit, None, files, contents)


def _archive_prefix(paths: Iterable[str]) -> str | None:
    """The top-level directory to strip: the one every file lies under, or None.

    ``git archive --prefix=repo/`` and GitHub's tarballs put a whole tree under one
    directory. A repository has a file at its root in practice (README, .gitignore), so
    "no file at the root, every file under one top-level directory" is read as a prefix,
    unless that directory's name starts with a dot (``.github/``: a prefix never does).
    A repository that really holds only one such directory is read one level down.
    """
    prefix: str | None = None
    for path in paths:
        first, slash, _ = path.partition("/")
        if not slash or first.startswith(".") or (prefix is not None and first != prefix):
            return None
        prefix = first
    return prefix


def manifest_from_archive(fileobj: IO[bytes], limits: Limits | None = None) -> Manifest:
    """Read a ``.tar.gz`` upload into a Manifest without writing or extracting anything.

    ``fileobj`` is read sequentially (``read(n)`` only). Directories are skipped (they
    count as entries). Refused with SnapshotError: more than ``limits`` allow (compressed
    bytes, inflated bytes, entries, path length, kept text), input that is not gzip, is
    corrupt or truncated, is not tar or ends inside a member or without its end marker;
    symbolic and hard links, devices, FIFOs, sparse files; unsafe or non-UTF-8 names (see
    ``normal_path``); an entry twice (also ``./a`` and ``a``); a file that is also a
    directory; kept YAML with hostile features.

    The commit id of ``git archive`` (its pax global header's ``comment``) becomes
    ``Manifest.commit`` when it is a hex id. A top-level directory that every file lies
    under (``git archive --prefix=repo/``) is stripped: see ``_archive_prefix``.
    """
    limits = limits or Limits()
    inflater = _Inflater(fileobj, limits)
    state = _ArchiveReader(limits)
    try:
        with tarfile.open(
            fileobj=cast(IO[bytes], inflater),  # tarfile's stream mode only calls read()
            mode="r|",
            tarinfo=_StrictTarInfo,
            encoding="utf-8",
            errors="surrogateescape",
        ) as tar:
            for member in _members(tar):
                state.add(tar, member)
            comment = (tar.pax_headers or {}).get("comment", "")
        inflater.drain()
    except SnapshotError:
        raise
    except (tarfile.TarError, ValueError, EOFError) as error:
        # tarfile's own errors, and what its pax parsing lets through (a bad hdrcharset).
        code = "not_tar" if state.entries == 0 else "corrupt_tar"
        raise SnapshotError(code, f"the upload is not a readable tar archive ({error})") from None
    commit = comment.lower() if _COMMIT_RE.match(comment.lower()) else None
    return state.manifest(commit)


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    member = tar.next()
    while member is not None:
        yield member
        member = tar.next()


# --- JSON manifests ----------------------------------------------------------------------

_TOP_KEYS = frozenset({"format", "repository", "commit", "generated_at", "files"})
_FILE_KEYS = frozenset({"path", "sha256", "size", "content"})


def _bad(message: str, path: str | None = None) -> SnapshotError:
    return SnapshotError("bad_manifest", message, path)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _bad(f"the key '{_shown(key)}' appears twice in one object")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise _bad(f"{name} is not a JSON number")


def _parse_json(data: bytes, limits: Limits) -> Any:
    if len(data) > limits.max_manifest_bytes:
        raise SnapshotError(
            "too_large_manifest",
            f"the manifest is {len(data)} bytes, more than "
            f"max_manifest_bytes={limits.max_manifest_bytes}",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _bad(f"the manifest is not UTF-8 ({error.reason} at byte {error.start})") from None
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except RecursionError:
        raise _bad("the manifest nests too deeply") from None
    except ValueError as error:
        if isinstance(error, SnapshotError):
            raise
        raise _bad(f"the manifest is not JSON ({error})") from None


def _optional_str(document: Mapping[str, Any], key: str, max_length: int) -> str | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= max_length:
        raise _bad(f"{key} must be a string of 1 to {max_length} characters")
    if not value.isprintable():
        raise _bad(f"{key} must not hold control characters")
    return value


def _metadata(document: Any) -> tuple[str | None, str | None, datetime | None]:
    if not isinstance(document, dict):
        raise _bad("the manifest must be a JSON object")
    unknown = sorted(set(document) - _TOP_KEYS)
    if unknown:
        raise _bad(f"unknown keys in the manifest: {', '.join(map(_shown, unknown))}")
    if document.get("format") != FORMAT:
        raise SnapshotError(
            "unsupported_format",
            f"format must be {FORMAT!r}, not '{_shown(str(document.get('format')))}'",
        )
    repository = _optional_str(document, "repository", _MAX_REPOSITORY_LENGTH)
    commit = _optional_str(document, "commit", 64)
    if commit is not None:
        commit = commit.lower()
        if not _COMMIT_RE.match(commit):
            raise _bad("commit must be a hex commit id (7 to 64 hex digits)")
    stamp = _optional_str(document, "generated_at", 40)
    generated_at = None
    if stamp is not None:
        try:
            generated_at = datetime.fromisoformat(stamp)
        except ValueError:
            raise _bad(f"generated_at '{_shown(stamp)}' is not an ISO 8601 time") from None
        if generated_at.tzinfo is None:
            raise _bad(f"generated_at '{_shown(stamp)}' has no time zone")
    return repository, commit, generated_at


def _file_entry(item: Any, index: int, limits: Limits) -> tuple[str, FileEntry, str | None]:
    if not isinstance(item, dict):
        raise _bad(f"files[{index}] must be an object")
    unknown = sorted(set(item) - _FILE_KEYS)
    if unknown:
        raise _bad(f"files[{index}]: unknown keys {', '.join(map(_shown, unknown))}")
    raw, sha256, size = item.get("path"), item.get("sha256"), item.get("size")
    if not isinstance(raw, str):
        raise _bad(f"files[{index}].path must be a string")
    path = normal_path(raw)
    _check_length(path, limits)
    if not isinstance(sha256, str) or not _SHA256_RE.match(sha256):
        raise _bad(f"'{_shown(path)}': sha256 must be 64 lowercase hex digits", _shown(path))
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < 2**63:
        raise _bad(f"'{_shown(path)}': size must be a non-negative integer", _shown(path))
    content = item.get("content")
    if content is not None:
        _check_content(path, content, sha256, size)
    return path, FileEntry(sha256, size), content


def _check_content(path: str, content: Any, sha256: str, size: int) -> None:
    shown = _shown(path)
    if not is_kept(path):
        raise SnapshotError(
            "content_not_allowed",
            f"'{shown}': content is only sent for kept files (snapshot.KEPT_PATTERNS)",
            shown,
        )
    if not isinstance(content, str):
        raise _bad(f"'{shown}': content must be a string", shown)
    try:
        data = content.encode("utf-8")
    except UnicodeEncodeError:
        raise _bad(f"'{shown}': content is not valid Unicode text", shown) from None
    if len(data) > MAX_KEPT_BYTES:
        raise SnapshotError(
            "content_too_large",
            f"'{shown}': content of {len(data)} bytes, more than MAX_KEPT_BYTES="
            f"{MAX_KEPT_BYTES} (send such a file without content)",
            shown,
        )
    if "\x00" in content:
        raise _bad(f"'{shown}': content holds a NUL character (send it without content)", shown)
    if len(data) != size or hashlib.sha256(data).hexdigest() != sha256:
        raise SnapshotError(
            "content_mismatch", f"'{shown}': content does not match its size and sha256", shown
        )


def manifest_from_json(data: bytes, limits: Limits | None = None) -> Manifest:
    """Validate a ``maturity-evidence/1`` JSON manifest (see the issue 16 spec) into a
    Manifest.

    Refused with SnapshotError: a body over ``max_manifest_bytes`` (too_large_manifest),
    not UTF-8 JSON, NaN, a key twice, deep nesting, unknown keys, wrong types, a sha256
    that is not 64 lowercase hex digits, a negative or non-integer size (bad_manifest);
    another format (unsupported_format); more than ``max_entries`` files; unsafe paths (see
    ``normal_path``), paths twice after normalising, a file that is also a directory;
    content for a path ``KEPT_PATTERNS`` does not name (content_not_allowed), longer than
    ``MAX_KEPT_BYTES`` (content_too_large) or disagreeing with its size or sha256
    (content_mismatch); kept YAML with hostile features. Content may be left out for any
    file (binary or oversized kept files are sent that way).
    """
    limits = limits or Limits()
    document = _parse_json(data, limits)
    repository, commit, generated_at = _metadata(document)
    items = document.get("files")
    if not isinstance(items, list):
        raise _bad("files must be a list")
    if len(items) > limits.max_entries:
        raise SnapshotError(
            "too_many_entries",
            f"{len(items)} files, more than max_entries={limits.max_entries}",
        )
    files: dict[str, FileEntry] = {}
    contents: dict[str, str] = {}
    for index, item in enumerate(items):
        path, entry, content = _file_entry(item, index, limits)
        if path in files:
            raise _duplicate(path)
        files[path] = entry
        if content is not None:
            contents[path] = content
    _check_tree(files)
    _check_kept(contents, limits)
    return Manifest(repository, commit, generated_at, dict(sorted(files.items())), contents)


# --- local checkouts ---------------------------------------------------------------------


def manifest_from_directory(
    root: Path, limits: Limits | None = None, only: Collection[str] | None = None
) -> Manifest:
    """Read a local checkout into a Manifest.

    Skip anything named ``.git`` (the repository, a submodule's link), symbolic links (not
    followed, not recorded) and anything that is neither a file nor a directory. Without
    ``only`` the walk takes every other file, ignored or untracked ones included: point it
    at a clean checkout, or pass ``only``, the relative paths to take (``git ls-files``):
    directories holding none of them are not entered. Refused with SnapshotError: more
    than ``max_entries`` files and directories, files adding up to more than
    ``max_expanded`` bytes, unsafe or non-UTF-8 names (see ``normal_path``), paths over
    ``max_path_length``, kept YAML with hostile features.
    """
    limits = limits or Limits()
    files: dict[str, FileEntry] = {}
    contents: dict[str, str] = {}
    entries = total = 0
    pending = [""]
    wanted = None if only is None else frozenset(only)
    # The directories above the wanted files, e.g. "a" and "a/b" for "a/b/c.txt".
    wanted_dirs = frozenset(
        p.rsplit("/", depth)[0] for p in wanted or () for depth in range(1, p.count("/") + 1)
    )
    while pending:
        relative = pending.pop()
        with os.scandir(root / relative if relative else root) as scan:
            found = sorted(scan, key=lambda entry: entry.name)
        for entry in found:
            if entry.name == ".git" or entry.is_symlink():
                continue
            path = f"{relative}/{entry.name}" if relative else entry.name
            if wanted is not None and path not in wanted and path not in wanted_dirs:
                continue
            if entry.is_dir(follow_symlinks=False):
                entries = _count_entry(entries, path, limits)
                normal_path(path)
                pending.append(path)
            elif entry.is_file(follow_symlinks=False):
                entries = _count_entry(entries, path, limits)
                path = normal_path(path)
                _check_length(path, limits)
                file_entry, text = _read_local(entry.path, path)
                total += file_entry.size
                if total > limits.max_expanded:
                    raise SnapshotError(
                        "too_large_expanded",
                        f"'{_shown(path)}' takes the files past max_expanded="
                        f"{limits.max_expanded} bytes",
                        _shown(path),
                    )
                files[path] = file_entry
                if text is not None:
                    contents[path] = text
    _check_kept(contents, limits)
    return Manifest(None, None, None, dict(sorted(files.items())), contents)


def _read_local(location: str, path: str) -> tuple[FileEntry, str | None]:
    """Hash one regular file (never through a symbolic link); return its kept text too."""
    descriptor = os.open(location, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise SnapshotError("special_file", f"'{_shown(path)}' is not a regular file")
        keep = is_kept(path)
        digest = hashlib.sha256()
        kept: list[bytes] = []
        size = 0
        chunk = handle.read(_CHUNK)
        while chunk:
            digest.update(chunk)
            size += len(chunk)
            if keep and size <= MAX_KEPT_BYTES:
                kept.append(chunk)
            chunk = handle.read(_CHUNK)
    text = _kept_text(b"".join(kept)) if keep and size <= MAX_KEPT_BYTES else None
    return FileEntry(digest.hexdigest(), size), text
