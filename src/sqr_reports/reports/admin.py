"""What an operator does with report jobs (the admin CLI): look across orgs, retry a failed one.

Not on behalf of an API client, so not scoped to one org; and what it shows of a job stops at
the user's id: no personal field of the report leaves the database this way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.clock import isoformat_ms
from sqr_reports.db.clock import SessionClock
from sqr_reports.errors import Conflict, NotFound
from sqr_reports.queue.store import requeue
from sqr_reports.reports import repository
from sqr_reports.reports.models import JobStatus, ReportJob

#: The columns `describe` shows, in this order.
_FIELDS = (
    "id", "org_id", "client_id", "user_id", "status", "attempts", "max_attempts",
    "error_code", "error_message", "template_version", "policy_version", "page_count",
    "size_bytes", "sha256", "request_id", "lease_owner", "lease_expires_at", "run_after",
    "created_at", "updated_at", "started_at", "completed_at", "expires_at", "deleted_at",
)  # fmt: skip


async def list_jobs(
    session: AsyncSession, *, org_id: str | None, status: JobStatus | None, limit: int
) -> Sequence[ReportJob]:
    return await repository.page_for_operator(session, org_id=org_id, status=status, limit=limit)


async def get_job(session: AsyncSession, job_id: str) -> ReportJob:
    job = await repository.get(session, job_id)
    if job is None:
        raise NotFound(f"No job with id {job_id}")
    return job


async def retry_job(
    session: AsyncSession, job_id: str, *, attempts: int, clock: SessionClock
) -> ReportJob:
    """Put a FAILED job back in the queue with `attempts` more attempts, as if new.

    Its failure is cleared; the org hears of the new outcome by webhook as it did of the
    failure. Only a FAILED job: a COMPLETE one has its report, and a pending or processing one
    is the queue's to finish.
    """
    job = await get_job(session, job_id)
    if job.deleted_at is not None:
        raise Conflict(f"Job {job_id} was deleted: its personal data is gone, create a new job")
    if job.status != JobStatus.FAILED:
        raise Conflict(f"Job {job_id} is {job.status}: only a FAILED job can be retried")
    now = await clock.now(session)
    cleared = {"error_code": None, "error_message": None, "started_at": None, "completed_at": None}
    retried = await requeue(session, ReportJob, job_id, failed_status=JobStatus.FAILED,
                            attempts=job.attempts, budget=attempts, now=now, **cleared)  # fmt: skip
    if not retried:
        raise Conflict(f"Job {job_id} changed meanwhile (retried by someone else?)")
    await session.refresh(job)
    return job


def describe(job: ReportJob) -> dict[str, Any]:
    """The job as `jobs show` prints it: its state and outcome, no personal data."""
    return {name: _plain(getattr(job, name)) for name in _FIELDS}


def _plain(value: Any) -> Any:
    return isoformat_ms(value) if isinstance(value, datetime) else value
