"""The database's clock: every time written to the database, or compared with one read from it.

The rule (ADR 0011): rows, leases, backoffs, the rate-limit window, the polling advice and the
report's date are all compared across processes and machines, so on PostgreSQL they come from
the database's clock and a replica whose own clock is off cannot expire a live lease early, delay
a new job or misdate a report. SQLite is one machine, so the process clock is the database's
clock there. The process clock (`sqr_reports.clock`) is only for tokens and download URLs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.clock import Clock


class SessionClock(Protocol):
    async def now(self, session: AsyncSession) -> datetime: ...


class ProcessClock:
    """The process's clock (SQLite, and tests that move time)."""

    def __init__(self, clock: Clock):
        self._clock = clock

    async def now(self, session: AsyncSession) -> datetime:
        return self._clock.now()


class DatabaseClock:
    """PostgreSQL's `clock_timestamp()`: the same clock for every replica and worker."""

    async def now(self, session: AsyncSession) -> datetime:
        value = (await session.execute(text("SELECT clock_timestamp()"))).scalar_one()
        assert isinstance(value, datetime)
        return value.astimezone(UTC)
