"""scripts/maturity-evidence against a real HTTP server started here, and its glob copy."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maturity.evidence import paths
from maturity.evidence.snapshot import (
    KEPT_PATTERNS,
    MAX_KEPT_BYTES,
    Limits,
    manifest_from_archive,
    manifest_from_json,
)

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "maturity-evidence"
TOKEN = "s3cret-team-token"


def _python39() -> str | None:
    """A working Python 3.9 interpreter (pyenv's shim may exist without one), or None."""
    candidates = [str(path) for path in Path.home().glob(".pyenv/versions/3.9*/bin/python3.9")]
    candidates.append(shutil.which("python3.9") or "")
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "--version"], capture_output=True).returncode == 0:
            return candidate
    return None


PYTHON39 = _python39()


def load_script():
    loader = importlib.machinery.SourceFileLoader("maturity_evidence_script", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


script = load_script()


# --- the glob matcher copy ---------------------------------------------------------------

GLOB_TABLE = [
    ("**/Dockerfile", "Dockerfile", True),
    ("**/Dockerfile", "svc/api/Dockerfile", True),
    ("**/Dockerfile", "svc/Dockerfile.prod", False),
    (".github/workflows/*.yml", ".github/workflows/ci.yml", True),
    (".github/workflows/*.yml", ".github/workflows/sub/ci.yml", False),
    ("**/*.gitlab-ci.yml", ".gitlab-ci.yml", True),
    ("**/requirements*.txt", "a/requirements-dev.txt", True),
    ("docs/**", "docs/a/b.md", True),
    ("docs/**", "docs", True),
    ("docs/**", "docsx/a", False),
    ("src/**/test_*.py", "src/test_a.py", True),
    ("src/**/test_*.py", "src/x/y/test_a.py", True),
    ("a?c", "abc", True),
    ("a?c", "a/c", False),
    ("[ab].txt", "a.txt", True),
    ("[!ab].txt", "c.txt", True),
    ("[!ab].txt", "a.txt", False),
    ("x[!a]y", "x/y", False),
    ("a**b", "a/x/b", True),
    ("*.tf", "infra/main.tf", False),
    ("a[b", "a[b", True),
    ("a.b", "axb", False),
    ("+(x)", "+(x)", True),
]


@pytest.mark.parametrize(("pattern", "path", "expected"), GLOB_TABLE)
def test_the_script_matches_globs_as_paths_py_does(pattern, path, expected):
    assert paths.glob_match(pattern, path) is expected
    assert script.glob_match(pattern, path) is expected


def _outcome(compile_glob, pattern: str, path: str) -> object:
    try:
        compiled = compile_glob(pattern)
    except re.error as error:
        return ("error", error.msg)
    return (compiled.pattern, compiled.match(path) is not None)


# Both copies compile "[[" or "--" inside [...] as re warns may one day change meaning.
@pytest.mark.filterwarnings("ignore:Possible (nested set|set difference):FutureWarning")
@settings(max_examples=500, deadline=None)
@given(
    pattern=st.text(alphabet="ab/*?[]!.^\\-", max_size=12),
    path=st.text(alphabet="ab/.[]^\\-", max_size=12),
)
def test_the_script_glob_copy_agrees_with_paths_py_on_any_pattern(pattern, path):
    assert _outcome(script.compile_glob, pattern, path) == _outcome(
        paths.compile_glob, pattern, path
    )


def test_the_script_is_python_39_syntax_and_standard_library_only():
    import ast

    tree = ast.parse(SCRIPT.read_text(), feature_version=(3, 9))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module)])
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}
    assert os.access(SCRIPT, os.X_OK)
    assert SCRIPT.read_text().startswith("#!/usr/bin/env python3\n")


# --- a real server -----------------------------------------------------------------------


