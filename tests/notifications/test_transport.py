"""One signed request (notifications.transport) against real local HTTP(S) servers: what is
sent, how answers are judged, redirects, timeouts, the address rule on every hop, the
connection pinned to the address checked, TLS verified for the host name. No database."""

from __future__ import annotations

import hashlib
import hmac
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from notifications import transport
from tests.notifications.conftest import Answer, Receiver, signed_by

BODY = b'{"event":"scores.updated","id":"x"}'
HEADERS = {
    "Content-Type": "application/json",
    "User-Agent": transport.USER_AGENT,
    "X-Maturity-Signature": transport.signature("s3cret-that-is-long-enough", BODY),
}
LOCAL = transport.Policy(allow_private=True)
PUBLIC_ONLY = transport.Policy(allow_private=False)
PUBLIC_IP = "93.184.215.14"  # routed to a local server by fake_routes: never dialled for real


def test_the_signature_is_the_hmac_sha256_of_the_exact_bytes():
    expected = hmac.new(b"k" * 16, BODY, hashlib.sha256).hexdigest()
    assert transport.signature("k" * 16, BODY) == f"sha256={expected}"
    assert transport.signature("k" * 16, BODY + b" ") != f"sha256={expected}"
    # A non-ASCII secret is keyed by its UTF-8 bytes.
    assert (
        transport.signature("ключ" * 4, BODY)
        == "sha256=" + hmac.new(("ключ" * 4).encode(), BODY, hashlib.sha256).hexdigest()
    )


def test_a_2xx_is_a_success_and_the_body_and_headers_arrive_as_sent(receiver):
    receiver.answer(Answer(202, body=b"thanks"))
    result = transport.post(receiver.url("/hook?team=a"), BODY, HEADERS, LOCAL)
    assert result.ok and not result.retryable and result.error == ""
    assert (result.status_code, result.excerpt) == (202, "thanks")
    assert result.duration_ms >= 0 and result.hops == [receiver.url("/hook?team=a")]
    [received] = receiver.received
    assert received.path == "/hook?team=a" and received.body == BODY
    assert received.headers["Host"] == f"127.0.0.1:{receiver.port}"
    assert received.headers["User-Agent"] == "mlops-maturity-webhooks/1"
    assert signed_by("s3cret-that-is-long-enough", received)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (500, True),
        (502, True),
        (503, True),
        (408, True),
        (429, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (410, False),
        (422, False),
    ],
)
def test_which_failures_are_worth_retrying(receiver, status, retryable):
    receiver.answer(Answer(status, body=b"nope"))
    result = transport.post(receiver.url(), BODY, HEADERS, LOCAL)
    assert not result.ok and result.retryable is retryable
    assert result.status_code == status and result.error == f"The receiver answered {status}."


def test_retry_after_is_read_on_429_and_503_only(receiver):
    receiver.answer(
        Answer(429, {"Retry-After": "120"}),
        Answer(
            503,
            {"Retry-After": format_datetime(datetime.now(UTC) + timedelta(minutes=5), usegmt=True)},
        ),
        Answer(500, {"Retry-After": "120"}),
        Answer(429, {"Retry-After": "soon"}),
    )
    assert transport.post(receiver.url(), BODY, HEADERS, LOCAL).retry_after == 120
    assert 280 < transport.post(receiver.url(), BODY, HEADERS, LOCAL).retry_after <= 300
    assert transport.post(receiver.url(), BODY, HEADERS, LOCAL).retry_after is None
    assert transport.post(receiver.url(), BODY, HEADERS, LOCAL).retry_after is None


def test_only_the_start_of_the_answer_is_kept_without_nuls(receiver):
    receiver.answer(Answer(500, body=b"\x00A" * 5000))
    result = transport.post(receiver.url(), BODY, HEADERS, LOCAL)
    assert result.excerpt == "A" * 512  # 1024 bytes read, the NULs dropped


def test_redirects_are_followed_with_the_same_signed_body(receiver, other_receiver):
    receiver.answer(Answer(307, {"Location": other_receiver.url("/moved")}))
    other_receiver.answer(Answer(308, {"Location": "/final"}))  # relative: same server
    result = transport.post(receiver.url("/hook"), BODY, HEADERS, LOCAL)
    assert result.ok and result.status_code == 200
    assert result.hops == [
        receiver.url("/hook"),
        other_receiver.url("/moved"),
        other_receiver.url("/final"),
    ]
    received = receiver.received + other_receiver.received
    assert [r.body for r in received] == [BODY] * 3
    assert all(signed_by("s3cret-that-is-long-enough", r) for r in received)


