"""Hostile requests get a clean 4xx in the house envelope, bounded in size, and lose nothing."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from proofs.attack.conftest import World, assert_envelope
from proofs.live import JOBS, LiveServer, bearer

HEAD_LIMIT = 16 * 1024


def test_a_body_over_the_limit_is_413(http: httpx.Client, world: World) -> None:
    body = json.dumps({"userId": "x" * (70 * 1024)})
    response = http.post(
        JOBS, content=body, headers=bearer(world.token_a) | {"Content-Type": "application/json"}
    )
    assert_envelope(response, 413)


def test_a_chunked_body_over_the_limit_is_413(http: httpx.Client, world: World) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"userId": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    headers = bearer(world.token_a) | {"Content-Type": "application/json"}
    assert_envelope(http.post(JOBS, content=chunks(), headers=headers), 413)


def test_thousands_of_unknown_fields_get_a_bounded_answer(http: httpx.Client, world: World) -> None:
    fields = {"userId": "USATTACKA0000001"} | {f"f{i}": 0 for i in range(6000)}
    body = json.dumps(fields, separators=(",", ":"))  # about 60 KB: under the body limit
    headers = bearer(world.token_a) | {"Content-Type": "application/json"}
    response = http.post(JOBS, content=body, headers=headers)
    assert_envelope(response, 400)
    assert len(response.content) < 8 * 1024
    payload = response.json()
    assert len(payload["errors"]) <= 20
    assert payload["errorCount"] == 6000


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("text/plain", b'{"userId": "US1"}', 415),
        ("application/x-www-form-urlencoded", b"userId=US1", 415),
        ("application/json", b'{"userId": ', 400),
        ("application/json", b"[]", 400),
        ("application/json", b'{"userId": 123}', 400),
        ("application/json", b'{"userId": ""}', 400),
        ("application/json", b'{"userId": "US1A2B3C4D5E6F789"}', 400),
        ("application/json", b'{"userId": "US1", "userId": "US2", "x": 1}', 400),
        ("application/json", b"\xff\xfe\x00", 400),
        ("application/json", b'{"userId": "' + b"\\u0000" * 3 + b'", "extra": {}}', 400),
    ],
)
def test_a_bad_body_is_refused_in_the_envelope(
    http: httpx.Client, world: World, content_type: str, body: bytes, status: int
) -> None:
    headers = bearer(world.token_a) | {"Content-Type": content_type}
    assert_envelope(http.post(JOBS, content=body, headers=headers), status)


@pytest.mark.parametrize(
    "path",
    [
        f"{JOBS}/..%2F..%2Fetc%2Fpasswd",
        f"{JOBS}/%00",
        f"{JOBS}/" + "a" * 5000,
        f"{JOBS}/3FA85F64-5717-4562-B3FC-2C963F66AFA6' OR '1'='1",
    ],
)
def test_a_hostile_job_id_is_a_plain_404(http: httpx.Client, world: World, path: str) -> None:
    assert_envelope(http.get(path, headers=bearer(world.token_a)), 404)


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "100000"}, {"limit": "ten"}, {"status": "DONE"},
     {"cursor": "A" * 4000}, {"cursor": "not base64!"}, {"userId": "x" * 17}],
)  # fmt: skip
def test_a_hostile_listing_query_is_400(
    http: httpx.Client, world: World, params: dict[str, str]
) -> None:
    assert_envelope(http.get(JOBS, params=params, headers=bearer(world.token_a)), 400)


def test_an_unknown_method_is_405_in_the_envelope(http: httpx.Client, world: World) -> None:
    assert_envelope(http.put(f"{JOBS}/{world.job_a}", headers=bearer(world.token_a)), 405)


def _raw_exchange(server: LiveServer, segments: list[bytes]) -> bytes:
    """Send a request in separate TCP segments (as a proxy may) and read the whole answer."""
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for segment in segments:
                sock.sendall(segment)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused mid-head: the answer is already waiting
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def test_a_100kb_bearer_token_in_segments_is_431_in_the_envelope(
    server: LiveServer, world: World
) -> None:
    token = "eyJ" + "A" * 100_000
    head = f"GET {JOBS}/{world.job_a} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ".encode()
    segments = [head] + [token[i : i + 8192].encode() for i in range(0, len(token), 8192)]
    answer = _raw_exchange(server, [*segments, b"\r\n\r\n"])

    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 431")
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert body["code"] == 431
    assert "eyJ" not in json.dumps(body)


def test_an_unparsable_request_is_400_in_the_envelope(server: LiveServer) -> None:
    answer = _raw_exchange(server, [b"GET / HTTP/1.1\r\nHost x\r\n\x00\r\n\r\n"])
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 400")
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["code"] == 400


def test_the_service_still_answers_after_all_this(http: httpx.Client, world: World) -> None:
    response = http.get(f"{JOBS}/{world.job_a}", headers=bearer(world.token_a))
    assert response.status_code == 200
    assert response.json()["status"] == "COMPLETE"