class Service:
    """What the fake service answers and what it received."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.spec = {
            "format": "maturity-evidence/1",
            "kept_patterns": list(KEPT_PATTERNS),
            "max_kept_bytes": MAX_KEPT_BYTES,
            "limits": Limits().as_dict(),
        }
        self.post_status = 202
        self.post_answer: dict = {"id": 42, "status": "pending"}
        self.redirect_post = False


def _handler(service: Service):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - the base class's name
            pass

        def _answer(self, status: int, document: object, headers: dict | None = None) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _record(self) -> bool:
            length = int(self.headers.get("Content-Length") or 0)
            service.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": self.rfile.read(length),
                }
            )
            if self.headers.get("Authorization") != f"Token {TOKEN}":
                self._answer(401, {"detail": "Invalid token."})
                return False
            return True

        def do_GET(self):  # noqa: N802 - http.server's name
            if not self._record():
                return
            if self.path == "/api/v1/evidence/spec/":
                self._answer(200, service.spec)
            else:
                self._answer(404, {"detail": "Not found."})

        def do_POST(self):  # noqa: N802 - http.server's name
            if not self._record():
                return
            if service.redirect_post:
                self._answer(302, {}, {"Location": "http://evil.example/collect"})
            elif self.path == "/api/v1/teams/recsys/evidence/":
                self._answer(service.post_status, service.post_answer)
            else:
                self._answer(404, {"detail": "Not found."})

    return Handler


@pytest.fixture
def service():
    state = Service()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def run_script(service, *args: str, token: str | None = TOKEN, python: str = sys.executable):
    environment = {
        key: value for key, value in os.environ.items() if key != "MATURITY_EVIDENCE_TOKEN"
    }
    if token is not None:
        environment["MATURITY_EVIDENCE_TOKEN"] = token
    return subprocess.run(
        [python, str(SCRIPT), "--url", service.url, "--team", "recsys", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


def uploaded(service) -> tuple[bytes, dict[str, str], dict]:
    """The manifest bytes, the other form fields and the headers of the one upload."""
    posts = [entry for entry in service.requests if entry["method"] == "POST"]
    assert len(posts) == 1
    post = posts[0]
    content_type = post["headers"]["Content-Type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + post["body"]
    )
    manifest = b""
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name == "manifest":
            assert part.get_filename() == "manifest.json"
            assert part.get_content_type() == "application/json"
            manifest = part.get_payload(decode=True)
        else:
            fields[name] = part.get_payload(decode=True).decode()
    return manifest, fields, post["headers"]


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
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "recsys"
    (root / "src").mkdir(parents=True)
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM python:3.12\n")
    (root / ".github" / "workflows" / "ci.yml").write_text("on: push\njobs: {}\n")
    (root / "src" / "train.py").write_text("SECRET_SOURCE = 1\n")
    (root / "requirements.txt").write_text("numpy==2.0\n")
    (root / "model.bin").write_bytes(bytes(range(256)) * 4)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "init")
    (root / "untracked.py").write_text("not listed by git ls-files\n")
    return root


def test_the_script_uploads_a_manifest_the_service_accepts(service, repo, tmp_path):
    runs = tmp_path / "runs.json"
    runs.write_text(json.dumps([{"id": 1, "status": "success"}]))
    scorecard = tmp_path / "scorecard.json"
    scorecard.write_text(json.dumps({"score": 7.5}))
    done = run_script(
        service,
        "--repository",
        "recsys-training",
        "--ci-runs",
        str(runs),
        "--scorecard",
        str(scorecard),
        str(repo),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "42\n"
    spec_request = service.requests[0]
    assert (spec_request["method"], spec_request["path"]) == ("GET", "/api/v1/evidence/spec/")
    assert spec_request["headers"]["Authorization"] == f"Token {TOKEN}"
    body, fields, headers = uploaded(service)
    assert headers["Authorization"] == f"Token {TOKEN}"
    assert fields == {"repository": "recsys-training"}
    manifest = manifest_from_json(body)
    assert manifest.repository == "recsys-training"
    assert manifest.commit == _git(repo, "rev-parse", "HEAD").strip()
    assert manifest.generated_at is not None and manifest.generated_at.utcoffset().seconds == 0
    assert sorted(manifest.files) == [
        ".github/workflows/ci.yml",
        ".maturity/ci-runs.json",
        ".maturity/scorecard.json",
        "Dockerfile",
        "model.bin",
        "requirements.txt",
        "src/train.py",
    ]
    assert manifest.contents == {
        ".github/workflows/ci.yml": "on: push\njobs: {}\n",
        ".maturity/ci-runs.json": runs.read_text(),
        ".maturity/scorecard.json": scorecard.read_text(),
        "Dockerfile": "FROM python:3.12\n",
        "requirements.txt": "numpy==2.0\n",
    }
    assert "SECRET_SOURCE" not in body.decode()


def test_the_uploaded_tree_has_the_sha256_of_the_same_commit_archived(service, repo):
    assert run_script(service, str(repo)).returncode == 0
    body, _, _ = uploaded(service)
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", "--format=tar.gz", "HEAD"],
        check=True,
        capture_output=True,
    ).stdout
    archived = manifest_from_archive(io.BytesIO(archive))
    assert manifest_from_json(body).sha256 == archived.sha256


def test_a_plain_directory_is_walked_skipping_git_and_symbolic_links(service, tmp_path):
    root = tmp_path / "plain"
    (root / ".git").mkdir(parents=True)
    (root / ".git" / "config").write_text("[core]\n")
    (root / "svc").mkdir()
    (root / "svc" / "Dockerfile").write_text("FROM x\n")
    (tmp_path / "secret.txt").write_text("secret")
    (root / "svc" / "link.txt").symlink_to(tmp_path / "secret.txt")
    (root / "outside").symlink_to(tmp_path)
    done = run_script(service, str(root))
    assert done.returncode == 0, done.stderr
    manifest = manifest_from_json(uploaded(service)[0])
    assert sorted(manifest.files) == ["svc/Dockerfile"]
    assert manifest.commit is None


def test_a_dry_run_prints_the_summary_and_uploads_nothing(service, repo):
    done = run_script(service, "--dry-run", str(repo))
    assert done.returncode == 0, done.stderr
    assert "5 files" in done.stderr and "3 kept" in done.stderr
    assert "  Dockerfile\n" in done.stderr and "src/train.py" not in done.stderr
    assert [entry["method"] for entry in service.requests] == ["GET"]


def test_a_refused_token_exits_2_printing_the_service_error(service, repo):
    done = run_script(service, str(repo), token="wrong")
    assert done.returncode == 2
    assert "HTTP 401" in done.stderr and '{"detail": "Invalid token."}' in done.stderr


def test_a_refused_upload_exits_2_printing_the_service_error(service, repo):
    service.post_status = 400
    service.post_answer = {"code": "path_traversal", "detail": "'../x': '..' in a path"}
    done = run_script(service, str(repo))
    assert done.returncode == 2
    assert '"code": "path_traversal"' in done.stderr
    assert done.stdout == ""


def test_a_failing_service_exits_3(service, repo):
    service.post_status = 503
    service.post_answer = {"detail": "maintenance"}
    assert run_script(service, str(repo)).returncode == 3


def test_an_unreachable_service_exits_3(service, repo):
    service.url = "http://127.0.0.1:9"  # discard port: nothing listens
    done = run_script(service, str(repo))
    assert done.returncode == 3
    assert "127.0.0.1:9" in done.stderr


def test_a_redirect_is_not_followed_with_the_token(service, repo):
    service.redirect_post = True
    done = run_script(service, str(repo))
    assert done.returncode == 3
    assert "redirected" in done.stderr and "evil.example" in done.stderr
    assert len(service.requests) == 2  # the spec and the one POST, nothing followed


def test_the_token_comes_from_the_environment_only(service, repo):
    done = run_script(service, str(repo), token=None)
    assert done.returncode == 2 and "MATURITY_EVIDENCE_TOKEN" in done.stderr
    assert service.requests == []
    done = run_script(service, "--token", TOKEN, str(repo))
    assert done.returncode == 2 and "unrecognized arguments: --token" in done.stderr


def test_another_manifest_format_is_refused_before_listing(service, repo):
    service.spec["format"] = "maturity-evidence/2"
    done = run_script(service, str(repo))
    assert done.returncode == 2 and "update the script" in done.stderr


def test_a_ci_runs_export_that_is_not_json_is_refused(service, repo, tmp_path):
    runs = tmp_path / "runs.json"
    runs.write_text("not json")
    done = run_script(service, "--ci-runs", str(runs), str(repo))
    assert done.returncode == 2 and "is not UTF-8 JSON" in done.stderr


def test_too_many_files_for_the_service_are_refused_locally(service, repo):
    service.spec["limits"]["max_entries"] = 3
    done = run_script(service, str(repo))
    assert done.returncode == 2 and "more than the service takes (3)" in done.stderr


@pytest.mark.skipif(PYTHON39 is None, reason="no Python 3.9 interpreter on this machine")
def test_the_script_runs_on_python_39(service, repo):
    done = run_script(service, str(repo), python=PYTHON39)
    assert done.returncode == 0, done.stderr
    assert manifest_from_json(uploaded(service)[0]).n_files == 5
