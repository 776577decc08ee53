"""What a real uvicorn answers, configured as `sqr-reports serve` configures it, when a request
cannot reach the app: headers over the limit (431) and garbage (400), both in the envelope."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from sqr_reports.app import create_app
from sqr_reports.container import Container
from sqr_reports.http_limits import MAX_HEADER_BYTES, EnvelopeHttpToolsProtocol


@pytest.fixture
async def port(container: Container) -> AsyncIterator[int]:
    config = uvicorn.Config(
        create_app(container=container, embedded=False), host="127.0.0.1", port=0,
        http=EnvelopeHttpToolsProtocol, log_config=None, lifespan="off",
    )  # fmt: skip
    server = uvicorn.Server(config)
    listening = socket.create_server(("127.0.0.1", 0))  # connections wait in its backlog
    serving = asyncio.create_task(server.serve(sockets=[listening]))
    yield listening.getsockname()[1]
    server.should_exit = True
    await serving
    listening.close()


async def _exchange(port: int, request: bytes) -> tuple[str, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for start in range(0, len(request), 8192):  # in segments, as a proxy may send them
        writer.write(request[start : start + 8192])
        await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return status_line, headers, body


def _envelope(body: bytes) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(body)
    return parsed


async def test_a_100_kb_bearer_token_gets_431_in_the_envelope(port: int) -> None:
    token = "e" * 100_000
    request = (
        f"GET /v1/document/api/x?sig=secret HTTP/1.1\r\nHost: t\r\n"
        f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    ).encode()

    status, headers, body = await _exchange(port, request)

    assert status.startswith("HTTP/1.1 431")
    assert headers["content-type"] == "application/json"
    envelope = _envelope(body)
    assert (envelope["code"], envelope["error"]) == (431, "REQUEST_HEADER_FIELDS_TOO_LARGE")
    assert (envelope["method"], envelope["path"]) == ("GET", "/v1/document/api/x")
    assert token[:50] not in body.decode()


async def test_headers_under_the_limit_reach_the_app(port: int) -> None:
    request = (
        f"GET /v1/document/api/x HTTP/1.1\r\nHost: t\r\nX-Padding: {'p' * 20_000}\r\n"
        "Authorization: Bearer not-a-token\r\nConnection: close\r\n\r\n"
    ).encode()

    status, headers, body = await _exchange(port, request)

    assert status.startswith("HTTP/1.1 401")  # the app answered: the token is bad
    assert _envelope(body)["error"] == "UNAUTHORIZED"
    assert "invalid_token" in headers["www-authenticate"]


async def test_an_oversized_head_still_arriving_is_cut_off_by_the_parser_with_431(
    port: int,
) -> None:
    """No end of the head in sight after the limit: the parser refuses before the app runs."""
    request = f"GET /v1/document/api/x HTTP/1.1\r\nX-Long: {'a' * (MAX_HEADER_BYTES + 1)}".encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)  # and nothing more: the head never ends
    await writer.drain()
    raw = await reader.read()
    writer.close()

    assert raw.startswith(b"HTTP/1.1 431")
    assert _envelope(raw.partition(b"\r\n\r\n")[2])["error"] == "REQUEST_HEADER_FIELDS_TOO_LARGE"


async def test_an_unparsable_request_gets_400_in_the_envelope(port: int) -> None:
    status, headers, body = await _exchange(port, b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")

    assert status.startswith("HTTP/1.1 400")
    assert headers["content-type"] == "application/json"
    assert _envelope(body)["error"] == "BAD_REQUEST"


async def test_a_body_is_never_counted_as_the_next_requests_head(port: int) -> None:
    """A pipelined request behind a 60 KB body, in one write: the parser counts only head bytes
    (never early), so both requests reach the app."""
    body = b'{"userId": "' + b"A" * 60_000 + b'"}'
    first = (
        f"POST /v1/document/api HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    second = b"GET /v1/document/api/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(first + second)
    await writer.drain()
    raw = await reader.read()
    writer.close()

    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", raw) == [b"401", b"401"]


async def test_a_head_arriving_a_kilobyte_at_a_time_is_cut_off_past_the_limit(port: int) -> None:
    """However the bytes are segmented, the limit is the same: 431 once it is passed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /v1/document/api/x HTTP/1.1\r\nHost: t\r\n")
    for _ in range(MAX_HEADER_BYTES // 1024 + 1):
        writer.write(b"X-Part: " + b"p" * 1014 + b"\r\n")
        await writer.drain()
        if reader.at_eof():
            break
    raw = await reader.read()
    writer.close()

    assert raw.startswith(b"HTTP/1.1 431")
    assert b"connection: close" in raw.partition(b"\r\n\r\n")[0].lower()
    envelope = _envelope(raw.partition(b"\r\n\r\n")[2])
    assert (envelope["method"], envelope["path"]) == ("GET", "/v1/document/api/x")


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        f"GET /x HTTP/1.1\r\nX-Long: {'a' * (MAX_HEADER_BYTES + 1)}\r\n\r\n".encode(),
    ],
)
async def test_what_the_parser_refuses_has_a_request_id_too(
    port: int, request_bytes: bytes
) -> None:
    """An answer the app never saw still has an id, in its header and its envelope alike."""
    status, headers, body = await _exchange(port, request_bytes)

    assert status.split()[1] in ("400", "431")
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])
    assert _envelope(body)["requestId"] == headers["x-request-id"]


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        # a head over the limit that arrives whole: the app's limit refuses it, not the parser's
        (f"GET /x HTTP/1.1\r\nHost: t\r\nX-Long: {'a' * (MAX_HEADER_BYTES + 1)}\r\n\r\n", 431),
        # a body too large to read: what the client still sends is no next request
        ("POST /v1/document/api HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000\r\n\r\n", 413),
    ],
)
async def test_a_refused_request_closes_its_connection_at_once(
    port: int, request_bytes: str, status: int
) -> None:
    """Not after the keep-alive (5 s here, 75 s by default): at once, as the parser does."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_bytes.encode())  # one write, and no `Connection: close` asked for
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 3)  # read() returns at the server's close
    writer.close()

    assert raw.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"connection: close" in raw.partition(b"\r\n\r\n")[0].lower()
