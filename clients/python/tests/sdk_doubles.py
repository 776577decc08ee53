"""What the SDK's tests put between the client and the live service: a log of the requests sent
(httpx event hooks) and faults at the process boundary (httpx transports that lose an answer or
stand in for a failing proxy). The service itself is never faked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from sqr_reports_client._core import JOBS_PATH, TOKEN_PATH


class RequestLog:
    """Every request a client sent, and every answer it got."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.responses: list[httpx.Response] = []

    def hooks(self) -> dict[str, list[Callable[..., Any]]]:
        return {"request": [self.requests.append], "response": [self.responses.append]}

    def async_hooks(self) -> dict[str, list[Callable[..., Any]]]:
        async def request(sent: httpx.Request) -> None:
            self.requests.append(sent)

        async def response(got: httpx.Response) -> None:
            self.responses.append(got)

        return {"request": [request], "response": [response]}

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]

    @property
    def token_requests(self) -> int:
        return len(self.sent("POST", TOKEN_PATH))

    @property
    def creations(self) -> list[httpx.Request]:
        return self.sent("POST", JOBS_PATH)


class LoseFirstAnswer(httpx.BaseTransport):
    """The first POST to `path` reaches the service and is acted on, but its answer is lost
    (a connection reset on the way back), as when a load balancer drops a connection."""

    def __init__(self, path: str) -> None:
        self._inner = httpx.HTTPTransport()
        self._path = path
        #: Each POST that went through, with its answer: lost, then delivered.
        self.lost: list[tuple[httpx.Request, httpx.Response]] = []
        self.delivered: list[tuple[httpx.Request, httpx.Response]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if request.method != "POST" or request.url.path != self._path:
            return response
        if not self.lost:
            response.read()
            response.close()
            self.lost.append((request, response))
            raise httpx.ReadError("connection reset before the answer arrived", request=request)
        response.read()
        self.delivered.append((request, response))
        return response

    def close(self) -> None:
        self._inner.close()


class FailFirstRequest(httpx.BaseTransport):
    """The first POST to `path` is answered 503 by a proxy in front of the service (it never
    reaches the service); the others go through."""

    def __init__(self, path: str) -> None:
        self._inner = httpx.HTTPTransport()
        self._path = path
        self.refused = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == self._path and not self.refused:
            self.refused += 1
            return httpx.Response(503, headers={"Retry-After": "0"}, text="upstream unavailable")
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()
