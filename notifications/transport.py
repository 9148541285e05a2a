"""Sending one signed webhook request: resolve, check, connect to the address checked,
follow redirects by hand, and describe what happened. No Django.

How the connection is pinned (DNS rebinding): for each hop the host is resolved once
(ssrf.checked_address, which refuses any private address) and the request is sent to
that address itself: the URL handed to requests names the IP address, so nothing
resolves the name again. The receiver still sees its own name: the ``Host`` header is
the URL's host, and for https the TLS handshake sends it as SNI (urllib3's
``server_hostname``) and the certificate is verified against it (``assert_hostname``),
with the usual CA bundle. A name that answers a public address to the check and
127.0.0.1 a moment later therefore cannot redirect the request.

Redirects are not followed by requests: a 301, 302, 307 or 308 with a Location leads to
one more hop (at most MAX_REDIRECTS), checked like the first one, and the same body is
POSTed there with the same headers (a webhook receiver that moved, or an http -> https
upgrade, should still get the event). A 303, or a redirect without a Location, is a
failure. Environment proxies and .netrc are ignored (``trust_env`` off): a proxy would
resolve the name itself, out of reach of the check.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from common import ssrf

MAX_REDIRECTS = 3
FOLLOWED_REDIRECTS = (301, 302, 307, 308)
EXCERPT_BYTES = 1024
USER_AGENT = "mlops-maturity-webhooks/1"


def signature(secret: str, body: bytes) -> str:
    """The ``X-Maturity-Signature`` of ``body``: ``sha256=`` and the hex HMAC-SHA256 of
    the exact bytes sent, keyed with the webhook's secret (UTF-8)."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@dataclass(frozen=True)
class Policy:
    """How requests are made: the address rule, timeouts in seconds, the CA bundle (a
    path; "" for certifi's)."""

    allow_private: bool = False
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    ca_bundle: str = ""


@dataclass
class Result:
    """What one attempt came to.

    ``status_code``: the last response's status (None when no response came);
    ``ok``: a 2xx; ``retryable``: worth trying again later (a timeout, a refused
    connection, a 5xx, 408, 429); ``retry_after``: seconds the receiver asked to wait
    (429 and 503 with a Retry-After), None otherwise; ``error``: a sentence for the
    delivery log ("" on success); ``excerpt``: the start of the last response's body
    (at most EXCERPT_BYTES bytes, decoded leniently); ``duration_ms``: wall time of all
    hops; ``hops``: the URLs requested, in order.
    """

    status_code: int | None = None
    ok: bool = False
    retryable: bool = False
    retry_after: float | None = None
    error: str = ""
    excerpt: str = ""
    duration_ms: int = 0
    hops: list[str] = field(default_factory=list)


class _PinnedAdapter(HTTPAdapter):
    """requests' adapter, sending to an address while naming ``hostname`` in TLS (SNI)
    and checking the certificate against it. No retries: the delivery task owns them."""

    def __init__(self, hostname: str) -> None:
        self.hostname = hostname
        super().__init__(max_retries=0, pool_connections=1, pool_maxsize=1)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        # urllib3 drops these two for plain http pools (SSL_KEYWORDS).
        kwargs["server_hostname"] = self.hostname
        kwargs["assert_hostname"] = self.hostname
        super().init_poolmanager(*args, **kwargs)


def _address_url(target: ssrf.Target, address: ssrf.IPAddress) -> str:
    """``target``'s URL with its host replaced by ``address`` (bracketed when IPv6)."""
    parts = urlsplit(target.url)
    host = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{host}:{target.port}"
    return urlunsplit((target.scheme, netloc, parts.path or "/", parts.query, ""))


def _send_once(
    target: ssrf.Target,
    address: ssrf.IPAddress,
    body: bytes,
    headers: Mapping[str, str],
    policy: Policy,
) -> requests.Response:
    session = requests.Session()
    session.trust_env = False  # no proxies, no .netrc: see the module's docstring
    adapter = _PinnedAdapter(target.host)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    try:
        return session.post(
            _address_url(target, address),
            data=body,
            headers={**headers, "Host": target.host_header},
            timeout=(policy.connect_timeout, policy.read_timeout),
            allow_redirects=False,
            stream=True,
            verify=policy.ca_bundle or True,
        )
    finally:
        session.close()


