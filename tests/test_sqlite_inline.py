"""SQLite statements run on the event loop, and wait for another process's lock in a thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry

from sqr_reports.db.engine import Engines, create_engines


@pytest.fixture
async def engines(tmp_path: Path) -> AsyncIterator[Engines]:
    built = create_engines(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}")
    for engine in (built.writer, built.reader):

        @event.listens_for(engine.sync_engine, "connect")
        def _thread_id(dbapi_connection: DBAPIConnection, _: ConnectionPoolEntry) -> None:
            dbapi_connection.create_function("thread_id", 0, threading.get_ident)

    yield built
    await built.dispose()


async def marks_locked_by_another(engines: Engines, tmp_path: Path) -> sqlite3.Connection:
    """A table `marks`, and another connection (as another process would) holding the write lock
    until it commits."""
    async with engines.writer.begin() as connection:
        await connection.execute(text("CREATE TABLE marks (n INTEGER)"))
    holder = sqlite3.connect(tmp_path / "inline.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


async def test_statements_run_on_the_event_loop_thread(engines: Engines) -> None:
    async with engines.writer.begin() as connection:
        written_on = (await connection.execute(text("SELECT thread_id()"))).scalar_one()
    async with engines.reader.connect() as connection:
        read_on = (await connection.execute(text("SELECT thread_id()"))).scalar_one()

    assert written_on == read_on == threading.get_ident()


async def test_a_write_waits_for_another_process_lock_in_a_thread(
    engines: Engines, tmp_path: Path
) -> None:
    holder = await marks_locked_by_another(engines, tmp_path)
    asyncio.get_running_loop().call_later(0.3, holder.commit)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = asyncio.get_running_loop().time()
    async with engines.writer.begin() as connection:
        await connection.execute(text("INSERT INTO marks VALUES (1)"))
    waited = asyncio.get_running_loop().time() - started
    ticker.cancel()
    holder.close()

    assert waited >= 0.25  # it did wait for the lock...
    assert ticks >= 15  # ...and the event loop went on meanwhile
    async with engines.reader.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM marks"))).scalar_one() == 1


async def test_a_cancelled_wait_leaves_the_connection_alone_until_its_step_ends(
    engines: Engines, tmp_path: Path
) -> None:
    holder = await marks_locked_by_another(engines, tmp_path)

    async def write() -> None:
        async with engines.writer.begin() as connection:
            await connection.execute(text("INSERT INTO marks VALUES (1)"))

    writing = asyncio.create_task(write())
    await asyncio.sleep(0.1)  # waiting for the lock, in a thread
    writing.cancel()
    asyncio.get_running_loop().call_later(0.2, holder.commit)
    with pytest.raises(asyncio.CancelledError):
        await writing
    holder.close()

    assert writing.cancelled()
    async with engines.writer.begin() as connection:  # the pool's connection still works
        await connection.execute(text("INSERT INTO marks VALUES (2)"))
        marks = (await connection.execute(text("SELECT n FROM marks"))).scalars().all()
    assert marks == [2]  # the cancelled write was rolled back, not left half-done
