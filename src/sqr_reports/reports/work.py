"""Report jobs as a kind of durable work: render and store, then COMPLETE or FAILED.

The queue (`sqr_reports.queue`) leases, retries and reaps; this module says what a claim of a
report job does and what each failure means: failures of the user's data or of the template
fail the job at once; storage failures, crashed render processes and bugs are retried with
backoff until the last attempt. The job's terminal state and its outcome event (the outbox that
webhooks deliver) are written in one transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sqr_reports.config import WorkerSettings
from sqr_reports.correlation import Id
from sqr_reports.queue import settlement
from sqr_reports.queue.work import Claim, Lease, Work, WorkFailed, exponential_backoff
from sqr_reports.rendering import RenderCrashed, Renderer, RenderFailed, RenderTimeout
from sqr_reports.reports import repository
from sqr_reports.reports.errors import JobErrorCode
from sqr_reports.reports.instrumented import ObservedRenderer, ObservedStore
from sqr_reports.reports.models import (
    ERROR_MESSAGE_LENGTH,
    IDEMPOTENCY_KEY_TTL,
    JobStatus,
    ReportJob,
)
from sqr_reports.reports.service import Artifact, render_and_store
from sqr_reports.storage import BlobStore, StorageError
from sqr_reports.users.service import UserNotConnected, UserNotFound

log = logging.getLogger(__name__)

#: What each failure means for the job: its code, the client's message (None: the exception's
#: own, which is written for clients), whether a retry may help, and whether it is worth a
#: traceback in the log (the user's own data failing is not).
_OUTCOMES: tuple[tuple[type[Exception], JobErrorCode, str | None, bool, bool], ...] = (
    (UserNotFound, JobErrorCode.USER_NOT_FOUND, None, False, False),
    (UserNotConnected, JobErrorCode.USER_NOT_CONNECTED, None, False, False),
    (RenderTimeout, JobErrorCode.RENDER_TIMEOUT, "The report took too long to render", False,
     False),
    (RenderFailed, JobErrorCode.RENDER_FAILED, "The report could not be rendered", False, True),
    (RenderCrashed, JobErrorCode.RENDER_FAILED, "The report renderer stopped unexpectedly", True,
     True),
    (StorageError, JobErrorCode.STORAGE_FAILED, "The report could not be stored", True, True),
    (Exception, JobErrorCode.INTERNAL_ERROR, "The report could not be generated", True, True),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """A job as its terminal state leaves it, before the row is written (for its event)."""

    id: str
    org_id: str
    user_id: str
    status: str
    error_code: str | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    page_count: int | None = None


class OutcomeEvents(Protocol):
    """Records a job's outcome event in the caller's transaction (webhooks' outbox)."""

    async def record(self, session: AsyncSession, job: JobOutcome, now: datetime) -> str | None: ...


class Expiries(Protocol):
    """When an ending job's report is to be deleted (`lifecycle.service.Retention`)."""

    async def expires_at(
        self, session: AsyncSession, job_id: str, ended_at: datetime
    ) -> datetime: ...


#: Claims a worker holds per render process (`concurrency` is the number of render processes):
#: while one report's data is read, and its PDF stored and its job completed, the render process
#: is already rendering the next report instead of waiting. In a burst of 200 jobs on 2 cores
#: (`bench/embedded_flow.py`), three interleaved pairs: 24.8-25.9 -> 27.1-27.9 jobs/s, and
#: 20.0 -> 21.6 in a busier pair.
CLAIMS_PER_RENDER_PROCESS = 2


class ReportWork:
    name = "report"
    table = ReportJob
    done_status = JobStatus.COMPLETE
    failed_status = JobStatus.FAILED
    abandoned = WorkFailed(
        JobErrorCode.INTERNAL_ERROR,
        "The report could not be generated: the worker stopped responding",
        transient=True,
    )

    def __init__(
        self,
        *,
        settings: WorkerSettings,
        read_sessions: async_sessionmaker[AsyncSession],
        renderer: Renderer,
        store: BlobStore,
        events: OutcomeEvents | None = None,
        expiries: Expiries | None = None,
    ):
        self._settings = settings
        self._read_sessions = read_sessions
        self._renderer = ObservedRenderer(renderer)
        self._store = ObservedStore(store)
        self._events = events
        self._expiries = expiries
        self.lease = Lease(settings.lease_seconds, settings.heartbeat_seconds)
        self.concurrency = settings.concurrency * CLAIMS_PER_RENDER_PROCESS

    def backoff_seconds(self, attempt: int) -> float:
        return exponential_backoff(
            attempt,
            base=self._settings.backoff_base_seconds,
            ceiling=self._settings.backoff_max_seconds,
        )

    def on_claim(self, row: Any, now: datetime) -> None:
        row.started_at = row.started_at or now

    @staticmethod
    def log_ids(row: Any) -> dict[str, Id]:
        ids = {"job_id": row.id, "org_id": row.org_id, "request_id": row.request_id}
        return {name: value for name, value in ids.items() if value is not None}

    async def perform(self, claim: Claim) -> Artifact:
        # The report is dated when its claim was taken, by the database's clock (ADR 0011).
        return await render_and_store(
            claim.id,
            claim.attempt,
            claim.claimed_at,
            read_sessions=self._read_sessions,
            renderer=self._renderer,
            store=self._store,
        )

    def classify(self, exc: Exception) -> WorkFailed:
        for kind, code, message, transient, worth_a_traceback in _OUTCOMES:
            if isinstance(exc, kind):
                if worth_a_traceback:
                    log.error("report job failed: %s", code.value, exc_info=exc)
                return WorkFailed(code, message or str(exc), transient=transient)
        raise AssertionError("unreachable: Exception matches every exception")

    async def discard(self, claim: Claim, result: Any) -> None:
        if isinstance(result, Artifact):
            await self._store.delete(result.storage_key)

    async def on_done(
        self, session: AsyncSession, claim: Claim, result: Any, now: datetime
    ) -> dict[str, Any]:
        assert isinstance(result, Artifact)
        values = {
            "storage_key": result.storage_key,
            "size_bytes": result.size_bytes,
            "sha256": result.sha256,
            "page_count": result.page_count,
            "completed_at": now,
        } | await self._expiry(session, claim.id, now)
        await self._announce(session, claim.id, JobStatus.COMPLETE, values, now)
        return values

    async def on_failed(
        self, session: AsyncSession, row_id: str, failure: WorkFailed, now: datetime
    ) -> dict[str, Any]:
        values = {
            "error_code": failure.code,
            "error_message": failure.message[:ERROR_MESSAGE_LENGTH],
            "completed_at": now,
        } | await self._expiry(session, row_id, now)
        await self._announce(session, row_id, JobStatus.FAILED, values, now)
        return values

    async def on_attempt_failed(
        self, session: AsyncSession, claim: Claim, failure: WorkFailed, now: datetime
    ) -> None:
        return None

    async def housekeeping(self, session: AsyncSession, now: datetime) -> None:
        """Idempotency keys past their lifetime are forgotten."""
        await repository.purge_idempotency_keys(session, now - IDEMPOTENCY_KEY_TTL)

    async def _expiry(self, session: AsyncSession, job_id: str, now: datetime) -> dict[str, Any]:
        """The ending job's `expires_at` (its retention starts now), when retention is wired."""
        if self._expiries is None:
            return {}
        return {"expires_at": await self._expiries.expires_at(session, job_id, now)}

    async def _announce(
        self,
        session: AsyncSession,
        job_id: str,
        status: JobStatus,
        values: dict[str, Any],
        now: datetime,
    ) -> None:
        """The job is settled: requests waiting for it hear so once this transaction commits,
        and its outcome event (if any) is written in it."""
        await settlement.announce(session, job_id)
        if self._events is None:
            return
        job = await repository.get(session, job_id)
        assert job is not None
        final = {name: values[name] for name in _EVENT_COLUMNS if name in values}
        outcome = JobOutcome(job.id, job.org_id, job.user_id, status.value, **final)
        await self._events.record(session, outcome, now)


#: The columns an outcome sets that its event reports.
_EVENT_COLUMNS = ("error_code", "size_bytes", "sha256", "page_count")


def _conforms(work: ReportWork) -> Work:
    return work  # mypy proves ReportWork is a queue `Work`
