"""Purges as a kind of durable work (ADR 0013, 0021): delete every PDF a deleted report's job
ever stored, retried with backoff until the store answers; and, as this kind's housekeeping
(about once a minute per worker), the retention sweep and the pruning of the audit trail.

Order, for a deletion that must survive any crash: the tombstone and the purge row commit
together first (the database forgets at once, and the purge is durable); the store is cleaned
after, by the purge; the purge is marked DONE only once every key is gone. A worker that dies
between the store and the database leaves the purge leased: its lease expires, it is reaped
and run again, and deleting what is already gone is a no-op.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sqr_reports.audit import service as audit
from sqr_reports.config import WorkerSettings
from sqr_reports.db.clock import SessionClock
from sqr_reports.lifecycle import repository, service
from sqr_reports.lifecycle.models import ERROR_LENGTH, PurgeStatus, ReportPurge
from sqr_reports.queue.work import Claim, Lease, Work, WorkFailed, exponential_backoff
from sqr_reports.reports.models import report_key
from sqr_reports.storage import BlobStore, StorageError

log = logging.getLogger(__name__)
STORAGE_FAILED = "STORAGE_FAILED"
INTERNAL_ERROR = "INTERNAL_ERROR"
#: Purges a worker process runs at once (each is a few store calls).
CONCURRENCY = 2
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_MAX_SECONDS = 3600.0


class PurgeWork:
    name = "purge"
    table = ReportPurge
    done_status = PurgeStatus.DONE
    failed_status = PurgeStatus.FAILED
    abandoned = WorkFailed(INTERNAL_ERROR, "The worker stopped responding", transient=True)
    concurrency = CONCURRENCY

    def __init__(
        self,
        *,
        settings: WorkerSettings,
        read_sessions: async_sessionmaker[AsyncSession],
        store: BlobStore,
        clock: SessionClock,
        retention: service.Retention,
        audit_days: int,
    ):
        self._read_sessions = read_sessions
        self._store = store
        self._clock = clock
        self._retention = retention
        self._audit_days = audit_days
        self.lease = Lease(settings.lease_seconds, settings.heartbeat_seconds)

    def backoff_seconds(self, attempt: int) -> float:
        return exponential_backoff(attempt, base=BACKOFF_BASE_SECONDS, ceiling=BACKOFF_MAX_SECONDS)

    def on_claim(self, row: Any, now: datetime) -> None:
        return None

    async def perform(self, claim: Claim) -> int:
        """Delete the PDF of each attempt the job had (each stored under its own key, and one
        that died after storing left its file behind); how many keys were deleted."""
        async with self._read_sessions() as session:
            found = await repository.job_for_purge(session, claim.id)
        if found is None:
            return 0
        org_id, attempts = found
        for attempt in range(1, attempts + 1):
            await self._store.delete(report_key(org_id, claim.id, attempt))
        return attempts

    def classify(self, exc: Exception) -> WorkFailed:
        if isinstance(exc, StorageError):
            return WorkFailed(STORAGE_FAILED, str(exc), transient=True)
        log.error("report purge failed unexpectedly", exc_info=exc)
        return WorkFailed(INTERNAL_ERROR, "The report's files could not be deleted", transient=True)

    async def discard(self, claim: Claim, result: Any) -> None:
        return None  # a deletion cannot be taken back, and the purge that holds it runs again

    async def on_done(
        self, session: AsyncSession, claim: Claim, result: Any, now: datetime
    ) -> dict[str, Any]:
        return {"last_error": None}

    async def on_failed(
        self, session: AsyncSession, row_id: str, failure: WorkFailed, now: datetime
    ) -> dict[str, Any]:
        log.error("report %s: its PDFs could not be deleted, giving up: %s", row_id, failure.code)
        return {"last_error": failure.message[:ERROR_LENGTH]}

    async def on_attempt_failed(
        self, session: AsyncSession, claim: Claim, failure: WorkFailed, now: datetime
    ) -> None:
        log.warning("report %s: deleting its PDFs failed (%s); will retry", claim.id, failure.code)

    async def housekeeping(self, session: AsyncSession, now: datetime) -> None:
        """The retention sweep, then the audit trail's own retention."""
        swept = await service.sweep(session, now=now, clock=self._clock, retention=self._retention)
        pruned = await audit.prune(session, self._clock, keep_days=self._audit_days)
        if swept.expired or swept.scheduled or pruned:
            log.info("retention: %d report(s) expired, %d scheduled, %d audit record(s) pruned",
                     swept.expired, swept.scheduled, pruned)  # fmt: skip


def _conforms(work: PurgeWork) -> Work:
    return work  # mypy proves PurgeWork is a queue `Work`
