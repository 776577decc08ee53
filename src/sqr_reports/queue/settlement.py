"""Settlements: a row that reaches its final state wakes whoever waits for it, at once.

A request held by `Prefer: wait` waits for one job to settle (COMPLETE or FAILED). The
transaction that settles it calls `announce`; once it commits, this process's `Settlements`
hears of it (`notify_on_commit`), and on PostgreSQL so does every process that listens on
`CHANNEL` (`NotifyListener`), whichever replica the waiting request reached. A waiter never
trusts a notification: it only re-reads, so a lost or spurious one costs a read or a delay,
never a wrong answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from sqr_reports.queue.wakeup import on_commit

#: The PostgreSQL channel on which a settling transaction names its row (the payload).
CHANNEL = "sqr_reports_settled"
_SETTLED = "sqr_reports.queue.settled"


class Settlements:
    """Who in this process waits for which row to settle."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = {}

    @contextlib.contextmanager
    def watch(self, row_id: str) -> Iterator[asyncio.Event]:
        """An event set when `row_id` may have settled; watch before reading, so a settlement
        between the read and the wait is not missed."""
        settled = asyncio.Event()
        self._waiting.setdefault(row_id, set()).add(settled)
        try:
            yield settled
        finally:
            waiters = self._waiting[row_id]
            waiters.discard(settled)
            if not waiters:
                del self._waiting[row_id]

    def settled(self, row_id: str | None) -> None:
        """`row_id` may have settled; None: any row may have (a listener just reconnected)."""
        if row_id is None:
            for waiters in self._waiting.values():
                _set_all(waiters)
        else:
            _set_all(self._waiting.get(row_id, ()))

    @property
    def waiting(self) -> int:
        """How many waits are open in this process."""
        return sum(len(waiters) for waiters in self._waiting.values())


def _set_all(waiters: Iterable[asyncio.Event]) -> None:
    for settled in waiters:
        settled.set()


async def announce(session: AsyncSession, row_id: str) -> None:
    """Tell waiters, here and on PostgreSQL everywhere, that `row_id` settled, once (and only
    if) this transaction commits: `pg_notify` is transactional, like the wake-ups."""
    session.info.setdefault(_SETTLED, set()).add(row_id)
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_notify(CHANNEL, row_id)))


def notify_on_commit(session_class: type[Session], settlements: Settlements) -> None:
    """Tell `settlements` of the rows any commit of `session_class` settled."""

    def tell(row_ids: set[str]) -> None:
        for row_id in row_ids:
            settlements.settled(row_id)

    on_commit(session_class, _SETTLED, tell)
