"""Engines for SQLite (embedded) and PostgreSQL (scale-out)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, exc, make_url
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from sqr_reports.db import inline
from sqr_reports.keyfiles import make_private_files

#: A pooled connection used less than this long ago is not pinged before its next use: under
#: load a ping would double the round trips of a one-statement read. HikariCP's default, too.
PING_AFTER_IDLE_SECONDS = 0.5
#: How long a read on the event loop waits for a lock before it is handed to a thread instead
#: (in WAL mode a reader waits only in rare moments: recovery, another process's last close).
INLINE_BUSY_TIMEOUT_MS = 20
#: PostgreSQL ends a session left idle inside a transaction this long, releasing its locks. None
#: of ours pauses between statements for more than a moment; a process frozen mid-transaction
#: (SIGSTOP, a paused VM, a half-open network) would otherwise keep its claimed rows locked, and
#: reaping skips locked rows, so their jobs would wait for that process instead of the lease.
IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000


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
    Every statement of both runs on the event loop itself, and only a step that SQLite would
    make wait for a lock (another process's) waits in a thread (`db.inline`).
    """

    writer: AsyncEngine
    reader: AsyncEngine
    #: For reads that are one statement (a job-status poll with its caller's re-check): each
    #: statement is its own transaction, consistent on its own, so there is no BEGIN and no
    #: ROLLBACK, and on PostgreSQL no ping of a connection in steady use (`_ping_when_idle`):
    #: one round trip in all. Its own small pool: nothing but single statements may run on it.
    autocommit: AsyncEngine
    #: SQLite only: a synchronous engine for the poll's one-statement read (`db.reads`), on the
    #: event loop without SQLAlchemy's asyncio layer (a greenlet switch and an adapter per
    #: step): through aiosqlite's thread the same read cost a hundred times its 40 µs.
    inline: Engine | None = None

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()
        await self.autocommit.dispose()
        if self.inline is not None:
            self.inline.dispose()


def create_engines(url: str, *, echo: bool = False) -> Engines:
    if not is_sqlite(url):
        settings = {"idle_in_transaction_session_timeout": str(IDLE_IN_TRANSACTION_TIMEOUT_MS)}
        engine = create_async_engine(
            url,
            echo=echo,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=10,
            connect_args={"server_settings": settings},
        )
        autocommit = create_async_engine(
            url, echo=echo, pool_size=5, max_overflow=0, isolation_level="AUTOCOMMIT"
        )
        _ping_when_idle(autocommit.sync_engine, PING_AFTER_IDLE_SECONDS)
        return Engines(writer=engine, reader=engine, autocommit=autocommit)
    _private_database_file(url)
    writer = _sqlite_engine(url, "IMMEDIATE", echo=echo, pool_size=1, max_overflow=0)
    reader = _sqlite_engine(url, "DEFERRED", echo=echo, pool_size=5, max_overflow=10)
    # The driver never begins (isolation_level None, see _on_connect) and nothing here emits
    # BEGIN, so there is no transaction to roll back when a connection goes back to the pool.
    autocommit = _sqlite_engine(
        url, None, echo=echo, pool_size=5, max_overflow=0, skip_autocommit_rollback=True
    )
    return Engines(writer=writer, reader=reader, autocommit=autocommit, inline=_inline(url))


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """One engine for one-off work (migrations, test set-up): the writer."""
    return create_engines(url, echo=echo).writer


def _file_database(url: str) -> str | None:
    """The path of an SQLite database in a file; None for one in memory (or a `file:` URI)."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def _private_database_file(url: str) -> None:
    """Create the SQLite file 0600 before SQLite does (it would use 0644 less the umask), and
    narrow one an earlier release made: its -wal and -shm files take the same mode."""
    database = _file_database(url)
    if database is None:
        return
    path = Path(database)
    if path.parent.is_dir():  # otherwise SQLite's own error says what is wrong
        make_private_files(path, *(path.with_name(path.name + s) for s in ("-wal", "-shm")))


def _sqlite_engine(url: str, begin: str | None, **options: Any) -> AsyncEngine:
    database = _file_database(url)
    if database is not None:  # statements on the event loop, waits in a thread (`db.inline`)
        options["async_creator"] = inline.connector(database)
        busy_timeout_ms = 0
    else:  # in memory: aiosqlite's own connection, which SQLite's file locks cannot stall
        options["connect_args"] = {"timeout": 30}
        busy_timeout_ms = inline.PATIENT_BUSY_TIMEOUT_MS
    engine = create_async_engine(url, **options)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN (see the "begin" listener).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.close()

    if begin is not None:

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(connection: Any) -> None:
            connection.exec_driver_sql(f"BEGIN {begin}")

    return engine


def _inline(url: str) -> Engine | None:
    """A synchronous engine over the same SQLite file, for one-statement reads on the event
    loop (`db.reads`): one connection (a read on the loop never waits for another), read-only,
    in autocommit like the aiosqlite engines, with a short busy timeout. None for a database in
    memory, which another connection would not see."""
    if _file_database(url) is None:
        return None
    engine = create_sync_engine(
        make_url(url).set(drivername="sqlite"),
        connect_args={"timeout": INLINE_BUSY_TIMEOUT_MS / 1000},
        pool_size=1,
        max_overflow=0,
        skip_autocommit_rollback=True,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    return engine


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """`pool_pre_ping`, only for connections idle longer than `idle_seconds`.

    A connection that has just been returned is alive or has failed at most one statement ago;
    if the database has gone since, that statement fails, the request answers 503 (Retry-After)
    and SQLAlchemy invalidates the pool, so the next checkouts connect afresh. A dead connection
    raises `DisconnectionError` here, which the pool answers with a fresh connection.
    """

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(
        dbapi_connection: DBAPIConnection,
        record: ConnectionPoolEntry,
        _proxy: PoolProxiedConnection,
    ) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < idle_seconds:
            return  # new, or in steady use
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError(str(error)) from error