def test_more_than_three_redirects_a_303_or_no_location_end_the_attempt(receiver):
    receiver.answer(*[Answer(302, {"Location": "/again"})] * 4)
    result = transport.post(receiver.url(), BODY, HEADERS, LOCAL)
    assert not result.ok and not result.retryable
    assert result.error == "More than 3 redirects; not followed." and len(receiver.received) == 4
    receiver.answer(Answer(303, {"Location": "/see-other"}))
    result = transport.post(receiver.url(), BODY, HEADERS, LOCAL)
    assert "redirected with 303; not followed" in result.error and not result.retryable
    receiver.answer(Answer(301))
    result = transport.post(receiver.url(), BODY, HEADERS, LOCAL)
    assert "without a Location" in result.error and not result.retryable


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:{port}/steal",
        "http://localhost:{port}/steal",
        "http://2130706433:{port}/steal",
        "http://[::ffff:127.0.0.1]:{port}/steal",
        "http://169.254.169.254/latest/meta-data/",
        "http://inside.example:{port}/steal",
    ],
)
def test_a_redirect_from_a_public_receiver_to_an_inside_address_is_refused(
    receiver, other_receiver, fake_dns, fake_routes, location
):
    """The first hop is a public address (as far as DNS and routing tell this process: the
    fixtures stand in for the internet, the code under test is unchanged); the receiver
    there redirects inside, where another server listens and must hear nothing."""
    fake_dns.names["hooks.example"] = [PUBLIC_IP]
    fake_dns.names["inside.example"] = ["10.0.0.5"]
    fake_routes.routes[(PUBLIC_IP, 80)] = ("127.0.0.1", receiver.port)
    fake_routes.routes[("10.0.0.5", other_receiver.port)] = ("127.0.0.1", other_receiver.port)
    receiver.answer(Answer(302, {"Location": location.format(port=other_receiver.port)}))
    result = transport.post("http://hooks.example/hook", BODY, HEADERS, PUBLIC_ONLY)
    assert len(receiver.received) == 1 and receiver.received[0].headers["Host"] == "hooks.example"
    assert not result.ok and not result.retryable and result.status_code == 302
    assert "only sent to public internet addresses" in result.error
    assert other_receiver.received == []
    assert fake_routes.dialled == [(PUBLIC_IP, 80)]


def test_a_redirect_from_a_public_receiver_to_another_public_one_is_followed(
    receiver, other_receiver, fake_dns, fake_routes
):
    fake_dns.names["hooks.example"] = [PUBLIC_IP]
    fake_dns.names["new-hooks.example"] = ["2606:4700::1111"]
    fake_routes.routes[(PUBLIC_IP, 80)] = ("127.0.0.1", receiver.port)
    fake_routes.routes[("2606:4700::1111", 8080)] = ("127.0.0.1", other_receiver.port)
    receiver.answer(Answer(301, {"Location": "http://new-hooks.example:8080/v2"}))
    result = transport.post("http://hooks.example/hook", BODY, HEADERS, PUBLIC_ONLY)
    assert result.ok, result.error
    assert other_receiver.received[0].headers["Host"] == "new-hooks.example:8080"
    assert fake_routes.dialled == [(PUBLIC_IP, 80), ("2606:4700::1111", 8080)]


def test_the_connection_goes_to_the_address_checked_not_to_a_second_dns_answer(
    receiver, other_receiver, fake_dns, fake_routes
):
    """DNS rebinding: the name answers a public address to the check, then 127.0.0.1.
    The request is sent to the address checked, after one lookup."""
    answers = iter([[PUBLIC_IP], ["127.0.0.1"], ["127.0.0.1"]])
    fake_dns.names["rebind.example"] = lambda: next(answers)
    fake_routes.routes[(PUBLIC_IP, other_receiver.port)] = ("127.0.0.1", receiver.port)
    url = f"http://rebind.example:{other_receiver.port}/hook"
    result = transport.post(url, BODY, HEADERS, PUBLIC_ONLY)
    assert result.ok, result.error
    assert fake_dns.lookups["rebind.example"] == 1
    assert fake_routes.dialled == [(PUBLIC_IP, other_receiver.port)]
    assert len(receiver.received) == 1 and other_receiver.received == []


def test_an_inside_first_hop_is_refused_before_anything_is_sent(receiver):
    result = transport.post(receiver.url(), BODY, HEADERS, PUBLIC_ONLY)
    assert not result.ok and not result.retryable and result.status_code is None
    assert "127.0.0.1 (loopback)" in result.error and receiver.received == []


def test_timeouts_and_refused_connections_are_retried_later(receiver):
    receiver.answer(Answer(200, delay=1.0))
    quick = transport.Policy(allow_private=True, read_timeout=0.2)
    result = transport.post(receiver.url(), BODY, HEADERS, quick)
    assert not result.ok and result.retryable and result.error.startswith("Timed out")
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    result = transport.post(f"http://127.0.0.1:{port}/", BODY, HEADERS, LOCAL)
    assert not result.ok and result.retryable and result.error.startswith("Connection failed")


def test_https_names_the_host_in_tls_and_verifies_its_certificate(certificates, fake_dns):
    """The request goes to the address checked, yet TLS sends the host name (SNI) and the
    certificate must be valid for it."""
    context = certificates.server_context("hooks.example")
    server = Receiver(tls=context)
    try:
        fake_dns.names["hooks.example"] = ["127.0.0.1"]
        fake_dns.names["impostor.example"] = ["127.0.0.1"]
        policy = transport.Policy(allow_private=True, ca_bundle=str(certificates.ca_file))
        result = transport.post(f"https://hooks.example:{server.port}/h", BODY, HEADERS, policy)
        assert result.ok, result.error
        assert context.sni_names == ["hooks.example"]
        assert server.received[0].headers["Host"] == f"hooks.example:{server.port}"
        # The same server under another name: its certificate does not name it.
        result = transport.post(f"https://impostor.example:{server.port}/h", BODY, HEADERS, policy)
        assert not result.ok and result.error.startswith("TLS failed")
        assert "impostor.example" in result.error
        # And a certificate from a CA the policy does not trust is refused.
        result = transport.post(f"https://hooks.example:{server.port}/h", BODY, HEADERS, LOCAL)
        assert not result.ok and "certificate verify failed" in result.error
        assert len(server.received) == 1
    finally:
        server.close()


def test_retry_after_values():
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert transport.retry_after_seconds("30") == 30
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert transport.retry_after_seconds(later, now=now.timestamp()) == 90
    earlier = format_datetime(now - timedelta(seconds=90), usegmt=True)
    assert transport.retry_after_seconds(earlier, now=now.timestamp()) == 0
    for unreadable in (None, "", "-5", "1.5", "tomorrow", "٣٠"):
        assert transport.retry_after_seconds(unreadable) is None
