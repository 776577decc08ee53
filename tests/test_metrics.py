"""GET /metrics moves when the things it counts happen: requests by route template, jobs by
outcome and error code, renders, the queue as the database holds it, lease reaps, 429s and
token outcomes. It is not in the public OpenAPI document, and a token can guard it."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
import pytest
from pydantic import SecretStr

from sqr_reports.app import create_app
from sqr_reports.config import MetricsSettings
from sqr_reports.container import Container
from sqr_reports.queue.worker import Worker
from tests.conftest import add_user, connected
from tests.scrape import scrape, total, value
from tests.support import Api, ClientCredentials, MovableClock, report_queue

REQUESTS = "sqr_reports_http_requests_total"
OUTCOMES = "sqr_reports_queue_outcomes_total"
RENDERS = "sqr_reports_render_duration_seconds_count"


async def test_metrics_are_prometheus_text_and_not_in_the_api_document(
    http: httpx.AsyncClient,
) -> None:
    samples = await scrape(http)
    document = (await http.get("/openapi.json")).json()

    assert value(samples, "sqr_reports_queue_stats_up") == 1
    assert "/metrics" not in document["paths"]


async def test_requests_are_counted_by_route_template_never_by_raw_path(
    api: Api, token_a: str, alice: str
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    route = "/v1/document/api/{job_id}"
    before = await scrape(api.http)

    await api.status(token_a, job_id)
    await api.status(token_a, "no-such-job")
    after = await scrape(api.http)

    labels = {"route": route, "method": "GET"}
    assert value(after, REQUESTS, **labels, status="200") == value(
        before, REQUESTS, **labels, status="200") + 1  # fmt: skip
    assert value(after, REQUESTS, **labels, status="404") == value(
        before, REQUESTS, **labels, status="404") + 1  # fmt: skip
    assert total(after, "sqr_reports_http_request_duration_seconds_count", route=route) >= 2
    assert not any(job_id in str(labels) for _, labels in after)


async def test_a_request_held_on_purpose_is_counted_but_not_timed(http: httpx.AsyncClient) -> None:
    """`Prefer: wait` holds a request for as long as the client asked: not slowness."""
    route = {"route": "/healthz", "method": "GET"}
    timed = "sqr_reports_http_request_duration_seconds_count"
    before = await scrape(http)

    await http.get("/healthz", headers={"Prefer": "wait=5"})
    await http.get("/healthz")
    after = await scrape(http)

    assert value(after, REQUESTS, **route, status="200") == value(
        before, REQUESTS, **route, status="200") + 2  # fmt: skip
    assert value(after, timed, **route) == value(before, timed, **route) + 1


async def test_a_job_moves_the_queue_and_its_outcome_the_counters(
    api: Api, token_a: str, alice: str, worker: Worker
) -> None:
    before = await scrape(api.http)

    await api.create(token_a, alice)
    queued = await scrape(api.http)
    await worker.drain()
    after = await scrape(api.http)

    report = {"kind": "report"}
    assert value(queued, "sqr_reports_queue_depth", **report, status="PENDING") == 1
    assert value(queued, "sqr_reports_queue_oldest_pending_age_seconds", **report) >= 0
    assert value(after, "sqr_reports_queue_depth", **report, status="PENDING") == 0
    for name, more in [
        ("sqr_reports_queue_created_total", 1), ("sqr_reports_queue_claims_total", 1),
        ("sqr_reports_queue_processing_seconds_count", 1),
    ]:  # fmt: skip
        assert total(after, name, **report) == total(before, name, **report) + more, name
    completed = {**report, "outcome": "completed", "error_code": "none"}
    assert value(after, OUTCOMES, **completed) == value(before, OUTCOMES, **completed) + 1
    assert total(after, RENDERS, outcome="ok") == total(before, RENDERS, outcome="ok") + 1


async def test_a_failed_job_is_counted_under_its_error_code(
    api: Api, token_a: str, container: Container, org_b: ClientCredentials, worker: Worker
) -> None:
    stranger = await add_user(container, id="US0NOTCONNECTED0", connections=connected(org_b.org_id))
    failed = {"kind": "report", "outcome": "failed", "error_code": "USER_NOT_FOUND"}
    before = value(await scrape(api.http), OUTCOMES, **failed)

    await api.create(token_a, stranger)
    await worker.drain()

    assert value(await scrape(api.http), OUTCOMES, **failed) == before + 1


async def test_429s_are_counted_as_rate_limit_refusals(
    api: Api, token_a: str, alice: str, container: Container
) -> None:
    refusals = {"route": "/v1/document/api"}
    before = value(await scrape(api.http), "sqr_reports_rate_limit_refusals_total", **refusals)
    limit = container.settings.rate_limit.creations_per_window

    answers = [(await api.create(token_a, alice)).status_code for _ in range(limit + 2)]

    after = await scrape(api.http)
    assert answers.count(429) == 2
    assert value(after, "sqr_reports_rate_limit_refusals_total", **refusals) == before + 2


async def test_token_outcomes_are_counted(
    http: httpx.AsyncClient, org_a: ClientCredentials, container: Container
) -> None:
    name = "sqr_reports_token_requests_total"
    body = {"client_id": org_a.client_id, "grant_type": "client_credentials"}
    before = await scrape(http)

    await http.post("/oauth2/token", json=body | {"client_secret": org_a.client_secret})
    for _ in range(container.settings.auth.failed_attempts_per_client + 1):
        await http.post("/oauth2/token", json=body | {"client_secret": "wrong"})
    await http.post("/oauth2/token", json={"grant_type": "password"})
    after = await scrape(http)

    limit = container.settings.auth.failed_attempts_per_client
    for outcome, more in [
        ("issued", 1), ("invalid_client", limit), ("throttled", 1), ("unsupported_grant_type", 1)
    ]:  # fmt: skip
        assert value(after, name, outcome=outcome) == value(before, name, outcome=outcome) + more


async def test_an_expired_lease_is_counted_as_reaped(
    api: Api, token_a: str, alice: str, container: Container, clock: MovableClock, worker: Worker
) -> None:
    reaped = {"kind": "report", "outcome": "requeued"}
    before = value(await scrape(api.http), "sqr_reports_queue_lease_reaps_total", **reaped)
    await api.create(token_a, alice)
    queue, work = report_queue(container)
    assert await queue.claim(work, "a-worker-that-dies") is not None

    clock.advance(container.settings.worker.lease_seconds + 1)
    expired = await scrape(api.http)
    await worker.drain()

    assert value(expired, "sqr_reports_queue_expired_leases", kind="report") == 1
    after = await scrape(api.http)
    assert value(after, "sqr_reports_queue_lease_reaps_total", **reaped) == before + 1
    assert value(after, "sqr_reports_queue_expired_leases", kind="report") == 0


async def test_running_workers_show_their_slots(api: Api, worker: Worker) -> None:
    name, report = "sqr_reports_worker_slots", {"kind": "report"}
    before = value(await scrape(api.http), name, **report)
    running = asyncio.create_task(worker.run())
    await worker.wait_until_idle()

    during = value(await scrape(api.http), name, **report)
    worker.stop()
    await running

    assert during == before + worker.works[0].concurrency
    assert value(await scrape(api.http), name, **report) == before


@pytest.fixture
def guarded(container: Container) -> Container:
    token = SecretStr("scrape-me")
    return dataclasses.replace(
        container,
        settings=container.settings.model_copy(
            update={"metrics": MetricsSettings(bearer_token=token)}
        ),
    )


async def test_a_configured_token_guards_metrics(guarded: Container) -> None:
    transport = httpx.ASGITransport(app=create_app(container=guarded))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        missing = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        granted = await scrape(client, token="scrape-me")

    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.json()["error"] == "UNAUTHORIZED"
    assert granted


async def test_metrics_can_be_switched_off(container: Container) -> None:
    settings = container.settings.model_copy(update={"metrics": MetricsSettings(enabled=False)})
    app = create_app(container=dataclasses.replace(container, settings=settings))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/metrics")).status_code == 404
