"""Every request's id and its count, in one pure ASGI middleware.

The id is the caller's `X-Request-ID` when it is a plausible id (1-128 characters of letters,
digits and `._:+=/-`: nothing that could break a log line or carry an e-mail address), else the
trace-id of a valid W3C `traceparent`, else a new one. It is returned in `X-Request-ID` on
every answer and bound to the request's context (`correlation`), whence every log line of the
request, its error envelope and the job it creates take it.

The count is by route template (`/v1/document/api/{job_id}`), never the raw path, with the
latency histogram (which leaves out requests held on purpose by `Prefer: wait`: their time is
the client's choice, and would hide slowness) and the 429 refusals. The app installs this
around Starlette's own error handling (`app.py`), so a 500 carries the id and is counted too.
Pure ASGI rather than `BaseHTTPMiddleware`: the status poll is the hot path, and this costs it
a few microseconds.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from prometheus_client.metrics import Counter, Histogram

from sqr_reports import correlation
from sqr_reports.metrics.instruments import instruments

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID_HEADER = b"x-request-id"
_PLAUSIBLE_ID = re.compile(rb"[A-Za-z0-9._:+=/-]{1,128}")
_TRACEPARENT = re.compile(rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-.*)?")
#: Methods counted under their own name; anything else is "other" (a client cannot add series).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The route label of a request no route matched (404s, and what is refused before routing).
UNMATCHED = "unmatched"


def request_id_of(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The id this request goes by: the caller's, its trace's, or a new one."""
    return read_headers(headers)[0]


def read_headers(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, bool]:
    """The request's id, and whether it asks to be held (`Prefer: wait`), in one pass."""
    given: str | None = None
    traced: str | None = None
    waits = False
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if given is None and _PLAUSIBLE_ID.fullmatch(value):
                given = value.decode("ascii")
        elif name == b"traceparent":
            traced = traced or trace_id(value)
        elif name == b"prefer":
            waits = waits or b"wait" in value.lower()
    return given or traced or correlation.new_request_id(), waits


def trace_id(traceparent: bytes) -> str | None:
    """The trace-id of a W3C Trace Context `traceparent`, if it is a valid one."""
    found = _TRACEPARENT.fullmatch(traceparent.strip())
    if found is None:
        return None
    version, trace, parent, rest = found.groups()
    if version == b"ff" or (version == b"00" and rest) or not trace.strip(b"0"):
        return None
    return trace.decode("ascii") if parent.strip(b"0") else None


@dataclass(frozen=True, slots=True)
class _Recorders:
    """The metric children of one (route, method, status): looked up once, then reused."""

    requests: Any
    latency: Any
    refusals: Any | None


class RequestTelemetry:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._recorders: dict[tuple[str, str, int], _Recorders] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id, waits = read_headers(scope["headers"])
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        status = 500  # what the client gets if the app fails before it answers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = correlation.begin_request(request_id)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, None if waits else time.perf_counter() - started)
            correlation.end_request(token)

    def _record(self, scope: Scope, status: int, seconds: float | None) -> None:
        """Count the answer; time it unless it was held on purpose (`Prefer: wait`, None)."""
        route = getattr(scope.get("route"), "path", None) or UNMATCHED
        method = scope["method"] if scope["method"] in METHODS else "other"
        key = (route, method, status)
        recorders = self._recorders.get(key) or self._recorders.setdefault(key, _children(*key))
        recorders.requests.inc()
        if seconds is not None:
            recorders.latency.observe(seconds)
        if recorders.refusals is not None:
            recorders.refusals.inc()


def _children(route: str, method: str, status: int) -> _Recorders:
    metrics = instruments()
    requests: Counter = metrics.http_requests
    latency: Histogram = metrics.http_duration
    return _Recorders(
        requests=requests.labels(route, method, str(status)),
        latency=latency.labels(route, method),
        refusals=metrics.rate_limit_refusals.labels(route) if status == 429 else None,
    )
