"""Engines for SQLite (embedded) and PostgreSQL (scale-out)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


@dataclass(frozen=True, slots=True)
class Engines:
    """`writer` for transactions that write, `reader` for those that only read.

    On PostgreSQL both are the same engine. On SQLite they are two pools over one file:
    - the writer has ONE connection and begins `IMMEDIATE`. SQLite admits one writer at a
      time anyway; queueing writers on the pool (an asyncio queue, FIFO, no sleeping) instead of
      in SQLite's busy handler (which sleeps up to 100 ms between retries) kept throughput
      from collapsing under bursts. Taking the write lock up front is also what makes the job
      claim and the rate limit exact, and avoids deadlocks on lock upgrades.
    - the reader begins `DEFERRED`: in WAL mode readers never block the writer.
    """

    writer: AsyncEngine
    reader: AsyncEngine

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


def create_engines(url: str, *, echo: bool = False) -> Engines:
    if not is_sqlite(url):
        engine = create_async_engine(
            url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10
        )
        return Engines(writer=engine, reader=engine)
    writer = _sqlite_engine(url, "IMMEDIATE", echo=echo, pool_size=1, max_overflow=0)
    reader = _sqlite_engine(url, "DEFERRED", echo=echo, pool_size=5, max_overflow=10)
    return Engines(writer=writer, reader=reader)


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """One engine for one-off work (migrations, test set-up): the writer."""
    return create_engines(url, echo=echo).writer


def _sqlite_engine(url: str, begin: str, **options: Any) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": 30}, **options)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN (see the "begin" listener).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(f"BEGIN {begin}")

    return engine
