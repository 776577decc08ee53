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

from sqlalchemy import DateTime, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from sqr_reports.clock import Clock

#: PostgreSQL's clock as a column: a query that selects it reads the time with its rows, in the
#: same round trip (see `SessionClock.local`).
DATABASE_NOW: ColumnElement[datetime] = func.clock_timestamp(type_=DateTime(timezone=True))


class SessionClock(Protocol):
    #: The process clock this clock reads, when it is not the database's (then reading it costs
    #: no statement); None for the database's clock, which a query on a hot path reads by
    #: selecting `DATABASE_NOW` along with its rows rather than spending a statement on `now`.
    local: Clock | None

    async def now(self, session: AsyncSession) -> datetime: ...


class ProcessClock:
    """The process's clock (SQLite, and tests that move time)."""

    def __init__(self, clock: Clock):
        self._clock = clock
        self.local: Clock | None = clock

    async def now(self, session: AsyncSession) -> datetime:
        return self._clock.now()


class DatabaseClock:
    """PostgreSQL's `clock_timestamp()`: the same clock for every replica and worker."""

    local: Clock | None = None

    async def now(self, session: AsyncSession) -> datetime:
        return database_time((await session.execute(select(DATABASE_NOW))).scalar_one())


def database_time(value: object) -> datetime:
    """A `DATABASE_NOW` read (a `timestamptz`: aware, in the session's time zone) in UTC."""
    assert isinstance(value, datetime)
    return value.astimezone(UTC)
