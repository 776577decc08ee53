"""The queue's port and its adapter on the database: every state change of a queue row.

Each operation is one transaction of its own (the edge). Writes by a worker are fenced: they
apply only while the row is still PROCESSING under the same owner and attempt number, so a
worker whose lease expired and was taken over can never overwrite the newer attempt's result.
Claims use `FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's `BEGIN IMMEDIATE` serialises them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sqr_reports.db.clock import SessionClock
from sqr_reports.queue import telemetry
from sqr_reports.queue.table import Queued, QueueState
from sqr_reports.queue.wakeup import announce
from sqr_reports.queue.work import Claim, Work, WorkFailed

#: Expired leases handled per reaping pass (the rest wait for the next pass).
REAP_BATCH = 100


class Queue(Protocol):
    """What the worker loop does with queue rows. `SqlQueue` is the real one; tests of the
    loop may use `queue.memory.MemoryQueue`."""

    async def claim(self, work: Work, owner: str) -> Claim | None: ...

    async def heartbeat(self, work: Work, claim: Claim) -> bool:
        """Extend the lease; False means the claim was lost and the work must be abandoned."""

    async def complete(self, work: Work, claim: Claim, result: Any) -> bool: ...

    async def fail(self, work: Work, claim: Claim, failure: WorkFailed) -> bool:
        """Back to the queue after a backoff if `failure` is transient and attempts remain,
        else the kind's failed status."""

    async def release(self, work: Work, claim: Claim) -> bool:
        """Give unfinished work back (graceful shutdown) without spending its attempt."""

    async def reap(self, work: Work) -> int:
        """Rows whose worker died: back to the queue, or failed once out of attempts."""

    async def housekeeping(self, work: Work) -> None: ...


async def enqueue(session: AsyncSession, *rows: Queued, now: datetime, max_attempts: int) -> None:
    """Add `rows` to their queue, due now, in the caller's transaction (which commits them):
    one flush and one wake-up however many there are."""
    for row in rows:
        row.status = QueueState.PENDING
        row.attempts = 0
        row.max_attempts = max_attempts
        row.run_after = now
        row.created_at = row.created_at or now
        row.updated_at = now
    session.add_all(rows)
    await session.flush()
    await announce(session)
    telemetry.created_on_commit(session, rows)


async def requeue(
    session: AsyncSession,
    table: type[Queued],
    row_id: str,
    *,
    failed_status: str,
    attempts: int,
    budget: int,
    now: datetime,
    **values: Any,
) -> bool:
    """Put a failed row back in its queue, due now, with `budget` attempts more (an operator's
    retry), in the caller's transaction. False if it is no longer failed at attempt `attempts`.

    Fenced like a worker's writes: `attempts` is the fencing token and only ever grows, so the
    budget grows instead of the count being reset, and of two retries at once only one applies.
    """
    result = await session.execute(
        update(table)
        .where(table.id == row_id, table.status == failed_status, table.attempts == attempts)
        .values(**_requeued(now, now), max_attempts=attempts + budget, **values)
        .returning(table.id)
        .execution_options(synchronize_session=False)
    )
    if result.scalar_one_or_none() is None:
        return False
    await announce(session)
    return True


