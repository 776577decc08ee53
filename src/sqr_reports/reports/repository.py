"""All SQL about report jobs. Every read on behalf of an API client takes its `org_id`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete as sa_delete
from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.reports.models import IdempotencyKey, ReportJob


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


async def page_for_org(
    session: AsyncSession,
    org_id: str,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
    status: str | None = None,
    user_id: str | None = None,
) -> list[ReportJob]:
    """Up to `limit` of the org's jobs, newest first (ties by id, descending), that come after
    the (created_at, id) `after` in that order: a backward walk of an index on (org_id,
    created_at), or on (org_id, status | user_id, created_at) (migration 0004 says why)."""
    query = select(ReportJob).where(ReportJob.org_id == org_id)
    if status is not None:
        query = query.where(ReportJob.status == status)
    if user_id is not None:
        query = query.where(ReportJob.user_id == user_id)
    if after is not None:
        query = query.where(tuple_(ReportJob.created_at, ReportJob.id) < after)
    query = query.order_by(ReportJob.created_at.desc(), ReportJob.id.desc()).limit(limit)
    return list((await session.scalars(query)).all())


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


async def get(session: AsyncSession, job_id: str) -> ReportJob | None:
    """Unscoped read, for the worker only (it acts for whichever org owns the job)."""
    return await session.get(ReportJob, job_id)
