"""The status poll, the API's hot path: one statement for the caller's re-check, the job and the
clock, and the same answer as before it was made fast."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event, make_url, text

from sqr_reports.app import create_app
from sqr_reports.auth.service import revoke_client
from sqr_reports.container import Container
from sqr_reports.db.clock import DatabaseClock
from tests.conftest import POSTGRES_URL
from tests.support import Api, ClientCredentials, assert_envelope

JOBS = "/v1/document/api"


@contextmanager
def statements(container: Container) -> Iterator[list[str]]:
    """Every statement sent to the database meanwhile, BEGINs and pings included: what each
    engine runs through SQLAlchemy, and on PostgreSQL what asyncpg runs on the `autocommit`
    pool's connections besides (`db.reads` runs the status poll on the driver itself)."""
    engines = container.engines
    watched = [engines.writer.sync_engine, engines.autocommit.sync_engine]
    if engines.reader is not engines.writer:
        watched.append(engines.reader.sync_engine)
    if engines.inline is not None:
        watched.append(engines.inline)
    seen: list[str] = []
    drivers: list[Any] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    def logged(query: Any) -> None:
        seen.append(query.query)

    def log_driver(dbapi_connection: Any, *_args: Any) -> None:
        driver = dbapi_connection.driver_connection
        if driver not in drivers:
            driver.add_query_logger(logged)
            drivers.append(driver)

    for engine in watched:
        event.listen(engine, "before_cursor_execute", record)
    by_driver = engines.autocommit.dialect.driver == "asyncpg"
    if by_driver:
        event.listen(engines.autocommit.sync_engine, "checkout", log_driver)
    try:
        yield seen
    finally:
        for engine in watched:
            event.remove(engine, "before_cursor_execute", record)
        if by_driver:
            event.remove(engines.autocommit.sync_engine, "checkout", log_driver)
        for driver in drivers:
            driver.remove_query_logger(logged)


@pytest.mark.parametrize(
    "which", ["pending job", "another org's job", "unknown id", "malformed id"]
)
async def test_a_status_poll_is_one_statement(
    api: Api, container: Container, token_a: str, token_b: str, alice: str, which: str
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    token, polled = {
        "pending job": (token_a, job_id),
        "another org's job": (token_b, job_id),
        "unknown id": (token_a, "3fa85f64-5717-4562-b3fc-2c963f66afa6"),
        "malformed id": (token_a, "not-a-job"),
    }[which]

    with statements(container) as seen:
        response = await api.status(token, polled)
        await asyncio.sleep(0)  # asyncpg reports what it ran on the next turn of the loop

    assert response.status_code == (200 if which == "pending job" else 404)
    assert len(seen) == 1, seen
    assert "api_clients" in seen[0]
    assert "orgs" in seen[0]
    assert "report_jobs" in seen[0]


@pytest.mark.skipif(not POSTGRES_URL, reason="needs PostgreSQL (SQR_REPORTS_TEST_DATABASE_URL)")
async def test_on_postgresql_the_database_clock_is_read_in_the_same_statement(
    api: Api, container: Container, token_a: str, alice: str
) -> None:
    """The polling advice compares the job's age by the database's clock (ADR 0011)."""
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    replica = dataclasses.replace(container, db_clock=DatabaseClock())
    transport = httpx.ASGITransport(app=create_app(container=replica, embedded=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        with statements(container) as seen:
            response = await Api(http).status(token_a, job_id)
            await asyncio.sleep(0)

    assert response.status_code == 200
    assert 3 <= int(response.headers["Retry-After"]) <= 5
    assert len(seen) == 1, seen
    assert "clock_timestamp()" in seen[0]


async def test_the_body_is_byte_for_byte_what_fastapi_serialises(
    api: Api, http: httpx.AsyncClient, token_a: str, alice: str
) -> None:
    """The route renders its own JSON; the listing still goes through FastAPI's serialiser."""
    job_id = (await api.create(token_a, alice)).json()["jobId"]

    status = await api.status(token_a, job_id)
    listing = await http.get(JOBS, headers={"Authorization": f"Bearer {token_a}"})

    assert status.headers["content-type"] == listing.headers["content-type"]
    assert status.headers["Cache-Control"] == "no-store"
    assert b'{"items":[' + status.content + b'],"nextCursor":null}' == listing.content


async def test_the_caller_is_judged_before_the_job_is_looked_at(
    api: Api, container: Container, org_a: ClientCredentials, token_a: str, alice: str
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    async with container.sessions.begin() as session:
        await revoke_client(session, container.db_clock, org_a.client_id)

    for polled in (job_id, "3fa85f64-5717-4562-b3fc-2c963f66afa6", "not-a-job"):
        assert_envelope(await api.status(token_a, polled), 401, "UNAUTHORIZED")


@pytest.mark.skipif(not POSTGRES_URL, reason="needs PostgreSQL (SQR_REPORTS_TEST_DATABASE_URL)")
async def test_a_connection_that_died_under_the_poll_is_replaced(
    api: Api, container: Container, token_a: str, alice: str
) -> None:
    """The poll runs on asyncpg itself, so it must tell the pool when a connection is dead."""
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    assert (await api.status(token_a, job_id)).status_code == 200  # a pooled connection now
    async with container.engines.writer.connect() as connection:
        await connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )

    first = await api.status(token_a, job_id)
    then = await api.status(token_a, job_id)

    if first.status_code != 200:  # unless the pool saw it first (a ping after idling)
        assert_envelope(first, 503, "SERVICE_UNAVAILABLE")
        assert first.headers["Retry-After"] == "5"
    assert then.status_code == 200


@pytest.mark.skipif(bool(POSTGRES_URL), reason="SQLite's read on the event loop")
async def test_a_read_sqlite_makes_wait_goes_through_a_thread_instead(
    api: Api, container: Container, token_a: str, alice: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The event loop does not wait on SQLite's locks: the read is handed to aiosqlite's thread,
    which waits for the lock to go (here another connection's, in exclusive locking mode)."""
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    await container.engines.dispose()  # no connection of ours may hold the file open meanwhile
    holder = sqlite3.connect(make_url(container.settings.resolved_database_url()).database or "")
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("UPDATE orgs SET name = name")
    holder.commit()  # holds the database's lock until it leaves exclusive locking mode

    def release() -> None:
        holder.execute("PRAGMA locking_mode=NORMAL")
        holder.execute("SELECT 1").fetchall()
        holder.close()

    asyncio.get_running_loop().call_later(1, release)  # long after the read on the loop gave up
    with caplog.at_level(logging.WARNING, logger="sqr_reports.db.reads"):
        response = await api.status(token_a, job_id)

    assert response.status_code == 200
    assert "reading through a thread" in caplog.text
