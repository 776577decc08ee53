"""A cap on request bodies, enforced while they stream in, answered in the house envelope."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sqr_reports.errors import PayloadTooLarge
from sqr_reports.http_errors import app_error


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
