"""The HTTP side of a delivery: one POST to an address that was vetted, and what came back.

The request goes to the vetted IP address while the Host header and TLS (SNI and certificate
verification) use the URL's host name, so what was checked is what is reached. Redirects are not
followed, nothing is read from the environment (no proxy would see the pinning), connections are
not kept alive (a pooled connection is keyed by IP and was verified for another host name), and
the response is read up to a small cap, within short connect, read and overall time limits.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

import httpx

from sqr_reports.clock import Clock, SystemClock
from sqr_reports.config import WebhookSettings
from sqr_reports.webhooks.models import ERROR_LENGTH, EXCERPT_LENGTH
from sqr_reports.webhooks.targets import Resolver, VettedTarget, system_resolve

#: A host with many addresses gets this many connection tries (an unreachable IPv6 address
#: fails at once; the next may be IPv4).
_ADDRESSES_TRIED = 3


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one attempt got. `transient`: whether trying again later may succeed."""

    ok: bool
    status_code: int | None = None
    latency_ms: int = 0
    error: str | None = None
    response_excerpt: str | None = None
    transient: bool = True
    #: When it started, by the queue's clock (the `now` the attempt was made with).
    started_at: datetime | None = None
    #: The endpoint URL it was sent to.
    url: str | None = None


class WebhookSender:
    """POSTs deliveries. One per process (it owns an HTTP client); `aclose()` it at shutdown.

    `resolve` is the DNS the SSRF guard uses; `clock` stamps `x_timestamp`, a time the receiver
    compares with its own, so it is the process clock (ADR 0011); `ssl_context` replaces the
    default trust store (tests with their own CA).
    """

    def __init__(
        self,
        settings: WebhookSettings,
        *,
        resolve: Resolver = system_resolve,
        clock: Clock | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ):
        self.settings = settings
        self.resolve = resolve
        self.clock = clock or SystemClock()
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=settings.connect_timeout_seconds,
                read=settings.read_timeout_seconds,
                write=settings.read_timeout_seconds,
                pool=settings.connect_timeout_seconds,
            ),
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            verify=ssl_context if ssl_context is not None else True,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> WebhookSender:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def post(
        self, vetted: VettedTarget, body: bytes, headers: Mapping[str, str], *, started_at: datetime
    ) -> AttemptResult:
        """POST `body`; never raises for anything the network or the receiver does."""
        began = time.perf_counter()
        status: int | None = None
        excerpt: str | None = None
        try:
            async with asyncio.timeout(self.settings.total_timeout_seconds):
                status, excerpt = await self._exchange(vetted, body, headers)
            error = _status_error(status)
        except (httpx.HTTPError, OSError, TimeoutError, ssl.SSLError) as exc:
            error = _describe(exc, self.settings.total_timeout_seconds)
        return AttemptResult(
            ok=error is None,
            status_code=status,
            latency_ms=round((time.perf_counter() - began) * 1000),
            error=error,
            response_excerpt=excerpt,
            started_at=started_at,
            url=vetted.target.url,
        )

    async def _exchange(
        self, vetted: VettedTarget, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, str]:
        target = vetted.target
        request_headers = {
            **headers,
            "Host": target.host_header,
            "Content-Type": "application/json",
            "User-Agent": self.settings.user_agent,
            "Accept-Encoding": "identity",  # the excerpt is read raw: no decompression bombs
        }
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        addresses = vetted.addresses[:_ADDRESSES_TRIED]
        for index, address in enumerate(addresses):
            try:
                async with self._client.stream(
                    "POST",
                    target.url_for(address),
                    content=body,
                    headers=request_headers,
                    extensions=extensions,
                ) as response:
                    return response.status_code, await self._read_capped(response)
            except httpx.ConnectError:
                if index == len(addresses) - 1:
                    raise
        raise AssertionError("unreachable: a vetted target has an address")

    async def _read_capped(self, response: httpx.Response) -> str:
        """Up to `response_cap_bytes` of the body, then hang up on the rest."""
        cap = self.settings.response_cap_bytes
        received = bytearray()
        if cap:
            async for chunk in response.aiter_raw():
                received += chunk
                if len(received) >= cap:
                    break
        return _printable(received[:cap].decode("utf-8", errors="replace"), EXCERPT_LENGTH)


def _status_error(status: int) -> str | None:
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return f"HTTP {status}: redirects are not followed"
    return f"HTTP {status}"


def _describe(exc: BaseException, total_seconds: float) -> str:
    """A failure in words for the org and the operator (never a secret: it has none)."""
    if isinstance(exc, httpx.ConnectTimeout):
        text = "connect timed out"
    elif isinstance(exc, httpx.ReadTimeout):
        text = "read timed out: no response in time"
    elif isinstance(exc, httpx.TimeoutException):
        text = f"timed out ({type(exc).__name__})"
    elif isinstance(exc, TimeoutError):
        text = f"no complete response within {total_seconds:g} s"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return _printable(text, ERROR_LENGTH)


def _printable(text: str, length: int) -> str:
    """Cut to `length`; NUL becomes U+FFFD (PostgreSQL text cannot hold it)."""
    return text.replace("\x00", "\ufffd")[:length]
