"""Where our servers may send: the address rule that keeps outbound requests (webhook
deliveries, issue-tracker calls) off the inside network.

A webhook URL (or a tracker's API address) is typed by a person and then fetched by our
servers, so it must never reach what only our servers can reach (server-side request
forgery): the loopback interface,
the private and carrier-grade NAT ranges, link-local addresses (169.254.169.254 is the
cloud metadata service), multicast, reserved and documentation ranges, and IPv6 forms that
embed such an IPv4 address (IPv4-mapped, NAT64, 6to4). A host is allowed only when *every*
address it resolves to is a public (globally routable) unicast address: a name that
resolves to a public and a private address is refused, since the connection could pick
either.

The rule is applied to the resolved addresses, never to the text of the host, so the
spellings resolvers accept for 127.0.0.1 (``2130706433``, ``0x7f.1``, ``0177.0.0.1``,
``127.1``, ``localhost``, ``[::ffff:127.0.0.1]``) are all judged as what they resolve to.
``notifications.transport`` connects to the very address checked here (no second lookup),
so a name whose DNS answer changes between the check and the connection (DNS rebinding)
gains nothing.

Pure: no Django. ``allow_private`` (the WEBHOOK_ALLOW_PRIVATE and TRACKER_ALLOW_PRIVATE
settings) lifts the address rule for local development and tests; the syntax rules always
apply.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2000
SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}

# Ranges refused whatever Python's is_global says of them (its tables differ between
# Python versions: 3.11 calls multicast and the NAT64 prefix global).
_REFUSED_NETWORKS: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "this network"),
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("100.64.0.0/10", "carrier-grade NAT (RFC 6598)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (cloud metadata)"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "IPv4-compatible (deprecated)"),
    ("::ffff:0:0:0/96", "IPv4-translated"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("100::/64", "discard-only"),
    ("2001::/23", "IETF protocol assignments (Teredo, ...)"),
    ("2001:db8::/32", "documentation"),
    ("fc00::/7", "unique local (private)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local (deprecated)"),
    ("ff00::/8", "multicast"),
)
REFUSED_NETWORKS = tuple(
    (ipaddress.ip_network(network), reason) for network, reason in _REFUSED_NETWORKS
)
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UrlRefused(ValueError):
    """A webhook URL that may not be used; the message says why, for people."""


@dataclass(frozen=True)
class Target:
    """A parsed webhook URL: ``host`` lower-case and ASCII (IDNA), without brackets for
    IPv6; ``port`` explicit or the scheme's default."""

    url: str
    scheme: str
    host: str
    port: int

    @property
    def host_header(self) -> str:
        """The Host header for this URL: the host, bracketed for IPv6, with a port that is
        not the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def address_refusal(address: IPAddress) -> str | None:
    """Return why ``address`` may not be connected to (a few words), or None when it is a
    public unicast address.

    IPv6 addresses that carry an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, NAT64
    ``64:ff9b::a.b.c.d``, 6to4 ``2002:AABB:CCDD::``) are judged by that IPv4 address too.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address_refusal(address.ipv4_mapped)
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = address_refusal(embedded)
            if reason is not None:
                return f"{reason}, embedded in IPv6"
            if address in NAT64:  # DNS64's answer for a public IPv4-only host
                return None
    for network, reason in REFUSED_NETWORKS:
        if address.version == network.version and address in network:
            return reason
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified:
        return "unspecified"
    if address.is_private:
        return "private"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        return "not a public address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def parse_url(url: str) -> Target:
    """Check the text of a webhook URL and return its parts; raise UrlRefused.

    Refused: more than MAX_URL_LENGTH characters, whitespace or control characters, a
    scheme other than http or https, no host, a user name or password in it (credentials
    would be sent to the receiver and shown in logs), a port that is not 1-65535, a host
    name that is not a valid DNS name.
    """
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(character.isspace() or not character.isprintable() for character in url):
        raise UrlRefused("The URL contains spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlRefused("This is not a valid URL (check the host and the port).") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UrlRefused("The URL must start with https:// (or http://).")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UrlRefused(
            "The URL must not contain a user name or password: the secret signs each request."
        )
    host = _host(parts)
    if port == 0:
        raise UrlRefused("The port must be from 1 to 65535.")
    return Target(url=url, scheme=scheme, host=host, port=port or DEFAULT_PORTS[scheme])


def _host(parts: SplitResult) -> str:
    """The URL's host, IDNA-encoded and lower-case (brackets removed from IPv6)."""
    raw = parts.hostname or ""
    if not raw:
        raise UrlRefused("The URL has no host.")
    if parts.netloc.rsplit("@", 1)[-1].startswith("["):
        try:
            return str(ipaddress.IPv6Address(raw))
        except ValueError:
            raise UrlRefused("The address in brackets is not an IPv6 address.") from None
    try:
        ascii_host = raw.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise UrlRefused("The host name is not a valid domain name.") from None
    labels = ascii_host.rstrip(".").split(".")
    valid = len(ascii_host) <= 253 and all(
        0 < len(label) <= 63
        and all(c.isascii() and (c.isalnum() or c in "-_") for c in label)
        and not label.startswith("-")
        and not label.endswith("-")
        for label in labels
    )
    if not valid:
        raise UrlRefused("The host name is not a valid domain name.")
    return ascii_host


def resolve(host: str, port: int) -> list[IPAddress]:
    """Return every address ``host`` resolves to (IPv4 and IPv6, in the resolver's order,
    without repeats); raise UrlRefused when it resolves to none."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as error:
        raise UrlRefused(f"The host {host} could not be resolved ({error}).") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canonical, sockaddr in infos:
        # An IPv6 sockaddr may carry a zone ("fe80::1%eth0"): the address is before the %.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UrlRefused(f"The host {host} could not be resolved.")
    return addresses


def checked_address(target: Target, *, allow_private: bool) -> IPAddress:
    """Resolve ``target``'s host and return the address to connect to (the first), after
    checking that every address it resolves to is allowed; raise UrlRefused.

    With ``allow_private`` any address is allowed (local development and tests), but the
    host must still resolve.
    """
    addresses = resolve(target.host, target.port)
    if not allow_private:
        for address in addresses:
            reason = address_refusal(address)
            if reason is not None:
                raise UrlRefused(
                    f"{target.host} resolves to {address} ({reason}): requests are only "
                    "sent to public internet addresses."
                )
    return addresses[0]


def check_url(url: str, *, allow_private: bool) -> Target:
    """Parse ``url`` and check where it leads (parse_url, then checked_address); return
    the target or raise UrlRefused."""
    target = parse_url(url)
    checked_address(target, allow_private=allow_private)
    return target
