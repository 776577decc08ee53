"""Where webhooks may go: the URL rules, and the SSRF guard after DNS resolution."""

from __future__ import annotations

import asyncio
from ipaddress import ip_address

import pytest

from sqr_reports.webhooks.targets import (
    IPAddress,
    Refusal,
    TargetRefused,
    is_public,
    parse_url,
    system_resolve,
    vet,
)
from tests.webhook_receiver import Dns

LONGEST = 2048


@pytest.mark.parametrize(
    ("url", "host", "port", "path"),
    [
        ("https://hooks.example.com/sqr", "hooks.example.com", 443, "/sqr"),
        ("https://HOOKS.Example.com", "hooks.example.com", 443, "/"),
        ("https://hooks.example.com:8443/a/b?x=1&y=2", "hooks.example.com", 8443, "/a/b?x=1&y=2"),
        ("https://[2606:4700::1111]:9/in", "2606:4700::1111", 9, "/in"),
        ("https://203.0.113.9/", "203.0.113.9", 443, "/"),
    ],
)  # fmt: skip
def test_a_valid_url_is_taken_apart_for_pinning(url: str, host: str, port: int, path: str) -> None:
    target = parse_url(url, allow_private=False, max_length=LONGEST)

    assert (target.scheme, target.host, target.port, target.path) == ("https", host, port, path)


def test_the_pinned_url_keeps_the_name_in_the_host_header() -> None:
    target = parse_url("https://hooks.example.com:8443/in?a=1", allow_private=False,
                       max_length=LONGEST)  # fmt: skip
    v6 = parse_url("https://[2606:4700::1111]/in", allow_private=False, max_length=LONGEST)

    assert target.url_for(ip_address("203.0.113.9")) == "https://203.0.113.9:8443/in?a=1"
    assert target.host_header == "hooks.example.com:8443"
    assert v6.url_for(ip_address("2606:4700::1111")) == "https://[2606:4700::1111]:443/in"
    assert v6.host_header == "[2606:4700::1111]"


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/",  # plain http
        "ftp://hooks.example.com/",
        "hooks.example.com/path",  # no scheme
        "https:///path",  # no host
        "https://user:pw@hooks.example.com/",  # credentials
        "https://token@hooks.example.com/",
        "https://hooks.example.com/#frag",
        "https://hooks.example.com:99999/",
        "https://hooks.example.com:0/",
        "https://hooks.example.com:http/",
        "https://hooks.exämple.com/",  # not ASCII: punycode it
        "https://hooks.example.com/a b",
        "https://hooks.example.com/\r\nX-Injected: 1",
        "https://hooks.example.com/" + "a" * LONGEST,
    ],
)
def test_a_url_that_breaks_a_rule_is_refused(url: str) -> None:
    with pytest.raises(TargetRefused) as refused:
        parse_url(url, allow_private=False, max_length=LONGEST)

    assert refused.value.kind == Refusal.INVALID
    assert not refused.value.transient


def test_plain_http_only_when_private_targets_are_allowed() -> None:
    target = parse_url("http://127.0.0.1:8080/in", allow_private=True, max_length=LONGEST)

    assert (target.scheme, target.port) == ("http", 8080)


