"""The job queue's operations, as the worker sees them: claim, heartbeat, finish, retry, reap.

A claim is a lease: `attempts` doubles as the fencing token, so a worker whose lease expired and
was taken over can never overwrite the newer attempt's result (every write is conditional on the
attempt number and owner it claimed with). Each function runs inside the caller's transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.config import WorkerSettings
from sqr_reports.reports import repository
from sqr_reports.reports.errors import JobErrorCode
from sqr_reports.reports.models import (
    ERROR_MESSAGE_LENGTH,
    IDEMPOTENCY_KEY_TTL,
    JobStatus,
    ReportJob,
)

_random = secrets.SystemRandom()


@dataclass(frozen=True, slots=True)
class Claim:
    job_id: str
    org_id: str
    user_id: str
    attempt: int
    max_attempts: int
    owner: str
    template_version: str
    #: When the lease was taken, by the queue's clock: the report's "generated at".
    claimed_at: datetime

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


async def claim_next(
    session: AsyncSession, settings: WorkerSettings, owner: str, now: datetime
) -> Claim | None:
    lease_until = now + timedelta(seconds=settings.lease_seconds)
    job = await repository.claim_next(session, now=now, owner=owner, lease_until=lease_until)
    if job is None:
        return None
    assert job.template_version is not None
    return Claim(
        job_id=job.id,
        org_id=job.org_id,
        user_id=job.user_id,
        attempt=job.attempts,
        max_attempts=job.max_attempts,
        owner=owner,
        template_version=job.template_version,
        claimed_at=now,
    )


async def heartbeat(
    session: AsyncSession, settings: WorkerSettings, claim: Claim, now: datetime
) -> bool:
    """Extend the lease; False means the claim was lost and the work must be abandoned."""
    return await _update(
        session, claim, lease_expires_at=now + timedelta(seconds=settings.lease_seconds)
    )


@dataclass(frozen=True, slots=True)
class Artifact:
    storage_key: str
    size_bytes: int
    sha256: str
    page_count: int


async def complete(session: AsyncSession, claim: Claim, artifact: Artifact, now: datetime) -> bool:
    return await _update(
        session,
        claim,
        status=JobStatus.COMPLETE,
        storage_key=artifact.storage_key,
        size_bytes=artifact.size_bytes,
        sha256=artifact.sha256,
        page_count=artifact.page_count,
        completed_at=now,
        lease_owner=None,
        lease_expires_at=None,
        updated_at=now,
    )


async def fail(
    session: AsyncSession, claim: Claim, code: JobErrorCode, message: str, now: datetime
) -> bool:
    return await _update(session, claim, **_failed(code, message, now))


async def retry(
    session: AsyncSession,
    settings: WorkerSettings,
    claim: Claim,
    code: JobErrorCode,
    message: str,
    now: datetime,
) -> bool:
    """A transient failure: back to the queue after a backoff, or FAILED after the last attempt."""
    if claim.is_last_attempt:
        return await fail(session, claim, code, message, now)
    return await _update(session, claim, **_requeued(settings, claim.attempt, now))


async def release(session: AsyncSession, claim: Claim, now: datetime) -> bool:
    """Give an unfinished job back (graceful shutdown) without spending one of its attempts.

    `attempts` only ever grows (it is the fencing token), so the budget grows instead.
    """
    released = await _update(
        session,
        claim,
        status=JobStatus.PENDING,
        run_after=now,
        lease_owner=None,
        lease_expires_at=None,
        max_attempts=ReportJob.max_attempts + 1,
        updated_at=now,
    )
    if released:
        await repository.announce_due_job(session)
    return released


async def purge_expired_idempotency_keys(session: AsyncSession, now: datetime) -> None:
    """Housekeeping the workers do between jobs: keys past their lifetime are forgotten."""
    await repository.purge_idempotency_keys(session, now - IDEMPOTENCY_KEY_TTL)


async def reap_expired_leases(
    session: AsyncSession, settings: WorkerSettings, now: datetime
) -> int:
    """Jobs whose worker died: back to the queue, or FAILED once out of attempts."""
    jobs = await repository.expired_leases(session, now=now)
    for job in jobs:
        if job.attempts >= job.max_attempts:
            values = _failed(
                JobErrorCode.INTERNAL_ERROR,
                "The report could not be generated: the worker stopped responding",
                now,
            )
        else:
            values = _requeued(settings, job.attempts, now)
        for name, value in values.items():
            setattr(job, name, value)
    await session.flush()
    return len(jobs)


def backoff_seconds(settings: WorkerSettings, attempt: int) -> float:
    """Exponential backoff with jitter (half to full delay), capped."""
    ceiling = min(
        settings.backoff_max_seconds, settings.backoff_base_seconds * 2.0 ** (attempt - 1)
    )
    return float(ceiling * _random.uniform(0.5, 1.0))


def _failed(code: JobErrorCode, message: str, now: datetime) -> dict[str, object]:
    return {
        "status": JobStatus.FAILED,
        "error_code": code.value,
        "error_message": message[:ERROR_MESSAGE_LENGTH],
        "completed_at": now,
        "lease_owner": None,
        "lease_expires_at": None,
        "updated_at": now,
    }


def _requeued(settings: WorkerSettings, attempt: int, now: datetime) -> dict[str, object]:
    return {
        "status": JobStatus.PENDING,
        "run_after": now + timedelta(seconds=backoff_seconds(settings, attempt)),
        "lease_owner": None,
        "lease_expires_at": None,
        "updated_at": now,
    }


async def _update(session: AsyncSession, claim: Claim, **values: object) -> bool:
    return await repository.update_claimed(
        session, claim.job_id, claim.attempt, claim.owner, **values
    )
