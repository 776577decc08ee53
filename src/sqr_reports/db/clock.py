"""The clock that queue timestamps are written and compared with.

Leases, backoffs and the rate-limit window are compared across processes and machines. On
PostgreSQL they are taken from the database's clock, so a worker or API replica whose own clock is
off cannot expire a live lease early or delay a new job; SQLite is one machine, so the process
clock is the database's clock there.
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
