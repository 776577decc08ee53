"""Caps on requests, answered in the house envelope: bodies (enforced while they stream in) and
headers (at the HTTP parser, before the app)."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from http import HTTPStatus

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from sqr_reports import correlation
from sqr_reports.clock import isoformat_ms
from sqr_reports.errors import HeadersTooLarge, PayloadTooLarge, error_word
from sqr_reports.http_errors import app_error
from sqr_reports.http_telemetry import METHODS
from sqr_reports.metrics.instruments import instruments

log = logging.getLogger(__name__)


class HeaderLimit:
    """Refuse requests whose head (target and header fields) is over `max_bytes` with 431.

    The HTTP parser refuses a head that is still incomplete past the limit
    (`EnvelopeHttpToolsProtocol`); one that arrived whole in a single read gets here, and is
    refused the same way, closing the connection too, so the answer does not depend on how
    the bytes were segmented or read.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = 0):
        self.app = app
        self.max_bytes = max_bytes or MAX_HEADER_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
            size += sum(len(name) + len(value) + 4 for name, value in scope["headers"])
            if size > self.max_bytes:
                response = await app_error(Request(scope), HeadersTooLarge())
                response.headers["Connection"] = "close"  # as the parser's refusal does
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse bodies over `max_bytes`: at once when Content-Length says so, otherwise as soon as
    the streamed bytes pass the limit (chunked uploads declare no length)."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = await app_error(Request(scope), PayloadTooLarge())
            # The body is never read: what the client still sends must not be taken for the
            # connection's next request.
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLarge()  # inside the app: its error handler answers
            return message

        await self.app(scope, limited, send)


def _refusal(status: HTTPStatus, method: str, path: str, request_id: str) -> bytes:
    message = (
        "The request headers are too large"
        if status == HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
        else "Invalid HTTP request"
    )
    return json.dumps(
        {
            "code": status.value,
            "error": error_word(status),
            "message": message,
            "timestamp": isoformat_ms(datetime.now(UTC)),
            "path": path,
            "method": method,
            "requestId": request_id,
        }
    ).encode()


#: The route label of what the HTTP parser refuses before the app sees it.
UNPARSED = "unparsed"
#: The most header bytes a request may send (request line and all fields). Our access tokens
#: are about 1 KB; a 100 KB bearer token is not one of ours and gets a 431, by design.
MAX_HEADER_BYTES = 32 * 1024


class EnvelopeHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's fastest HTTP/1.1 protocol (httptools, i.e. llhttp), with the head limit and the
    envelope on what the app never sees.

    llhttp sets no limit on a request's head, and uvicorn answers an unparsable request with a
    plain-text 400. This counts a head's bytes while it arrives and, once they pass
    `MAX_HEADER_BYTES` with no end of the head in sight, answers 431 in the house envelope and
    closes the connection (a head that arrives whole is measured by `HeaderLimit`, the same
    way); an unparsable request gets 400 in the envelope. Every error a client can get has one
    shape, and a 100 KB bearer token costs at most the limit plus one read of memory.

    httptools reports no offsets, so a head that begins in the middle of a read (behind a
    pipelined request) is counted from the next read on: the limit may act a read late, never
    early.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        #: Whether the parser is reading a head (or waiting for the next one), and its bytes.
        self.in_head = True
        self.head_bytes = 0
        self.message_ended = False

    def data_received(self, data: bytes) -> None:
        whole_read_is_head = self.in_head
        self.message_ended = False
        super().data_received(data)
        if not self.in_head or self.transport.is_closing():
            return
        if whole_read_is_head and not self.message_ended:
            self.head_bytes += len(data)
        if self.head_bytes > MAX_HEADER_BYTES:
            self.refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)

    def on_headers_complete(self) -> None:
        self.in_head, self.head_bytes = False, 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self.in_head, self.head_bytes, self.message_ended = True, 0, True
        super().on_message_complete()
        self.url = b""  # what follows may fail before it names a target: never blame this one

    def send_400_response(self, msg: str) -> None:
        self.refuse(HTTPStatus.BAD_REQUEST)

    def refuse(self, status: HTTPStatus) -> None:
        """Answer `status` in the envelope, before the app, and close the connection.

        With a request id of its own (a head that is incomplete or unparsable is no source of
        one), in the header and the body as the app's answers have it, and logged and counted
        like them, under the route `unparsed`.
        """
        method, path = self.request_line()
        request_id = correlation.new_request_id()
        body = _refusal(status, method, path, request_id)
        head = [f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode()]
        head += [
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        ]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"x-request-id: " + request_id.encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
        counted_method = method if method in METHODS else "other"
        instruments().http_requests.labels(UNPARSED, counted_method, str(status.value)).inc()
        log.info("request refused before the app: %d %s", status.value, status.phrase,
                 extra={"request_id": request_id, "status": status.value})  # fmt: skip

    def request_line(self) -> tuple[str, str]:
        """The method and path of the request being refused, if its target has arrived (never
        its query, which may carry a signature)."""
        url: bytes = getattr(self, "url", b"")  # set by uvicorn when a message begins
        if not url.startswith(b"/"):
            return "", ""
        method: bytes = self.parser.get_method()
        path = url.split(b"?", 1)[0][:200].decode("latin-1")
        return method.decode("latin-1")[:10], path
