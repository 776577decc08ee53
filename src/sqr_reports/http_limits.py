"""Caps on requests, answered in the house envelope: bodies (enforced while they stream in) and
headers (at the HTTP parser, before the app)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from http import HTTPStatus

import h11
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from sqr_reports.clock import isoformat_ms
from sqr_reports.errors import HeadersTooLarge, PayloadTooLarge, error_word
from sqr_reports.http_errors import app_error


class HeaderLimit:
    """Refuse requests whose head (target and header fields) is over `max_bytes` with 431.

    The HTTP parser refuses a head that is still incomplete past the limit
    (`EnvelopeH11Protocol`); one that arrived whole in a single read gets here, and is refused
    the same way, so the limit does not depend on how the bytes were segmented.
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


#: The most header bytes a request may send (request line and all fields). Our access tokens
#: are about 1 KB; a 100 KB bearer token is not one of ours and gets a 431, by design.
MAX_HEADER_BYTES = 32 * 1024


class EnvelopeH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, answering requests it cannot parse in the house envelope.

    uvicorn answers any unparsable request (including headers over `h11_max_incomplete_event_size`)
    with a plain-text 400 before the app sees it. This says 431 when the headers were too large
    and 400 otherwise, as JSON in the envelope, so every error a client can get has one shape.
    """

    def send_400_response(self, msg: str) -> None:
        pending = self.conn.trailing_data[0]
        too_large = len(pending) > (self.config.h11_max_incomplete_event_size or MAX_HEADER_BYTES)
        status = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE if too_large else HTTPStatus.BAD_REQUEST
        method, path = _request_line(pending)
        message = "The request headers are too large" if too_large else "Invalid HTTP request"
        body = json.dumps(
            {
                "code": status.value,
                "error": error_word(status),
                "message": message,
                "timestamp": isoformat_ms(datetime.now(UTC)),
                "path": path,
                "method": method,
            }
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        response = h11.Response(status_code=status.value, headers=headers, reason=status.phrase)
        self.transport.write(self.conn.send(response) or b"")
        self.transport.write(self.conn.send(h11.Data(data=body)) or b"")
        self.transport.write(self.conn.send(h11.EndOfMessage()) or b"")
        self.transport.close()


def _request_line(pending: bytes) -> tuple[str, str]:
    """The method and path of a request whose head could not be parsed, if its first line reads
    as one (never its query, which may carry a signature)."""
    first = pending.split(b"\r\n", 1)[0].decode("latin-1")
    parts = first.split(" ")
    if len(parts) == 3 and parts[0].isalpha() and parts[1].startswith("/"):
        return parts[0][:10], parts[1].split("?", 1)[0][:200]
    return "", ""
