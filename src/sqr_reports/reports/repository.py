"""All SQL about report jobs. Every read on behalf of an API client takes its `org_id`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, select, tuple_
from sqlalchemy import delete as sa_delete
from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.auth import repository as grants
from sqr_reports.auth.repository import Grant
from sqr_reports.db.clock import DATABASE_NOW, database_time
from sqr_reports.db.reads import StatementReads
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
    """Unscoped read, for the worker (it acts for whichever org owns the job) and for a download
    through a signed URL (which names its job, and which the service signed)."""
    return await session.get(ReportJob, job_id)


async def page_for_operator(
    session: AsyncSession, *, org_id: str | None, status: str | None, limit: int
) -> Sequence[ReportJob]:
    """Newest first, across every org unless `org_id` is given: the admin CLI's view, the one
    unscoped listing (an operator is no org's client and answers for all of them)."""
    query = select(ReportJob).order_by(ReportJob.created_at.desc(), ReportJob.id.desc())
    if org_id is not None:
        query = query.where(ReportJob.org_id == org_id)
    if status is not None:
        query = query.where(ReportJob.status == status)
    return (await session.execute(query.limit(limit))).scalars().all()


@dataclass(frozen=True, slots=True)
class JobRead:
    """A job as its status shows it (`schemas.JobView`), read with SQLAlchemy Core."""

    id: str
    status: str
    user_id: str
    template_version: str | None
    size_bytes: int | None
    sha256: str | None
    page_count: int | None
    error_code: str | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    expires_at: datetime | None
    deleted_at: datetime | None


@dataclass(frozen=True, slots=True)
class StatusRead:
    """One statement's answer to a status poll: the caller's grant (None: no such client), the
    job if the caller's org has one of that id, and the database's clock if it was asked for."""

    grant: Grant | None
    job: JobRead | None
    database_now: datetime | None


_JOBS = ReportJob.__table__
_JOB_COLUMNS = [_JOBS.c[name] for name in JobRead.__dataclass_fields__]
#: Where the job's columns are in a row: after the grant's.
_JOB_SLICE = slice(
    len(grants.GRANT_QUERY.selected_columns),
    len(grants.GRANT_QUERY.selected_columns) + len(_JOB_COLUMNS),
)


def _status_query(with_clock: bool) -> Select[Any]:
    """The caller's grant, outer-joined to the job `job_id` of the org `org_id` (both bound
    parameters): the re-check and the read in one statement, one round trip (ADR 0004)."""
    job = and_(_JOBS.c.id == bindparam("job_id"), _JOBS.c.org_id == bindparam("org_id"))
    query = grants.GRANT_QUERY.add_columns(*_JOB_COLUMNS).outerjoin(_JOBS, job)
    return query.add_columns(DATABASE_NOW.label("database_now")) if with_clock else query


#: Built once: building a statement costs more than running a cached one.
_STATUS_QUERIES = {with_clock: _status_query(with_clock) for with_clock in (False, True)}


async def status_for_caller(
    reads: StatementReads,
    *,
    client_id: str,
    org_id: str,
    job_id: str | None,
    with_clock: bool,
) -> StatusRead:
    """The status poll's one statement. `job_id` None matches no job (a malformed id, which
    must still answer only after the caller's re-check); the job is scoped to `org_id`."""
    query = _STATUS_QUERIES[with_clock]
    params = {"client_id": client_id, "org_id": org_id, "job_id": job_id}
    row = await reads.one_or_none(query, params)
    if row is None:
        return StatusRead(grant=None, job=None, database_now=None)
    job = JobRead(*row[_JOB_SLICE]) if row.id is not None else None
    now = database_time(row.database_now) if with_clock else None
    return StatusRead(grant=grants.grant_of(row), job=job, database_now=now)