def _excerpt(response: requests.Response) -> str:
    """The start of the body: at most EXCERPT_BYTES bytes, NULs dropped (PostgreSQL
    text cannot hold them)."""
    try:
        raw = response.raw.read(EXCERPT_BYTES, decode_content=True) or b""
    except Exception:  # noqa: BLE001 - a broken body is no reason to lose the status
        raw = b""
    finally:
        response.close()
    return raw.decode("utf-8", errors="replace").replace("\x00", "")


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Read a Retry-After header: delay-seconds or an HTTP date; None when absent or
    unreadable, never negative."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - (now if now is not None else time.time()))


def next_hop(current: ssrf.Target, response_status: int, location: str | None) -> str:
    """The URL a redirect leads to (absolute), or raise UrlRefused when it is not one to
    follow: a status other than 301/302/307/308, or no Location."""
    if response_status not in FOLLOWED_REDIRECTS:
        raise ssrf.UrlRefused(f"The receiver redirected with {response_status}; not followed.")
    if not location:
        raise ssrf.UrlRefused(f"The receiver redirected ({response_status}) without a Location.")
    return urljoin(current.url, location)


def post(url: str, body: bytes, headers: Mapping[str, str], policy: Policy) -> Result:
    """POST ``body`` with ``headers`` to ``url``, following up to MAX_REDIRECTS
    redirects, each hop's host resolved and checked (ssrf) and connected to by the
    address checked; never raises.

    A refused address, a bad URL or redirect, or too many redirects end the attempt as a
    permanent failure (``retryable`` False); see Result for the rest.
    """
    started = time.monotonic()
    result = Result()
    try:
        _post_hops(url, body, headers, policy, result)
    except ssrf.UrlRefused as error:
        result.error, result.retryable = str(error), False
    except requests.exceptions.SSLError as error:
        result.error, result.retryable = f"TLS failed: {_reason(error)}", True
    except requests.exceptions.Timeout as error:
        result.error, result.retryable = f"Timed out: {_reason(error)}", True
    except requests.exceptions.ConnectionError as error:
        result.error, result.retryable = f"Connection failed: {_reason(error)}", True
    except requests.exceptions.RequestException as error:
        result.error, result.retryable = f"Request failed: {_reason(error)}", False
    except Exception as error:  # noqa: BLE001 - "never raises": the task records it
        result.error, result.retryable = f"{type(error).__name__}: {_reason(error)}", True
    result.duration_ms = round((time.monotonic() - started) * 1000)
    return result


def _post_hops(
    url: str, body: bytes, headers: Mapping[str, str], policy: Policy, result: Result
) -> None:
    for _hop in range(MAX_REDIRECTS + 1):
        target = ssrf.parse_url(url)
        address = ssrf.checked_address(target, allow_private=policy.allow_private)
        result.hops.append(url)
        response = _send_once(target, address, body, headers, policy)
        result.status_code = response.status_code
        location = response.headers.get("Location")
        retry_after = response.headers.get("Retry-After")
        result.excerpt = _excerpt(response)
        if 300 <= response.status_code < 400:
            url = next_hop(target, response.status_code, location)
            continue
        _judge(response.status_code, retry_after, result)
        return
    raise ssrf.UrlRefused(f"More than {MAX_REDIRECTS} redirects; not followed.")


def _judge(status: int, retry_after: str | None, result: Result) -> None:
    """Fill ``result`` for a final (non-redirect) response of ``status``."""
    result.ok = 200 <= status < 300
    if result.ok:
        return
    result.retryable = status >= 500 or status in (408, 429)
    if status in (429, 503):
        result.retry_after = retry_after_seconds(retry_after)
    result.error = f"The receiver answered {status}."


def _reason(error: Exception) -> str:
    """A short reason from a requests exception (urllib3 nests the useful part)."""
    text = str(error.args[0]) if error.args else type(error).__name__
    return text[:300]
