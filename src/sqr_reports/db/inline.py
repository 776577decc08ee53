"""SQLite statements run on the event loop itself, and in a thread only when SQLite makes them wait.

aiosqlite runs every step of every statement (cursor, execute, fetch, close, commit) in a
thread of its own and hands the result back to the event loop: four or more hand-offs per
statement, each a wake-up of the other thread and a trip through the GIL. A statement by key
takes SQLite some tens of microseconds; its hand-offs cost ten times that in CPU, and more in
waiting. `InlineConnection` is aiosqlite's connection without the thread: each step runs where
it is awaited. SQLAlchemy's aiosqlite dialect drives it unchanged (`create_async_engine(...,
async_creator=...)`).

The event loop must never wait on SQLite's locks: the connection's busy timeout is zero, so a
step that would wait (another process holds the write lock; the rare moments a WAL reader must
wait) fails at once with SQLITE_BUSY, and is then run again in a thread with the patient busy
timeout. A step that failed busy changed nothing, so running it again is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from typing import Any

import aiosqlite

#: How long a step that SQLite makes wait may wait, in a thread, for the lock.
PATIENT_BUSY_TIMEOUT_MS = 30_000


class _Immediately:
    """Stands in for aiosqlite's queue to its thread: runs each function as it is queued."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the awaiting side, as aiosqlite does
            if future is not None and not future.done():
                future.set_exception(exc)
        else:
            if future is not None and not future.done():
                future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose steps run on the calling thread (see the module)."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _Immediately()  # type: ignore[assignment]

    def __await__(self) -> Any:
        return self._open().__await__()

    async def _open(self) -> InlineConnection:
        self._connection = self._connector()
        self._connection.execute("PRAGMA busy_timeout = 0")
        return self

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                raise
        waiting = asyncio.ensure_future(asyncio.to_thread(self._patiently, fn, args, kwargs))
        try:
            return await asyncio.shield(waiting)
        except asyncio.CancelledError:
            # A thread cannot be stopped, and closing the connection under it crashes the
            # process: the connection stays unused until the step ends (at most the patient
            # busy timeout), however often the caller is cancelled meanwhile.
            while not waiting.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait([waiting])
            raise

    def _patiently(self, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        connection = self._conn
        connection.execute(f"PRAGMA busy_timeout = {PATIENT_BUSY_TIMEOUT_MS}")
        try:
            return fn(*args, **kwargs)
        finally:
            connection.execute("PRAGMA busy_timeout = 0")


def connector(path: str) -> Callable[[], InlineConnection]:
    """An `async_creator` for `create_async_engine`: inline connections to the file `path`."""

    def connect() -> InlineConnection:
        # check_same_thread=False: a step SQLite made wait runs again in a thread.
        return InlineConnection(
            lambda: sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        )

    return connect