async def cancel(
    session: AsyncSession,
    table: type[Queued],
    row_id: str,
    *,
    status: str,
    now: datetime,
    **values: Any,
) -> bool:
    """End a row that is still queued or leased (its work is no longer wanted), with `status`
    and `values`, in the caller's transaction. False if it had ended already.

    A worker holding its lease loses it: that worker's heartbeat, completion and failure are
    fenced (`_fenced`) and change nothing, and what it produced is discarded (`Work.discard`).
    """
    running = (QueueState.PENDING, QueueState.PROCESSING)
    result = await session.execute(
        update(table)
        .where(table.id == row_id, table.status.in_(running))
        .values(**_finished(status, now), **values)
        .returning(table.id)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none() is not None


class SqlQueue:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: SessionClock,
        read_sessions: async_sessionmaker[AsyncSession] | None = None,
    ):
        """`read_sessions`, when given, lets a claim look before it locks (see `claim`)."""
        self._sessions = sessions
        self._clock = clock
        self._read_sessions = read_sessions

    async def claim(self, work: Work, owner: str) -> Claim | None:
        """The oldest due row of `work`, leased to `owner`; None when nothing is due.

        With read sessions, a read first asks whether anything is due at all: on SQLite a claim
        takes the database's one write lock (BEGIN IMMEDIATE), which every POST then waits for,
        and most claim attempts (each wake-up tries every kind of work) find nothing.
        """
        if self._read_sessions is not None and not await self._any_due(work):
            return None
        table = work.table
        async with self._sessions.begin() as session:
            now = await self._clock.now(session)
            result = await session.execute(
                select(table)
                .where(table.status == QueueState.PENDING, table.run_after <= now)
                .order_by(table.run_after, table.created_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            row = result.scalar_one_or_none()
            if row is None:
                return None
            row.status = QueueState.PROCESSING
            row.attempts += 1
            row.lease_owner = owner
            row.lease_expires_at = now + timedelta(seconds=work.lease.seconds)
            row.updated_at = now
            work.on_claim(row, now)
            await session.flush()
            ids = telemetry.row_ids(work, row)
            return Claim(work.name, row.id, row.attempts, row.max_attempts, owner, now, ids)

    async def _any_due(self, work: Work) -> bool:
        assert self._read_sessions is not None
        table = work.table
        async with self._read_sessions() as session:
            now = await self._clock.now(session)
            due = await session.scalar(
                select(table.id)
                .where(table.status == QueueState.PENDING, table.run_after <= now)
                .limit(1)
            )
            return due is not None

    async def heartbeat(self, work: Work, claim: Claim) -> bool:
        async with self._sessions.begin() as session:
            now = await self._clock.now(session)
            lease_until = now + timedelta(seconds=work.lease.seconds)
            return await _fenced(session, work, claim, lease_expires_at=lease_until)

    async def complete(self, work: Work, claim: Claim, result: Any) -> bool:
        async with self._sessions.begin() as session:
            now = await self._clock.now(session)
            if not await _fenced(session, work, claim, **_finished(work.done_status, now)):
                return False
            await _set(session, work, claim.id, await work.on_done(session, claim, result, now))
            return True

    async def fail(self, work: Work, claim: Claim, failure: WorkFailed) -> bool:
        async with self._sessions.begin() as session:
            now = await self._clock.now(session)
            final = not failure.transient or claim.is_last_attempt
            values = (
                _finished(work.failed_status, now)
                if final
                else _requeued(now + timedelta(seconds=work.backoff_seconds(claim.attempt)), now)
            )
            if not await _fenced(session, work, claim, **values):
                return False
            await work.on_attempt_failed(session, claim, failure, now)
            if final:
                await _set(
                    session, work, claim.id, await work.on_failed(session, claim.id, failure, now)
                )
            return True

    async def release(self, work: Work, claim: Claim) -> bool:
        async with self._sessions.begin() as session:
            now = await self._clock.now(session)
            # `attempts` only ever grows (it is the fencing token), so the budget grows instead.
            released = await _fenced(
                session,
                work,
                claim,
                **_requeued(now, now),
                max_attempts=work.table.max_attempts + 1,
            )
            if released:
                await announce(session)
            return released

    async def reap(self, work: Work) -> int:
        table = work.table
        async with self._sessions.begin() as session:
            now = await self._clock.now(session)
            result = await session.execute(
                select(table)
                .where(table.status == QueueState.PROCESSING, table.lease_expires_at < now)
                .limit(REAP_BATCH)
                .with_for_update(skip_locked=True)
            )
            rows = result.scalars().all()
            reaped = [(telemetry.row_ids(work, row), row) for row in rows]
            for row in rows:
                if row.attempts >= row.max_attempts:
                    values = _finished(work.failed_status, now)
                    values |= await work.on_failed(session, row.id, work.abandoned, now)
                else:
                    values = _requeued(
                        now + timedelta(seconds=work.backoff_seconds(row.attempts)), now
                    )
                for name, value in values.items():
                    setattr(row, name, value)
            await session.flush()
        for ids, row in reaped:  # once committed
            final = row.attempts >= row.max_attempts
            telemetry.reaped(work.name, ids, row.attempts, work.abandoned if final else None)
        return len(reaped)

    async def housekeeping(self, work: Work) -> None:
        async with self._sessions.begin() as session:
            await work.housekeeping(session, await self._clock.now(session))


def _finished(status: str, now: datetime) -> dict[str, Any]:
    return {"status": status, "lease_owner": None, "lease_expires_at": None, "updated_at": now}


def _requeued(run_after: datetime, now: datetime) -> dict[str, Any]:
    return {
        "status": QueueState.PENDING,
        "run_after": run_after,
        "lease_owner": None,
        "lease_expires_at": None,
        "updated_at": now,
    }


async def _fenced(session: AsyncSession, work: Work, claim: Claim, **values: Any) -> bool:
    """Update the row only if this claim still holds it (the fencing check)."""
    table = work.table
    result = await session.execute(
        update(table)
        .where(
            table.id == claim.id,
            table.attempts == claim.attempt,
            table.lease_owner == claim.owner,
            table.status == QueueState.PROCESSING,
        )
        .values(**values)
        .returning(table.id)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none() is not None


async def _set(session: AsyncSession, work: Work, row_id: str, values: dict[str, Any]) -> None:
    """The kind's own columns, on a row this transaction already holds."""
    if values:
        await session.execute(
            update(work.table)
            .where(work.table.id == row_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
