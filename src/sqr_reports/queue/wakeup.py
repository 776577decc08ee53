"""Wake-ups: work made due wakes idle workers at once instead of on their next poll.

One signal per process (`Wakeup`) is what a worker waits on. Two sources feed it: a commit in
this process that made work due (`announce` marks the transaction; `notify_on_commit` fires
after it commits), and on PostgreSQL a NOTIFY from any process, heard by `NotifyListener`. The
worker's poll stays as the safety net, so a lost wake-up delays work by one poll at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
#: The PostgreSQL channel that announces due work of any kind.
CHANNEL = "sqr_reports_jobs"
_ANNOUNCED = "sqr_reports.queue.announced"
PROBE_SECONDS = 30.0


class Wakeup:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    @property
    def pending(self) -> bool:
        """Whether a notification awaits the next `wait` (which will then return at once)."""
        return self._event.is_set()

    async def wait(self, seconds: float) -> None:
        """Return when notified, or after `seconds` (the safety-net poll)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)
        self._event.clear()


async def announce(session: AsyncSession) -> None:
    """Wake idle workers once this transaction commits: here, and on PostgreSQL everywhere.

    `pg_notify` is transactional: listeners hear it only if and when the transaction commits.
    """
    session.info[_ANNOUNCED] = True
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_notify(CHANNEL, "")))


def notify_on_commit(session_class: type[Session], wakeup: Wakeup) -> None:
    """Notify `wakeup` after any commit of `session_class` that announced due work."""
    on_commit(session_class, _ANNOUNCED, lambda _announced: wakeup.notify())


def on_commit(session_class: type[Session], key: str, fire: Callable[[Any], None]) -> None:
    """After a commit of `session_class` whose `session.info` holds `key`, call `fire` with
    what it holds; a rollback forgets it. How a transaction says "tell them once I commit"."""

    def after_commit(session: Session) -> None:
        if key in session.info:
            fire(session.info.pop(key))

    def after_rollback(session: Session) -> None:
        session.info.pop(key, None)

    event.listen(session_class, "after_commit", after_commit)
    event.listen(session_class, "after_soft_rollback", lambda s, _t: after_rollback(s))


#: What a listener calls with a notification's payload, or with None when it has just
#: (re)connected and anything may have been announced while it was not listening.
OnNotify = Callable[[str | None], None]


class NotifyListener:
    """PostgreSQL LISTEN on one channel, calling `on_notify`; reconnects with backoff."""

    def __init__(
        self,
        database_url: str,
        on_notify: OnNotify,
        *,
        channel: str = CHANNEL,
        retry_max_seconds: float = 30.0,
    ):
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._on_notify = on_notify
        self._channel = channel
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
                    "listener on %s cannot connect (%s); retrying in %.1f s",
                    self._channel,
                    type(exc),
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(self._retry_max, delay * 2)
                continue
            delay = 0.5
            try:
                await self._listen(connection)
            finally:
                self.connected.clear()
                await _close(connection)

    async def _listen(self, connection: Any) -> None:
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        await connection.add_listener(self._channel, self._heard)
        self._on_notify(None)  # catch up on anything committed while we were not listening
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
        log.warning("listener on %s lost its connection; reconnecting", self._channel)

    def _heard(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        self._on_notify(payload)


async def _close(connection: Any) -> None:
    """Close politely (the server sees a goodbye, not a reset), but if that is cut short, by
    a second cancellation or a dead peer, drop the socket at once: a listener's connection
    must never be left for the garbage collector."""
    try:
        await connection.close(timeout=5)
    except Exception as error:  # the peer is gone: there is no one to say goodbye to
        log.debug("listener connection closed uncleanly (%s)", type(error).__name__)
        connection.terminate()
    except BaseException:
        connection.terminate()
        raise
