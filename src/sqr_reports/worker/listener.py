"""PostgreSQL LISTEN: a job committed by any API process wakes idle workers in every process.

The poll in the worker loop stays as the safety net, so a notification lost while this
connection reconnects delays a job by one poll interval at most; nothing is ever lost.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from sqr_reports.reports.repository import JOBS_CHANNEL
from sqr_reports.worker.wakeup import Wakeup

log = logging.getLogger(__name__)
PROBE_SECONDS = 30.0


class JobListener:
    def __init__(self, database_url: str, wakeup: Wakeup, *, retry_max_seconds: float = 30.0):
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._wakeup = wakeup
        self._retry_max = retry_max_seconds
        self.connected = asyncio.Event()

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with backoff whenever the connection drops."""
        delay = 0.5
        while True:
            try:
                connection = await asyncpg.connect(self._dsn, timeout=10)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning(
                    "job listener cannot connect (%s); retrying in %.1f s", type(exc), delay
                )
                await asyncio.sleep(delay)
                delay = min(self._retry_max, delay * 2)
                continue
            delay = 0.5
            try:
                await self._listen(connection)
            finally:
                self.connected.clear()
                await connection.close(timeout=5)

    async def _listen(self, connection: Any) -> None:
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        await connection.add_listener(JOBS_CHANNEL, self._on_notify)
        self._wakeup.notify()  # catch up on anything committed while we were not listening
        self.connected.set()
        while not lost.is_set():
            # A silently dead network closes nothing: probe the connection now and then.
            try:
                await asyncio.wait_for(lost.wait(), PROBE_SECONDS)
            except TimeoutError:
                try:
                    await connection.fetchval("SELECT 1", timeout=10)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    break
        log.warning("job listener lost its connection; reconnecting")

    def _on_notify(self, *_args: object) -> None:
        self._wakeup.notify()
