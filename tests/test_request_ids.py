"""Every answer has a request id: the caller's when it is a plausible one, its trace's, or a new
one; in `X-Request-ID`, in every error envelope, on the job it creates, and on the worker's log
lines for that job."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sqr_reports.app import create_app
from sqr_reports.container import Container
from sqr_reports.http_telemetry import request_id_of, trace_id
from sqr_reports.logs import JsonLines
from sqr_reports.queue.worker import Worker
from tests.support import Api, ClientCredentials, load_job

NEW_ID = re.compile(r"^[0-9a-f]{32}$")
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    "given",
    ["req-1", "01J9ZKX3Q4M5N6P7R8S9T0V1W2", "Root=1-5759e988-bd862e3fe1be46a994272793", "a" * 128],
)
async def test_a_plausible_incoming_id_is_kept(http: httpx.AsyncClient, given: str) -> None:
    response = await http.get("/healthz", headers={"X-Request-ID": given})

    assert response.headers["X-Request-ID"] == given


@pytest.mark.parametrize(
    "given",
    ["", "a" * 129, "two words", "alice@example.com", 'quote"d', "tab\tbed", "naïve"],
)
async def test_an_implausible_incoming_id_is_replaced(http: httpx.AsyncClient, given: str) -> None:
    headers = [(b"x-request-id", given.encode())]

    response = await http.get("/healthz", headers=headers)

    assert NEW_ID.match(response.headers["X-Request-ID"])


async def test_without_one_each_request_gets_a_new_id(http: httpx.AsyncClient) -> None:
    first, second = await http.get("/healthz"), await http.get("/healthz")

    assert NEW_ID.match(first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


async def test_a_w3c_traceparent_lends_its_trace_id(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz", headers={"traceparent": TRACEPARENT})

    assert response.headers["X-Request-ID"] == TRACE


async def test_an_explicit_request_id_wins_over_the_traceparent(http: httpx.AsyncClient) -> None:
    headers = {"traceparent": TRACEPARENT, "X-Request-ID": "mine"}

    assert (await http.get("/healthz", headers=headers)).headers["X-Request-ID"] == "mine"


@pytest.mark.parametrize(
    "traceparent",
    [
        f"00-{'0' * 32}-00f067aa0ba902b7-01",  # the all-zero trace-id is invalid
        f"00-{TRACE}-{'0' * 16}-01",  # so is the all-zero parent-id
        f"ff-{TRACE}-00f067aa0ba902b7-01",  # version ff is forbidden
        f"00-{TRACE}-00f067aa0ba902b7-01-extra",  # version 00 has exactly four fields
        f"00-{TRACE.upper()}-00f067aa0ba902b7-01",  # lower-case hex only
        "garbage",
    ],
)
def test_an_invalid_traceparent_is_ignored(traceparent: str) -> None:
    assert trace_id(traceparent.encode()) is None
    assert NEW_ID.match(request_id_of([(b"traceparent", traceparent.encode())]))


def test_a_later_traceparent_version_may_carry_more_fields() -> None:
    assert trace_id(f"01-{TRACE}-00f067aa0ba902b7-01-what-comes-next".encode()) == TRACE


async def test_error_envelopes_carry_the_id_of_their_answer(http: httpx.AsyncClient) -> None:
    unknown = await http.get("/no/such/route", headers={"X-Request-ID": "err-1"})
    unauthenticated = await http.get("/v1/document/api/x")
    oversized = await http.post("/v1/document/api", content=b"x" * 70_000)

    assert (unknown.status_code, unknown.json()["requestId"]) == (404, "err-1")
    for answer in (unauthenticated, oversized):
        assert answer.json()["requestId"] == answer.headers["X-Request-ID"]
    assert oversized.status_code == 413


async def test_a_500_carries_the_id_in_header_and_envelope(container: Container) -> None:
    app = create_app(container=container)

    async def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/boom", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/boom", headers={"X-Request-ID": "bug-1"})

    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "bug-1"
    assert response.json()["requestId"] == "bug-1"


async def test_token_endpoint_answers_carry_the_header(
    http: httpx.AsyncClient, org_a: ClientCredentials
) -> None:
    body = {"client_id": org_a.client_id, "grant_type": "client_credentials"}
    granted = await http.post("/oauth2/token", json=body | {"client_secret": org_a.client_secret})
    refused = await http.post("/oauth2/token", json=body | {"client_secret": "wrong"})

    assert granted.status_code == 200
    assert NEW_ID.match(granted.headers["X-Request-ID"])
    assert refused.status_code == 401
    assert NEW_ID.match(refused.headers["X-Request-ID"])
    assert "requestId" not in refused.json()  # RFC 6749's body, as it is


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Every log record of the test, as the service writes it outside a terminal."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_the_job_and_the_workers_lines_carry_the_creating_request_id(
    api: Api, token_a: str, alice: str, container: Container, worker: Worker,
    org_a: ClientCredentials, json_lines: io.StringIO,
) -> None:  # fmt: skip
    created = await api.http.post(
        "/v1/document/api",
        json={"userId": alice},
        headers={"Authorization": f"Bearer {token_a}", "X-Request-ID": "create-42"},
    )
    job_id = created.json()["jobId"]
    await worker.drain()

    assert created.headers["X-Request-ID"] == "create-42"
    assert (await load_job(container, job_id)).request_id == "create-42"
    lines = [r for r in records(json_lines) if r.get("job_id") == job_id]
    events = [r["event"] for r in lines if "event" in r]
    assert events == [
        "report.created", "report.claimed", "report.rendered", "report.stored", "report.completed"
    ]  # fmt: skip
    assert all(r["request_id"] == "create-42" for r in lines)
    assert all(r["org_id"] == org_a.org_id for r in lines)
    assert all(r["attempt"] == 1 for r in lines if r["event"] != "report.created")
