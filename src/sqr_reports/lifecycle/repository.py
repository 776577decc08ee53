"""All SQL of the lifecycle: report tombstones and what they forget, the retention sweep's
reads, each org's retention. A read for an org's client takes its `org_id`; the sweep (the
workers) and an erasure (an operator) act for every org, and say so."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.orgs.models import Org
from sqr_reports.reports.models import TERMINAL, IdempotencyKey, ReportJob

#: What a job's tombstone keeps of its personal fields: no user id (the column is not null,
#: and the previous release reads it as a string), no message (free text), no storage key.
FORGOTTEN = {"user_id": "", "error_message": None, "storage_key": None}


async def lock_job(session: AsyncSession, org_id: str, job_id: str) -> ReportJob | None:
    """The org's job, locked until the transaction ends (a deletion)."""
    result = await session.execute(
        select(ReportJob)
        .where(ReportJob.id == job_id, ReportJob.org_id == org_id)
        .with_for_update()
    )
    return result.scalar_one_or_none()


async def lock_live_jobs_of_user(
    session: AsyncSession, user_id: str, org_id: str | None
) -> Sequence[ReportJob]:
    """A user's jobs that are not tombstones yet, in one org or (an erasure) in every org,
    locked: each org's part is a walk of ix_report_jobs_org_user."""
    orgs = select(Org.id).scalar_subquery() if org_id is None else None
    query = select(ReportJob).where(ReportJob.user_id == user_id, ReportJob.deleted_at.is_(None))
    query = query.where(
        ReportJob.org_id.in_(orgs) if orgs is not None else ReportJob.org_id == org_id
    )
    result = await session.execute(query.order_by(ReportJob.id).with_for_update())
    return result.scalars().all()


async def lock_due(session: AsyncSession, now: datetime, limit: int) -> Sequence[ReportJob]:
    """Up to `limit` live jobs (every org's) whose retention ended, oldest expiry first, from
    ix_report_jobs_expiry; rows another sweep holds are skipped, so sweeps share the work."""
    result = await session.execute(
        select(ReportJob)
        .where(ReportJob.deleted_at.is_(None), ReportJob.expires_at <= now)
        .order_by(ReportJob.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return result.scalars().all()


async def lock_ended_without_expiry(
    session: AsyncSession, limit: int
) -> Sequence[tuple[str, datetime, int | None]]:
    """Up to `limit` ended live jobs (every org's) with no expiry yet (ended by the previous
    release, or before expiries existed): id, when it ended, its org's retention."""
    ended = func.coalesce(ReportJob.completed_at, ReportJob.updated_at)
    result = await session.execute(
        select(ReportJob.id, ended, Org.retention_days)
        .join(Org, Org.id == ReportJob.org_id)
        .where(
            ReportJob.deleted_at.is_(None),
            ReportJob.expires_at.is_(None),
            ReportJob.status.in_(TERMINAL),
        )
        .limit(limit)
        .with_for_update(of=ReportJob, skip_locked=True)
    )
    return result.all()


async def ended_live_jobs_of_org(
    session: AsyncSession, org_id: str
) -> Sequence[tuple[str, datetime]]:
    """The org's ended jobs that are not tombstones: id and when each ended (rescheduling)."""
    ended = func.coalesce(ReportJob.completed_at, ReportJob.updated_at)
    result = await session.execute(
        select(ReportJob.id, ended).where(
            ReportJob.org_id == org_id,
            ReportJob.deleted_at.is_(None),
            ReportJob.status.in_(TERMINAL),
        )
    )
    return result.all()


async def set_expiries(session: AsyncSession, expiries: Sequence[tuple[str, datetime]]) -> None:
    """Each job's new expiry, in one statement run for all of them."""
    if not expiries:
        return
    rows = [{"id": job_id, "expires_at": expiry} for job_id, expiry in expiries]
    await session.execute(update(ReportJob), rows)  # an UPDATE by primary key, run for each


async def org_retention_of_job(session: AsyncSession, job_id: str) -> int | None:
    """The retention period of the org that owns `job_id` (None: the deployment's default)."""
    result = await session.execute(
        select(Org.retention_days)
        .join(ReportJob, ReportJob.org_id == Org.id)
        .where(ReportJob.id == job_id)
    )
    return result.scalar_one_or_none()


async def tombstone(
    session: AsyncSession, job_ids: Sequence[str], *, deletion: str, now: datetime
) -> Sequence[str]:
    """Forget the jobs' personal fields and mark them deleted; the ids it changed (a job
    already a tombstone is left as it was, so two deletions at once count once)."""
    if not job_ids:
        return []
    result = await session.execute(
        update(ReportJob)
        .where(ReportJob.id.in_(job_ids), ReportJob.deleted_at.is_(None))
        .values(**FORGOTTEN, deleted_at=now, deletion=deletion, updated_at=now)
        .returning(ReportJob.id)
        .execution_options(synchronize_session=False)
    )
    return result.scalars().all()


async def forget_idempotency_keys(session: AsyncSession, job_ids: Sequence[str]) -> None:
    """Keys that led to the jobs: each remembers a hash of the request, and so of the user id."""
    if job_ids:
        await session.execute(delete(IdempotencyKey).where(IdempotencyKey.job_id.in_(job_ids)))


async def job_for_purge(session: AsyncSession, job_id: str) -> tuple[str, int] | None:
    """The job's org and how many attempts it had (each stored under its own key): what a
    purge deletes. Unscoped: the worker acts for whichever org owns the job."""
    row = (
        await session.execute(
            select(ReportJob.org_id, ReportJob.attempts).where(ReportJob.id == job_id)
        )
    ).one_or_none()
    return (row[0], row[1]) if row is not None else None


async def set_org_retention(session: AsyncSession, org_id: str, days: int | None) -> int | None:
    """Lock the org, set its retention, and return the one it had; raises LookupError if the
    org does not exist."""
    org = (
        await session.execute(select(Org).where(Org.id == org_id).with_for_update())
    ).scalar_one_or_none()
    if org is None:
        raise LookupError(org_id)
    previous = org.retention_days
    org.retention_days = days
    await session.flush()
    return previous
