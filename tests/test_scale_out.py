"""Several API instances and workers on one database: probes, outages, wake-ups, shutdown."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from io import BytesIO
from pathlib import Path

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from sqr_reports.app import create_app
from sqr_reports.container import Container, build_container
from sqr_reports.db.clock import DatabaseClock
from sqr_reports.db.migrate import migration_scripts
from sqr_reports.queue.worker import Worker
from sqr_reports.rendering.typst_renderer import TypstRenderer
from sqr_reports.reports.models import ReportJob
from tests.conftest import POSTGRES_URL, make_settings
from tests.fakes import FakeRenderer
from tests.support import (
    Api,
    MovableClock,
    TcpProxy,
    assert_envelope,
    listening,
    load_job,
    report_queue,
    worker_with,
)

postgres_only = pytest.mark.skipif(
    not POSTGRES_URL, reason="needs SQR_REPORTS_TEST_DATABASE_URL (CI runs it on PostgreSQL)"
)


async def _client(container: Container) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(container=container))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_healthz_and_readyz(http: httpx.AsyncClient) -> None:
    alive = await http.get("/healthz")
    ready = await http.get("/readyz")

    assert alive.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "storage": "ok"}}


async def test_readyz_is_503_until_the_schema_is_migrated(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    container = build_container(settings)
    try:
        async with await _client(container) as http:
            response = await http.get("/readyz")
    finally:
        await container.close()

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "migrate" in response.json()["checks"]["database"]


@pytest.fixture
async def unreachable(tmp_path: Path) -> AsyncIterator[Container]:
    """A container whose database does not answer (nothing listens on port 1)."""
    settings = make_settings(tmp_path, "postgresql+asyncpg://postgres@127.0.0.1:1/test")
    container = build_container(settings)
    yield container
    await container.close()


async def test_database_outage_is_503_with_retry_after_never_202(unreachable: Container) -> None:
    token = unreachable.codec.issue(
        client_id="sqr_x", org_id="org", scopes=["write:reports"], now=unreachable.clock.now()
    )
    async with await _client(unreachable) as http:
        create = await http.post(
            "/v1/document/api",
            json={"userId": "US1"},
            headers={"Authorization": f"Bearer {token}"},
        )
        credentials = {"client_id": "a", "client_secret": "b", "grant_type": "client_credentials"}
        grant = await http.post("/oauth2/token", json=credentials)
        ready = await http.get("/readyz")

    assert_envelope(create, 503, "SERVICE_UNAVAILABLE")
    assert create.headers["Retry-After"] == "5"
    assert grant.status_code == 503
    assert grant.json()["error"] == "temporarily_unavailable"
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("unavailable")


async def test_rate_limit_is_exact_across_api_instances(
    container: Container, second_container: Container, token_a: str, alice: str
) -> None:
    async with await _client(container) as one, await _client(second_container) as two:
        apis = [Api(one), Api(two)]
        responses = await asyncio.gather(*(apis[i % 2].create(token_a, alice) for i in range(50)))

    assert [r.status_code for r in responses].count(202) == 10


async def test_workers_in_two_processes_never_share_a_job(
    container: Container, second_container: Container, api: Api, token_a: str, alice: str
) -> None:
    created = {(await api.create(token_a, alice)).json()["jobId"] for _ in range(10)}

    async def claim(source: Container, owner: str) -> str | None:
        queue, work = report_queue(source)
        found = await queue.claim(work, owner)
        return found.id if found else None

    claims = await asyncio.gather(
        *(claim((container, second_container)[i % 2], f"w{i}") for i in range(24))
    )

    won = [job_id for job_id in claims if job_id is not None]
    assert sorted(won) == sorted(created)


def _worker(container: Container, renderer: FakeRenderer, grace: float) -> Worker:
    container.settings.worker.shutdown_grace_seconds = grace
    return worker_with(container, renderer=renderer)


def _replica(container: Container, clock: MovableClock) -> Container:
    """Another machine on the same database, wired as in production (the database's clock
    for the queue), whose own clock is `clock`; the suite's containers use the test clock for
    both."""
    built = build_container(container.settings, clock, container.renderer)
    return dataclasses.replace(built, db_clock=DatabaseClock())


async def test_shutdown_lets_a_job_finish_within_the_grace_period(
    container: Container, api: Api, token_a: str, alice: str
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    renderer = FakeRenderer(hold=True)
    worker = _worker(container, renderer, grace=30)
    running = asyncio.create_task(worker.run())
    await asyncio.wait_for(renderer.started.wait(), 20)

    worker.stop()
    renderer.release()
    await asyncio.wait_for(running, 20)

    assert (await load_job(container, job_id)).status == "COMPLETE"


async def test_shutdown_releases_what_it_cannot_finish_without_spending_an_attempt(
    container: Container, api: Api, token_a: str, alice: str, worker: Worker
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    renderer = FakeRenderer(hold=True)
    stopping = _worker(container, renderer, grace=0.05)
    running = asyncio.create_task(stopping.run())
    await asyncio.wait_for(renderer.started.wait(), 20)

    stopping.stop()
    await asyncio.wait_for(running, 20)

    job = await load_job(container, job_id)
    assert (job.status, job.lease_owner, job.attempts, job.max_attempts) == ("PENDING", None, 1, 4)
    assert await worker.drain() == 1  # another worker takes it at once
    assert (await load_job(container, job_id)).status == "COMPLETE"


@postgres_only
async def test_a_job_created_elsewhere_wakes_an_idle_worker_through_listen_notify(
    container: Container, second_container: Container, api: Api, token_a: str, alice: str
) -> None:
    """The worker's poll is an hour: only PostgreSQL's NOTIFY can wake it in time."""
    second_container.settings.worker.poll_seconds = 3600
    renderer = FakeRenderer()
    worker = worker_with(second_container, renderer=renderer)
    async with listening(second_container.new_listener()):
        running = asyncio.create_task(worker.run())
        try:
            await asyncio.wait_for(worker.wait_until_idle(), 10)
            job_id = (await api.create(token_a, alice)).json()["jobId"]  # through `container`
            await asyncio.wait_for(renderer.started.wait(), 10)
        finally:
            worker.stop()  # lets the job in flight finish
            await running

    assert (await load_job(container, job_id)).status == "COMPLETE"
    assert [request.data["meta"]["report_id"] for request in renderer.requests] == [job_id]


@postgres_only
async def test_leases_follow_the_database_clock_not_a_skewed_worker(
    container: Container, api: Api, token_a: str, alice: str
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    queue, work = report_queue(container, DatabaseClock())
    claim = await queue.claim(work, "live-worker")
    assert claim is not None
    skewed = MovableClock()
    skewed.advance(3600)  # this machine's clock is an hour fast
    elsewhere = _replica(container, skewed)

    try:
        await elsewhere.new_worker().drain()
    finally:
        await elsewhere.engines.dispose()

    job = await load_job(container, job_id)
    assert (job.status, job.lease_owner) == ("PROCESSING", "live-worker")


@postgres_only
async def test_api_and_worker_recover_when_the_database_comes_back(
    container: Container, token_a: str, alice: str, renderer: TypstRenderer,
    clock: MovableClock,
) -> None:  # fmt: skip
    url = make_url(POSTGRES_URL)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    settings = make_settings(container.settings.data_dir, proxied)
    settings.worker.poll_seconds = 0.2
    through_proxy = build_container(settings, clock, renderer)
    worker = through_proxy.new_worker()
    running = asyncio.create_task(worker.run())
    try:
        async with await _client(through_proxy) as http:
            api = Api(http)
            await proxy.cut()
            down = await api.create(token_a, alice)
            await proxy.start()
            up = await api.create(token_a, alice)
            job = await api.wait_terminal(token_a, up.json()["jobId"], seconds=60)
    finally:
        worker.stop()
        await running
        await proxy.cut()
        await through_proxy.engines.dispose()

    assert down.status_code == 503
    assert up.status_code == 202
    assert job["status"] == "COMPLETE"
    async with container.sessions() as session:
        count = len((await session.execute(select(ReportJob.id))).all())
    assert count == 1  # the refused request created nothing


async def test_readyz_stays_ready_when_the_schema_is_ahead_of_this_code(
    container: Container, http: httpx.AsyncClient
) -> None:
    """During a rollout `migrate` runs first; the old release must stay in service."""
    async with container.sessions.begin() as session:
        await session.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed9999'"))
    try:
        ready = await http.get("/readyz")
    finally:
        async with container.sessions.begin() as session:
            await session.execute(text("UPDATE alembic_version SET version_num = :head"),
                                  {"head": migration_scripts().get_current_head()})  # fmt: skip

    assert ready.status_code == 200


@postgres_only
async def test_a_replica_with_a_skewed_clock_advises_and_dates_by_the_database_clock(
    container: Container, token_a: str, alice: str
) -> None:
    """The clock rule (ADR 0011): job times come from the database, whatever a replica's clock."""
    skewed = MovableClock()
    skewed.advance(2400)  # this machine's clock is 40 minutes fast
    elsewhere = _replica(container, skewed)
    transport = httpx.ASGITransport(app=create_app(container=elsewhere))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            api = Api(http)
            job_id = (await api.create(token_a, alice)).json()["jobId"]
            polled = await api.status(token_a, job_id)
            await elsewhere.new_worker().drain()
            job = await api.wait_terminal(token_a, job_id)
            pdf = (await http.get((await api.url(token_a, job_id)).json()["url"])).content
    finally:
        await elsewhere.engines.dispose()

    assert polled.headers["Retry-After"] == "3"  # seconds old by the database, not 40 minutes
    created = datetime.fromisoformat(job["createdAt"])
    metadata = PdfReader(BytesIO(pdf)).metadata
    assert metadata is not None
    assert metadata.creation_date is not None
    assert abs(metadata.creation_date - created) < timedelta(seconds=60)


@postgres_only
async def test_a_session_frozen_inside_a_transaction_cannot_hold_its_locks_for_ever(
    container: Container,
) -> None:
    """A worker frozen mid-transaction would keep its claimed rows locked, out of reaping's
    reach (it skips locked rows): PostgreSQL ends such a session and its locks with it."""
    async with container.engine.connect() as connection:
        shown = (
            await connection.execute(text("SHOW idle_in_transaction_session_timeout"))
        ).scalar()
    assert shown == "1min"