NOT_PUBLIC = [
    "127.0.0.1", "127.255.255.254", "0.0.0.0", "0.1.2.3",  # noqa: S104 (loopback, "this network")
    "10.0.0.1", "172.16.5.4", "192.168.1.1",  # private
    "169.254.169.254", "169.254.0.1",  # link-local: cloud metadata
    "100.64.0.1", "100.100.100.200",  # carrier-grade NAT (Alibaba's metadata)
    "224.0.0.1", "239.255.255.250",  # multicast
    "240.0.0.1", "255.255.255.255",  # reserved, broadcast
    "192.0.0.8", "192.0.2.1", "198.18.0.1", "198.51.100.7", "203.0.113.0", "192.88.99.1",
    "::1", "::",  # loopback, unspecified
    "fe80::1", "fc00::1", "fd00:ec2::254",  # link-local, unique-local (AWS metadata over v6)
    "fec0::1",  # site-local
    "ff02::1",  # multicast
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1",  # IPv4-mapped
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",  # NAT64 of loopback, of metadata
    "64:ff9b:1::808:808",  # local-use NAT64
    "::ffff:0:7f00:1",  # SIIT-translated loopback
    "2002:7f00:1::1", "2002:a9fe:a9fe::1",  # 6to4 of loopback, of metadata
    "2001::1",  # Teredo
    "2001:db8::1",  # documentation
    "::127.0.0.1",  # IPv4-compatible (deprecated)
]  # fmt: skip
PUBLIC = [
    "8.8.8.8", "1.1.1.1", "93.184.215.14",
    "2606:4700::1111", "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",  # mapped public
    "64:ff9b::808:808",  # NAT64 of a public address (DNS64 in an IPv6-only network)
    "2002:808:808::1",  # 6to4 of a public address
]  # fmt: skip


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_every_non_public_address_class_is_refused(address: str) -> None:
    assert not is_public(ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert is_public(ip_address(address))


def _public_dns(**extra: list[str]) -> Dns:
    return Dns({"hooks.example.com": ["93.184.215.14", "2606:4700::1111"], **extra})


async def test_a_host_whose_addresses_are_all_public_is_vetted_with_each_of_them() -> None:
    dns = _public_dns()

    vetted = await vet("https://hooks.example.com/in", allow_private=False, max_length=LONGEST,
                       resolve=dns)  # fmt: skip

    assert vetted.addresses == (ip_address("93.184.215.14"), ip_address("2606:4700::1111"))
    assert dns.lookups == ["hooks.example.com"]


@pytest.mark.parametrize("private", ["10.0.0.7", "169.254.169.254", "::1", "::ffff:127.0.0.1"])
async def test_one_private_answer_among_public_ones_refuses_the_host(private: str) -> None:
    dns = Dns({"mixed.example.com": ["93.184.215.14", private]})

    with pytest.raises(TargetRefused) as refused:
        await vet("https://mixed.example.com/", allow_private=False, max_length=LONGEST,
                  resolve=dns)  # fmt: skip

    assert refused.value.kind == Refusal.NOT_PUBLIC
    assert private not in refused.value.message  # never names what our DNS said
    assert not refused.value.transient


@pytest.mark.parametrize(
    "url",
    ["https://localhost/in", "https://127.1/", "https://2130706433/",
     "https://0x7f.0.0.1/", "https://0/", "https://[::1]/", "https://[::ffff:7f00:1]/",
     "https://169.254.169.254/latest/meta-data/"],
)  # fmt: skip
async def test_names_and_spellings_that_reach_loopback_or_metadata_are_refused(url: str) -> None:
    """The system resolver, as in production: `localhost`, and the short, decimal and hex forms
    that getaddrinfo turns into 127.0.0.1."""
    with pytest.raises(TargetRefused) as refused:
        await vet(url, allow_private=False, max_length=LONGEST, resolve=system_resolve)

    assert refused.value.kind == Refusal.NOT_PUBLIC


async def test_a_name_that_does_not_resolve_is_refused_as_maybe_transient() -> None:
    with pytest.raises(TargetRefused) as refused:
        await vet("https://nowhere.example.com/", allow_private=False, max_length=LONGEST,
                  resolve=_public_dns())  # fmt: skip

    assert refused.value.kind == Refusal.UNRESOLVABLE
    assert refused.value.transient


async def test_dns_that_does_not_answer_in_time_is_unresolvable() -> None:
    async def silent(host: str, port: int) -> list[IPAddress]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    with pytest.raises(TargetRefused) as refused:
        await vet("https://hooks.example.com/", allow_private=False, max_length=LONGEST,
                  resolve=silent, resolve_seconds=0.05)  # fmt: skip

    assert refused.value.kind == Refusal.UNRESOLVABLE


async def test_private_targets_pass_only_when_the_deployment_allows_them() -> None:
    vetted = await vet("http://localhost:8080/in", allow_private=True, max_length=LONGEST)

    assert all(not is_public(address) for address in vetted.addresses)
    assert ip_address("127.0.0.1") in vetted.addresses
