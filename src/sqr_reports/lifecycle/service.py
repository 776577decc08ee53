"""What the lifecycle does (ADR 0021): an org deletes one report, an operator erases a user or
sets an org's retention, and the workers expire what is due.

Removing a report is one transaction: the job becomes a tombstone (status kept, personal
fields forgotten, `deleted_at` and `deletion` set), a job still queued or rendering is
cancelled (the worker's fenced completion then discards its PDF), and a purge of its PDFs is
queued. The PDFs go when a worker runs the purge, at once if the store answers, with retries
if not: a deletion is never lost, and never waits for the store.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.audit import service as audit
from sqr_reports.audit.models import AuditEvent
from sqr_reports.auth.service import Principal
from sqr_reports.db.clock import SessionClock
from sqr_reports.errors import NotFound
from sqr_reports.lifecycle import repository
from sqr_reports.lifecycle.models import ReportPurge
from sqr_reports.queue import settlement
from sqr_reports.queue.store import cancel, enqueue
from sqr_reports.reports.errors import JobErrorCode
from sqr_reports.reports.models import TERMINAL, Deletion, JobStatus, ReportJob
from sqr_reports.users.service import forget_user
from sqr_reports.webhooks.service import forget_jobs

#: Attempts of a purge: with its backoff (seconds at first, then hourly), about a day.
PURGE_MAX_ATTEMPTS = 40


@dataclass(frozen=True, slots=True)
class Retention:
    """The deployment's rules: how long reports are kept unless their org says otherwise,
    and how long after a rendering job is deleted its store is looked at again."""

    report_days: int
    #: A job deleted while a worker renders it may still store a PDF (which that worker then
    #: discards); its purge runs once the attempt can no longer be writing: its lease and
    #: render time, spent.
    in_flight_grace: timedelta = timedelta(0)

    def expiry(self, ended_at: datetime, org_days: int | None) -> datetime:
        return ended_at + timedelta(days=org_days or self.report_days)

    async def expires_at(self, session: AsyncSession, job_id: str, ended_at: datetime) -> datetime:
        """When the report of `job_id`, ending at `ended_at`, is to be deleted (`ReportWork`)."""
        return self.expiry(ended_at, await repository.org_retention_of_job(session, job_id))


async def delete_report(
    session: AsyncSession,
    job_id: str,
    *,
    principal: Principal,
    clock: SessionClock,
    retention: Retention,
    origin: audit.Origin,
) -> None:
    """The org's report, deleted now (`DELETE /v1/document/api/{id}`). Another org's, an
    unknown and a malformed id are the same 404; a report already deleted or expired is left
    as it is (the request's effect holds, so it answers as the first did)."""
    canonical = _canonical_id(job_id)
    job = await repository.lock_job(session, principal.org_id, canonical) if canonical else None
    if job is None:
        raise NotFound("Report job not found")
    if job.deleted_at is not None:
        return
    now = await clock.now(session)
    await remove(session, [job], Deletion.DELETED, now=now, retention=retention)
    deleted = audit.Entry(
        AuditEvent.REPORT_DELETED,
        audit.client_actor(principal.client_id),
        org_id=job.org_id,
        job_id=job.id,
        origin=origin,
        details={"status": job.status},
    )
    await audit.record(session, clock, deleted)


def _canonical_id(job_id: str) -> str | None:
    """A job id as stored (a lower-case UUID), or None for one that cannot be any job's."""
    try:
        return str(uuid.UUID(job_id))
    except ValueError:
        return None


async def remove(
    session: AsyncSession,
    jobs: Sequence[ReportJob],
    deletion: Deletion,
    *,
    now: datetime,
    retention: Retention,
) -> Sequence[str]:
    """Make `jobs` (locked by the caller) tombstones and queue the purge of their PDFs; the
    ids of those that were not tombstones already."""
    in_flight = {job.id for job in jobs if job.status == JobStatus.PROCESSING}
    for job in jobs:
        if job.status not in TERMINAL:
            await _cancel(session, job.id, now)
    removed = await repository.tombstone(session, [j.id for j in jobs], deletion=deletion, now=now)
    await repository.forget_idempotency_keys(session, removed)
    await forget_jobs(session, removed)
    if removed:
        purges = [ReportPurge(id=job_id) for job_id in removed]
        await enqueue(session, *purges, now=now, max_attempts=PURGE_MAX_ATTEMPTS)
        for purge in purges:
            if purge.id in in_flight:
                purge.run_after = now + retention.in_flight_grace
        await session.flush()
    return removed


async def _cancel(session: AsyncSession, job_id: str, now: datetime) -> None:
    """End a job that has not: FAILED with `REPORT_DELETED`, and whoever waits for it told."""
    await cancel(
        session,
        ReportJob,
        job_id,
        status=JobStatus.FAILED,
        now=now,
        error_code=JobErrorCode.REPORT_DELETED,
        completed_at=now,
    )
    await settlement.announce(session, job_id)


@dataclass(frozen=True, slots=True)
class Erasure:
    """What erasing a user removed."""

    reports: int
    connections: int
    profile: bool


async def erase_user(
    session: AsyncSession,
    user_id: str,
    *,
    org_id: str | None,
    operator: str,
    clock: SessionClock,
    retention: Retention,
) -> Erasure:
    """The right to erasure: every report about the user (in `org_id`, or in every org)
    becomes a tombstone with its PDFs queued for deletion, and the user's data goes
    (`users.service.forget_user`); the audit trail records it, with the user's id only."""
    jobs = await repository.lock_live_jobs_of_user(session, user_id, org_id)
    now = await clock.now(session)
    removed = await remove(session, jobs, Deletion.ERASED, now=now, retention=retention)
    forgotten = await forget_user(session, user_id, org_id)
    erasure = Erasure(len(removed), forgotten.connections, forgotten.profile)
    erased = audit.Entry(
        AuditEvent.USER_ERASED,
        audit.admin_actor(operator),
        org_id=org_id,
        user_id=user_id,
        details={
            "reports": erasure.reports,
            "connections": erasure.connections,
            "profile": int(erasure.profile),
        },
    )
    await audit.record(session, clock, erased)
    return erasure


async def set_retention(
    session: AsyncSession,
    org_id: str,
    days: int | None,
    *,
    operator: str,
    clock: SessionClock,
    retention: Retention,
) -> int:
    """Give an org its own retention period (None: the deployment's again), and move the
    expiry of each of its reports not yet deleted to match: a shorter period applies to the
    reports already kept too. Returns how many reports were rescheduled."""
    try:
        previous = await repository.set_org_retention(session, org_id, days)
    except LookupError:
        raise NotFound(f"No org with id {org_id}") from None
    ended = await repository.ended_live_jobs_of_org(session, org_id)
    await repository.set_expiries(
        session, [(job_id, retention.expiry(ended_at, days)) for job_id, ended_at in ended]
    )
    details = {"days": days or retention.report_days, "own_days": days,
               "previous_own_days": previous, "rescheduled": len(ended)}  # fmt: skip
    changed = audit.Entry(
        AuditEvent.ORG_RETENTION_CHANGED, audit.admin_actor(operator), org_id, details=details
    )
    await audit.record(session, clock, changed)
    return len(ended)


#: Ended jobs given an expiry, and reports expired, per sweep (each worker sweeps about once a
#: minute; a backlog drains a batch a minute per worker).
SWEEP_BATCH = 200


@dataclass(frozen=True, slots=True)
class Sweep:
    scheduled: int
    expired: int


async def sweep(
    session: AsyncSession, *, now: datetime, clock: SessionClock, retention: Retention
) -> Sweep:
    """The workers' retention pass: ended jobs without an expiry get one, then reports whose
    expiry has passed are removed, each recorded in the audit trail. With nothing due it is
    two probes of ix_report_jobs_expiry and takes no other lock."""
    ended = await repository.lock_ended_without_expiry(session, SWEEP_BATCH)
    await repository.set_expiries(
        session, [(job_id, retention.expiry(at, days)) for job_id, at, days in ended]
    )
    due = await repository.lock_due(session, now, SWEEP_BATCH)
    removed = set(await remove(session, due, Deletion.EXPIRED, now=now, retention=retention))
    expired = [
        audit.Entry(AuditEvent.REPORT_EXPIRED, audit.SYSTEM, org_id=job.org_id, job_id=job.id)
        for job in due
        if job.id in removed
    ]
    await audit.record(session, clock, *expired)
    return Sweep(scheduled=len(ended), expired=len(expired))
