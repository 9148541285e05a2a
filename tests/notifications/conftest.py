"""What the webhook tests share: a real HTTP receiver on 127.0.0.1 (a thread, a free port),
a signature check as a receiver would write it, and two stand-ins for the network around
us: ``fake_dns`` (names that resolve where a test says) and ``fake_routes`` (an "internet"
address whose packets arrive at a local server), so that the address rule can be tested
with public-looking first hops without any allowance in the code under test."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import urllib3.util.connection
from django.contrib.auth.models import Permission
from django.core.mail.backends.locmem import EmailBackend

from tests.factories import UserFactory

SECRET = "s3cret-that-is-long-enough"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a client that hung up mid-answer (a delivery keeps only 1 KB of it)


class Receiver:
    """An HTTP server that records every request and answers from a script (then 200)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.received: list[Received] = []
        self.script: deque[Answer] = deque()
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.received.append(Received(self.path, dict(self.headers), body))
                    answer = receiver.script.popleft() if receiver.script else Answer()
                time.sleep(answer.delay)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, *answers: Answer) -> None:
        with self.lock:
            self.script.extend(answers)

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.received)} request(s) received, expected {count}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def other_receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def signed_by(secret: str, received: Received) -> bool:
    """Check X-Maturity-Signature as a receiver would: HMAC-SHA256 of the raw body."""
    expected = "sha256=" + hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received.headers.get("X-Maturity-Signature", ""))


class FakeDNS:
    """Names a test maps to addresses: ``names["hooks.test"] = ["93.184.215.14"]``, or a
    callable returning the list (a name whose answer changes); ``lookups`` counts the
    lookups per name. Other names resolve as usual."""

    def __init__(self) -> None:
        self.names: dict[str, list[str] | Callable[[], list[str]]] = {}
        self.lookups: dict[str, int] = {}
        self.real = socket.getaddrinfo

    def getaddrinfo(self, host, port, *args, **kwargs):
        key = host.decode() if isinstance(host, bytes) else host
        if key not in self.names:
            return self.real(host, port, *args, **kwargs)
        self.lookups[key] = self.lookups.get(key, 0) + 1
        entry = self.names[key]
        addresses = entry() if callable(entry) else entry
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (address, port or 0, 0, 0) if ":" in address else (address, port or 0),
            )
            for address in addresses
        ]


@pytest.fixture
def fake_dns(monkeypatch) -> FakeDNS:
    dns = FakeDNS()
    monkeypatch.setattr(socket, "getaddrinfo", dns.getaddrinfo)
    return dns


class FakeRoutes:
    """Connections to an (address, port) of ``routes`` arrive at the local (host, port)
    it maps to instead, as if the internet delivered them there; ``dialled`` lists every
    (address, port) a connection was made to."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, int], tuple[str, int]] = {}
        self.dialled: list[tuple[str, int]] = []
        self.real = urllib3.util.connection.create_connection

    def create_connection(self, address, *args, **kwargs):
        self.dialled.append(address)
        return self.real(self.routes.get(address, address), *args, **kwargs)


@pytest.fixture
def fake_routes(monkeypatch) -> FakeRoutes:
    routes = FakeRoutes()
    monkeypatch.setattr(urllib3.util.connection, "create_connection", routes.create_connection)
    return routes


@dataclass
class Certificates:
    ca_file: Path
    server_context: Callable[[str], ssl.SSLContext]


@pytest.fixture(scope="session")
def certificates(tmp_path_factory) -> Certificates:
    """A test CA, and server TLS contexts with a certificate it signed for a given name;
    each context records the SNI names it is asked for in ``context.sni_names``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory = tmp_path_factory.mktemp("tls")
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Webhook test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    def server_context(hostname: str) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
            .sign(ca_key, hashes.SHA256())
        )
        cert_file = directory / f"{hostname}.pem"
        key_file = directory / f"{hostname}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        context.sni_names = []  # type: ignore[attr-defined]

        def remember(sock, server_name, ctx):
            context.sni_names.append(server_name)  # type: ignore[attr-defined]

        context.sni_callback = remember
        return context

    return Certificates(ca_file, server_context)


@pytest.fixture
def lead(db):
    """A programme lead: not Django staff, holds surveys.run_programme."""
    user = UserFactory(username="lena")
    user.user_permissions.add(Permission.objects.get(codename="run_programme"))
    return user


class CountingBackend(EmailBackend):
    """Django's locmem backend, counting the connections made (get_connection makes one
    each time: the digest must make one) and refusing addresses that start with
    "refused"."""

    connections = 0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        CountingBackend.connections += 1

    def send_messages(self, messages):
        for message in messages:
            if any(address.startswith("refused") for address in message.to):
                raise OSError("550 mailbox unavailable")
        return super().send_messages(messages)


# The real worker of tests/integration, for this app's integration tests.
from tests.integration.conftest import real_celery, redis_url  # noqa: E402, F401
