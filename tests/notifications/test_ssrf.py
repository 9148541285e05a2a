"""The address rule (common.ssrf): only public addresses, judged on what a host
resolves to, whatever way the host is written. Pure: no database."""

from __future__ import annotations

import ipaddress

import pytest

from common import ssrf

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.5.4", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("169.254.169.254", "link-local"),
    ("169.254.0.1", "link-local"),
    ("0.0.0.0", "this network"),  # noqa: S104 - an address to refuse, not to bind
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.2.1", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fc00::1", "unique local"),
    ("fd12:3456::1", "unique local"),
    ("ff02::1", "multicast"),
    ("fec0::1", "site-local"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "link-local"),
    ("::127.0.0.1", "IPv4-compatible"),
    ("64:ff9b::7f00:1", "loopback, embedded in IPv6"),
    ("64:ff9b::a9fe:a9fe", "link-local (cloud metadata), embedded in IPv6"),
    ("64:ff9b:1::1", "local-use NAT64"),
    ("2002:7f00:1::", "loopback, embedded in IPv6"),
    ("2002:c0a8:101::1", "private (RFC 1918), embedded in IPv6"),
    ("2001::1", "IETF protocol assignments"),
    ("2001:db8::1", "documentation"),
]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_addresses_that_are_not_public_are_refused_with_a_reason(address, reason):
    assert reason in (ssrf.address_refusal(ipaddress.ip_address(address)) or "")


@pytest.mark.parametrize(
    "address",
    [
        "93.184.215.14",
        "8.8.8.8",
        "1.1.1.1",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
    ],
)
def test_public_addresses_are_allowed(address):
    assert ssrf.address_refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "resolves_to"),
    [
        ("http://127.0.0.1/", "127.0.0.1"),
        ("http://2130706433/", "127.0.0.1"),  # the decimal form of 127.0.0.1
        ("http://0x7f.1/", "127.0.0.1"),  # hexadecimal, two parts
        ("http://0177.0.0.1/", "127.0.0.1"),  # octal
        ("http://127.1/", "127.0.0.1"),
        ("http://localhost:8080/hook", "localhost resolves to"),
        ("http://LOCALHOST/", "localhost resolves to"),
        ("https://[::1]/hook", "::1"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:7f00:1 (loopback)"),
        ("http://0.0.0.0/", "0.0.0.0"),  # noqa: S104 - refused, not bound
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://[fe80::1]/", "fe80::1"),
        ("http://10.0.0.1:9200/", "10.0.0.1"),
    ],
)
def test_every_spelling_of_an_inside_address_is_refused_by_what_it_resolves_to(url, resolves_to):
    with pytest.raises(ssrf.UrlRefused) as refused:
        ssrf.check_url(url, allow_private=False)
    message = str(refused.value)
    assert resolves_to in message and "only sent to public internet addresses" in message
    # Local development and the tests (WEBHOOK_ALLOW_PRIVATE) lift the address rule only.
    assert ssrf.check_url(url, allow_private=True).url == url


def test_a_name_with_one_private_address_among_public_ones_is_refused(fake_dns):
    fake_dns.names["mixed.example"] = ["93.184.215.14", "10.0.0.7"]
    with pytest.raises(ssrf.UrlRefused, match=r"10\.0\.0\.7 \(private"):
        ssrf.check_url("https://mixed.example/hook", allow_private=False)
    fake_dns.names["public.example"] = ["93.184.215.14", "2606:4700::1111"]
    target = ssrf.parse_url("https://public.example/hook")
    assert ssrf.checked_address(target, allow_private=False) == ipaddress.ip_address(
        "93.184.215.14"
    )


def test_a_host_that_does_not_resolve_is_refused():
    with pytest.raises(ssrf.UrlRefused, match="could not be resolved"):
        ssrf.check_url("https://no-such-host.invalid/hook", allow_private=True)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/hook", "must start with https://"),
        ("javascript:alert(1)", "must start with https://"),
        ("file:///etc/passwd", "must start with https://"),
        ("example.com/hook", "must start with https://"),
        ("//example.com/hook", "must start with https://"),
        ("https://user:password@example.com/hook", "user name or password"),
        ("https://token@example.com/hook", "user name or password"),
        ("https://:pw@example.com/hook", "user name or password"),
        ("https:///hook", "no host"),
        ("https://example.com:0/", "port must be from 1 to 65535"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://example.com:port/", "not a valid URL"),
        ("https://exa mple.com/", "spaces or control characters"),
        ("https://example.com/\nHost: evil", "spaces or control characters"),
        ("https://a..b/", "not a valid domain name"),
        ("https://-bad-.example/", "not a valid domain name"),
        ("https://exa$mple.com/", "not a valid domain name"),
        ("https://[::1/", "not a valid URL"),
        ("https://[nonsense]/", "not a valid URL"),
        ("https://example.com/" + "a" * 2000, "longer than 2000"),
    ],
)
def test_urls_refused_by_their_text(url, message):
    with pytest.raises(ssrf.UrlRefused, match=message.replace("$", r"\$")):
        ssrf.parse_url(url)


def test_a_url_is_parsed_into_what_the_request_needs():
    target = ssrf.parse_url("HTTPS://Hooks.Example.COM/a/b?c=d")
    assert (target.scheme, target.host, target.port) == ("https", "hooks.example.com", 443)
    assert target.host_header == "hooks.example.com"
    assert ssrf.parse_url("http://hooks.example.com:8080/").host_header == "hooks.example.com:8080"
    v6 = ssrf.parse_url("https://[2606:4700::1111]:8443/")
    assert (v6.host, v6.host_header) == ("2606:4700::1111", "[2606:4700::1111]:8443")
    assert ssrf.parse_url("https://bücher.example/").host == "xn--bcher-kva.example"
