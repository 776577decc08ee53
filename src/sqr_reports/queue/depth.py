"""What a queue holds now, for monitoring: read from its table at scrape time, so it is exact
whichever process, replica or machine did the work.

Three small queries per kind, each on the indexes every queue table has ((status, run_after),
(status, lease_expires_at)): terminal rows are never counted, so the cost does not grow with
history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.queue.table import Queued, QueueState


@dataclass(frozen=True, slots=True)
class Depth:
    #: Rows waiting, due or backing off before a retry.
    pending: int
    #: Rows held by a worker under a lease.
    processing: int
    #: How long the row that has been due longest has waited since it became due (0: none due).
    oldest_due_seconds: float
    #: Rows whose lease expired and that no worker has reaped yet: no live worker reaps them.
    expired_leases: int


async def measure(session: AsyncSession, table: type[Queued], now: datetime) -> Depth:
    counted = await session.execute(
        select(table.status, func.count())
        .where(table.status.in_([QueueState.PENDING, QueueState.PROCESSING]))
        .group_by(table.status)
    )
    by_status = {str(status): int(count) for status, count in counted.all()}
    oldest_due = await session.scalar(
        select(func.min(table.run_after)).where(
            table.status == QueueState.PENDING, table.run_after <= now
        )
    )
    expired = await session.scalar(
        select(func.count())
        .select_from(table)
        .where(table.status == QueueState.PROCESSING, table.lease_expires_at < now)
    )
    return Depth(
        pending=by_status.get(QueueState.PENDING, 0),
        processing=by_status.get(QueueState.PROCESSING, 0),
        oldest_due_seconds=(now - oldest_due).total_seconds() if oldest_due else 0.0,
        expired_leases=int(expired or 0),
    )
