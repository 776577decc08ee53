"""Where a webhook may go: the URL rules, and the SSRF guard that runs after DNS resolution.

An org chooses the URL, so without a guard a delivery is a request our network makes on its
behalf: to the cloud metadata service, the database, an admin port on loopback. Every address
the host resolves to must be public (one private answer refuses the lot, since the connection
could pick it), and the delivery connects to an address that was checked rather than resolving
again, so a DNS answer that changes between the check and the connect (rebinding) cannot slip a
private address in. Registration runs the same check, so a mistake is reported at once.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import urlsplit

IPAddress = IPv4Address | IPv6Address
#: (host, port) -> every address it resolves to. Tests pass their own DNS.
Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]

_DEFAULT_PORTS = {"https": 443, "http": 80}

#: Not global, yet not flagged by every Python's `ipaddress` (the flags changed in 3.12/3.13).
_NEVER: tuple[IPv4Network | IPv6Network, ...] = tuple(
    ip_network(net)
    for net in (
        "0.0.0.0/8",  # "this network"
        "100.64.0.0/10",  # carrier-grade NAT (also cloud metadata: 100.100.100.200)
        "192.0.0.0/24",  # IETF protocol assignments
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "198.18.0.0/15",  # benchmarking
        "64:ff9b:1::/48",  # local-use NAT64: the embedding is the local network's own
        "2001:db8::/32",  # documentation
        "fec0::/10",  # site-local (deprecated, still routed inside some networks)
    )
)
_NAT64 = ip_network("64:ff9b::/96")
_SIIT = ip_network("::ffff:0:0:0/96")


class Refusal(StrEnum):
    #: The URL itself breaks a rule (scheme, credentials, length, ...).
    INVALID = "invalidUrl"
    #: The host has no address (or DNS did not answer in time).
    UNRESOLVABLE = "unresolvable"
    #: The host resolves to a loopback, private, link-local, reserved... address.
    NOT_PUBLIC = "notPublic"


class TargetRefused(Exception):
    """Why a URL may not receive webhooks. The message never names a resolved address."""

    def __init__(self, kind: Refusal, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message

    @property
    def transient(self) -> bool:
        """Only a DNS failure may heal by itself; a refused address is configuration (or an
        attack), and retrying it for a day would only keep knocking."""
        return self.kind == Refusal.UNRESOLVABLE


@dataclass(frozen=True, slots=True)
class Target:
    """A URL that passed the rules, taken apart for connecting to a pinned address."""

    url: str
    scheme: str
    #: Lower-case host name or IP literal, without brackets.
    host: str
    port: int
    #: Path and query, as sent in the request line.
    path: str

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    def url_for(self, address: IPAddress) -> str:
        """The URL with the host replaced by `address` (the Host header keeps the name)."""
        literal = f"[{address}]" if address.version == 6 else str(address)
        return f"{self.scheme}://{literal}:{self.port}{self.path}"


@dataclass(frozen=True, slots=True)
class VettedTarget:
    target: Target
    #: Every address the host resolved to, in the resolver's order; all of them allowed.
    addresses: tuple[IPAddress, ...]


def parse_url(url: str, *, allow_private: bool, max_length: int) -> Target:
    """Apply the URL rules (no DNS): https (http too when private targets are allowed), a host,
    no credentials, no fragment, printable ASCII, at most `max_length` characters."""
    if len(url) > max_length:
        raise _invalid(f"The URL is longer than {max_length} characters")
    if not url.isascii() or any(ch <= " " or ch == "\x7f" for ch in url):
        raise _invalid("The URL must be printable ASCII (percent-encode, punycode the host)")
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme.lower() not in schemes:
        raise _invalid("The URL must start with " + " or ".join(f"{s}://" for s in schemes))
    if "@" in parts.netloc:
        raise _invalid("The URL must not carry credentials")
    if "#" in url:
        raise _invalid("The URL must not have a fragment")
    try:
        port = parts.port
    except ValueError:
        raise _invalid("The URL's port is not a number from 1 to 65535") from None
    if not parts.hostname or port == 0:
        raise _invalid("The URL must name a host" if not parts.hostname else "Port 0 is invalid")
    scheme = parts.scheme.lower()
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(url, scheme, parts.hostname, port or _DEFAULT_PORTS[scheme], path)


def is_public(address: IPAddress) -> bool:
    """True only for a globally routable unicast address, judging an IPv4 address embedded in an
    IPv6 one (mapped, NAT64, SIIT, 6to4) as that IPv4 address."""
    if isinstance(address, IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public(embedded)
        if address.is_site_local:
            return False
    if any(address in network for network in _NEVER):
        return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or address in _SIIT:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


async def system_resolve(host: str, port: int) -> list[IPAddress]:
    """The host's addresses from the system resolver (in a thread: getaddrinfo blocks)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    found: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ip_address(str(sockaddr[0]).partition("%")[0])
        if address not in found:
            found.append(address)
    return found


async def vet(
    url: str,
    *,
    allow_private: bool,
    max_length: int,
    resolve: Resolver = system_resolve,
    resolve_seconds: float = 5.0,
) -> VettedTarget:
    """The URL's rules, then every address its host resolves to: all public, or refused."""
    target = parse_url(url, allow_private=allow_private, max_length=max_length)
    addresses = await _addresses(target, resolve, resolve_seconds)
    if not allow_private and not all(is_public(address) for address in addresses):
        raise TargetRefused(
            Refusal.NOT_PUBLIC,
            "The URL's host resolves to an address that is not public "
            "(loopback, private, link-local, multicast or reserved)",
        )
    return VettedTarget(target, addresses)


async def _addresses(target: Target, resolve: Resolver, seconds: float) -> tuple[IPAddress, ...]:
    try:
        return (ip_address(target.host),)
    except ValueError:
        pass  # a name, not a literal
    try:
        async with asyncio.timeout(seconds):
            addresses = tuple(await resolve(target.host, target.port))
    except (OSError, TimeoutError, UnicodeError):
        addresses = ()
    if not addresses:
        raise TargetRefused(Refusal.UNRESOLVABLE, "The URL's host does not resolve")
    return addresses


def _invalid(message: str) -> TargetRefused:
    return TargetRefused(Refusal.INVALID, message)
