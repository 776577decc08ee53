"""All SQL about report jobs. Every read on behalf of an API client takes its `org_id`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete as sa_delete
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.reports.models import IdempotencyKey, JobStatus, ReportJob


async def add(session: AsyncSession, *rows: ReportJob | IdempotencyKey) -> None:
    session.add_all(rows)
    await session.flush()


async def delete_idempotency_key(session: AsyncSession, row: IdempotencyKey) -> None:
    await session.delete(row)
    await session.flush()


async def purge_idempotency_keys(session: AsyncSession, older_than: datetime) -> None:
    await session.execute(sa_delete(IdempotencyKey).where(IdempotencyKey.created_at < older_than))


async def get_for_org(session: AsyncSession, org_id: str, job_id: str) -> ReportJob | None:
    result = await session.execute(
        select(ReportJob).where(ReportJob.id == job_id, ReportJob.org_id == org_id)
    )
    return result.scalar_one_or_none()


async def get_idempotency_key(
    session: AsyncSession, org_id: str, key: str
) -> IdempotencyKey | None:
    return await session.get(IdempotencyKey, (org_id, key))


async def creations_since(
    session: AsyncSession, org_id: str, since: datetime
) -> tuple[int, datetime | None]:
    """How many jobs the org created after `since`, and when the oldest of them was created."""
    result = await session.execute(
        select(func.count(), func.min(ReportJob.created_at)).where(
            ReportJob.org_id == org_id, ReportJob.created_at > since
        )
    )
    count, oldest = result.one()
    return int(count), oldest


# -- the queue ----------------------------------------------------------------------------------

#: PostgreSQL channel that wakes idle workers in every process when a job becomes due.
JOBS_CHANNEL = "sqr_reports_jobs"


async def announce_due_job(session: AsyncSession) -> None:
    """Wake idle workers: in this process after commit, and on PostgreSQL in every process.

    `pg_notify` is transactional: listeners hear it only if and when this transaction commits.
    """
    session.info["jobs_enqueued"] = True
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_notify(JOBS_CHANNEL, "")))


async def claim_next(
    session: AsyncSession, *, now: datetime, owner: str, lease_until: datetime
) -> ReportJob | None:
    """Take the next due job. SKIP LOCKED on PostgreSQL; BEGIN IMMEDIATE serialises SQLite."""
    result = await session.execute(
        select(ReportJob)
        .where(ReportJob.status == JobStatus.PENDING, ReportJob.run_after <= now)
        .order_by(ReportJob.run_after, ReportJob.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    job = result.scalar_one_or_none()
    if job is None:
        return None
    job.status = JobStatus.PROCESSING
    job.attempts += 1
    job.lease_owner = owner
    job.lease_expires_at = lease_until
    job.started_at = job.started_at or now
    job.updated_at = now
    await session.flush()
    return job


async def expired_leases(session: AsyncSession, *, now: datetime) -> Sequence[ReportJob]:
    result = await session.execute(
        select(ReportJob)
        .where(ReportJob.status == JobStatus.PROCESSING, ReportJob.lease_expires_at < now)
        .limit(100)
        .with_for_update(skip_locked=True)
    )
    return result.scalars().all()


async def update_claimed(
    session: AsyncSession, job_id: str, attempt: int, owner: str, **values: Any
) -> bool:
    """Update a job only if this claim still holds it (the fencing check)."""
    result = await session.execute(
        update(ReportJob)
        .where(
            ReportJob.id == job_id,
            ReportJob.attempts == attempt,
            ReportJob.lease_owner == owner,
            ReportJob.status == JobStatus.PROCESSING,
        )
        .values(**values)
        .returning(ReportJob.id)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none() is not None


async def get(session: AsyncSession, job_id: str) -> ReportJob | None:
    """Unscoped read, for the worker only (it acts for whichever org owns the job)."""
    return await session.get(ReportJob, job_id)
