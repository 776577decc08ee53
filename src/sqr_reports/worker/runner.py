"""The worker loop. Each job step is its own transaction, committed here (the edge).

Whatever happens to a job, it ends COMPLETE or FAILED: failures of the user's data or of the
template fail it at once; transient failures (storage, a crashed render process, bugs) retry with
backoff until the last attempt; and if this process dies, its lease expires and another worker's
reaper puts the job back on the queue (or fails it when it is out of attempts).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sqr_reports.config import WorkerSettings
from sqr_reports.db.clock import SessionClock
from sqr_reports.orgs import repository as orgs
from sqr_reports.policies import service as policies
from sqr_reports.rendering import RenderCrashed, Renderer, RenderFailed, RenderTimeout
from sqr_reports.reports import document, queue
from sqr_reports.reports import repository as jobs
from sqr_reports.reports.errors import JobErrorCode
from sqr_reports.reports.queue import Artifact, Claim
from sqr_reports.storage import BlobStore, StorageError
from sqr_reports.users.service import UserNotConnected, UserNotFound, load_subject
from sqr_reports.worker.wakeup import Wakeup

log = logging.getLogger(__name__)
T = TypeVar("T")
OUTAGE_BACKOFF_MAX = 30.0
PURGE_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class _Failure:
    code: JobErrorCode
    message: str
    transient: bool


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


def _failure_for(claim: Claim, exc: Exception) -> _Failure:
    for kind, code, message, transient, worth_a_traceback in _OUTCOMES:
        if isinstance(exc, kind):
            if worth_a_traceback:
                log.error("job %s: %s", claim.job_id, code.value, exc_info=exc)
            return _Failure(code, message or str(exc), transient)
    raise AssertionError("unreachable: Exception matches every exception")


class Worker:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        read_sessions: async_sessionmaker[AsyncSession],
        queue_clock: SessionClock,
        settings: WorkerSettings,
        renderer: Renderer,
        store: BlobStore,
        wakeup: Wakeup,
    ):
        self._sessions = sessions
        self._read_sessions = read_sessions
        self._queue_clock = queue_clock
        self._settings = settings
        self._renderer = renderer
        self._store = store
        self._wakeup = wakeup
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._outage_delay = 0.0
        self._last_purge: datetime | None = None

    # -- the loop -------------------------------------------------------------------------------
    async def run(self) -> None:
        """Claim and process jobs until `stop()`; in-flight jobs are awaited on the way out."""
        log.info("worker %s started (concurrency %d)", self.owner, self._settings.concurrency)
        try:
            while not self._stopping:
                await self._guarded(self._reap)
                while not self._stopping and len(self._tasks) < self._settings.concurrency:
                    claim = await self._guarded(self._claim)
                    if claim is None:
                        break
                    task = asyncio.create_task(self._process_logged(claim))
                    self._tasks.add(task)
                    task.add_done_callback(self._on_done)
                await self._wakeup.wait(self._settings.poll_seconds)
        finally:
            await self._finish_in_flight()
            log.info("worker %s stopped", self.owner)

    async def _finish_in_flight(self) -> None:
        """Let running jobs finish within the grace period; release the rest to the queue."""
        if not self._tasks:
            return
        grace = self._settings.shutdown_grace_seconds
        log.info("waiting up to %.0f s for %d job(s) in flight", grace, len(self._tasks))
        _, unfinished = await asyncio.wait(self._tasks, timeout=grace)
        for task in unfinished:
            task.cancel()  # `process` releases its claim on the way out
        await asyncio.gather(*unfinished, return_exceptions=True)

    def stop(self) -> None:
        self._stopping = True
        self._wakeup.notify()

    async def drain(self) -> int:
        """Process due jobs one by one until none is left; returns how many (tests, tools)."""
        processed = 0
        await self._reap()
        while (claim := await self._claim()) is not None:
            await self.process(claim)
            processed += 1
        return processed

    def _on_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._wakeup.notify()

    async def _guarded(self, step: Callable[[], Awaitable[T | None]]) -> T | None:
        """A database outage must not kill the loop: log, back off (exponentially), retry."""
        try:
            result = await step()
        except Exception as exc:
            self._outage_delay = min(OUTAGE_BACKOFF_MAX, max(0.5, self._outage_delay * 2))
            log.error("worker step failed (%s); retrying in %.1f s", type(exc), self._outage_delay)
            await asyncio.sleep(self._outage_delay)
            return None
        if self._outage_delay:
            log.info("worker recovered")
            self._outage_delay = 0.0
        return result

    async def _reap(self) -> None:
        """Housekeeping between claims: expired leases, and (once a minute) old idempotency keys."""
        async with self._sessions.begin() as session:
            now = await self._queue_clock.now(session)
            reaped = await queue.reap_expired_leases(session, self._settings, now)
            if self._last_purge is None or now - self._last_purge > PURGE_EVERY:
                await queue.purge_expired_idempotency_keys(session, now)
                self._last_purge = now
        if reaped:
            log.warning("returned %d job(s) with expired leases to the queue", reaped)

    async def _claim(self) -> Claim | None:
        async with self._sessions.begin() as session:
            now = await self._queue_clock.now(session)
            return await queue.claim_next(session, self._settings, self.owner, now)

    # -- one job ----------------------------------------------------------------------------------
    async def _process_logged(self, claim: Claim) -> None:
        try:
            await self.process(claim)
        except Exception:
            # Typically the database went away; the lease will expire and the job be retried.
            log.exception("job %s: could not record the outcome", claim.job_id)

    async def process(self, claim: Claim) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(claim))
        try:
            failure = await self._attempt(claim)
        except asyncio.CancelledError:
            await asyncio.shield(self._release(claim))
            raise
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        if failure is not None:
            await self._record_failure(claim, failure)

    async def _release(self, claim: Claim) -> None:
        try:
            async with self._sessions.begin() as session:
                now = await self._queue_clock.now(session)
                await queue.release(session, claim, now)
        except Exception:
            log.exception("job %s: could not release; its lease will expire", claim.job_id)
        else:
            log.info("job %s: released to the queue", claim.job_id)

    async def _attempt(self, claim: Claim) -> _Failure | None:
        try:
            await self._render_and_store(claim)
        except Exception as exc:
            return _failure_for(claim, exc)
        return None

    async def _render_and_store(self, claim: Claim) -> None:
        generated_at = claim.claimed_at
        async with self._read_sessions() as session:
            job = await jobs.get(session, claim.job_id)
            org = await orgs.get(session, claim.org_id)
            assert job is not None
            assert org is not None
            subject = await load_subject(session, claim.user_id, claim.org_id)
            policy = policies.pinned(job.policy_version, job.policy)
            data = document.build(job, org, subject, generated_at, policy)
        rendered = await self._renderer.render(claim.template_version, data, generated_at)
        key = f"reports/{claim.org_id}/{claim.job_id}/{claim.attempt}.pdf"
        await self._store.put(key, rendered.pdf, content_type="application/pdf")
        artifact = Artifact(
            storage_key=key,
            size_bytes=len(rendered.pdf),
            sha256=hashlib.sha256(rendered.pdf).hexdigest(),
            page_count=rendered.page_count,
        )
        async with self._sessions.begin() as session:
            now = await self._queue_clock.now(session)
            completed = await queue.complete(session, claim, artifact, now)
        if not completed:
            log.warning("job %s: lease lost before completion; result discarded", claim.job_id)
            await self._store.delete(key)

    async def _record_failure(self, claim: Claim, failure: _Failure) -> None:
        async with self._sessions.begin() as session:
            now = await self._queue_clock.now(session)
            if failure.transient:
                await queue.retry(
                    session, self._settings, claim, failure.code, failure.message, now
                )
            else:
                await queue.fail(session, claim, failure.code, failure.message, now)

    async def _heartbeat(self, claim: Claim) -> None:
        while True:
            await asyncio.sleep(self._settings.heartbeat_seconds)
            try:
                async with self._sessions.begin() as session:
                    now = await self._queue_clock.now(session)
                    held = await queue.heartbeat(session, self._settings, claim, now)
            except Exception:
                log.exception("job %s: heartbeat failed", claim.job_id)
                continue
            if not held:
                log.warning("job %s: lease lost to another worker", claim.job_id)
                return
