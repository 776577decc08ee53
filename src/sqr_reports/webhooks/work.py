"""Webhook deliveries as a kind of durable work: POST the event until a 2xx, or give up.

The queue (`sqr_reports.queue`) leases, retries with this kind's schedule (seconds at first,
stretching past 24 hours) and reaps; each claim is one attempt: read what it needs, check the
target and POST (no transaction open across the network), then record the attempt in the
transaction that finishes or requeues the delivery.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sqr_reports.config import WebhookSettings
from sqr_reports.correlation import Id
from sqr_reports.queue.work import Claim, Lease, Work, WorkFailed
from sqr_reports.webhooks import delivery, retry
from sqr_reports.webhooks.delivery import TerminalJob
from sqr_reports.webhooks.models import DeliveryStatus, WebhookDelivery
from sqr_reports.webhooks.sender import AttemptResult, WebhookSender

log = logging.getLogger(__name__)
NO_ENDPOINT = "NO_ENDPOINT"
UNDELIVERED = "UNDELIVERED"
INTERNAL_ERROR = "INTERNAL_ERROR"
#: Renewed well within the lease; an attempt is bounded by the sender's total timeout.
HEARTBEAT_SECONDS = 10.0


class Undelivered(WorkFailed):
    """An attempt that did not get a 2xx, with what it got."""

    def __init__(self, result: AttemptResult):
        super().__init__(UNDELIVERED, result.error or "not delivered", transient=result.transient)
        self.result = result


class DeliveryWork:
    name = "webhook"
    table = WebhookDelivery
    done_status = DeliveryStatus.DELIVERED
    failed_status = DeliveryStatus.FAILED
    abandoned = WorkFailed(INTERNAL_ERROR, "The worker stopped responding", transient=True)

    def __init__(
        self,
        *,
        settings: WebhookSettings,
        read_sessions: async_sessionmaker[AsyncSession],
        sender: WebhookSender,
    ):
        self._settings = settings
        self._read_sessions = read_sessions
        self._sender = sender
        self.concurrency = settings.concurrency
        self.lease = Lease(
            seconds=settings.total_timeout_seconds + 3 * HEARTBEAT_SECONDS,
            heartbeat_seconds=HEARTBEAT_SECONDS,
        )

    def backoff_seconds(self, attempt: int) -> float:
        return retry.backoff_seconds(attempt)

    def on_claim(self, row: Any, now: datetime) -> None:
        return None

    @staticmethod
    def log_ids(row: Any) -> dict[str, Id]:
        return {"delivery_id": row.id, "event_id": row.event_id, "org_id": row.org_id}

    async def perform(self, claim: Claim) -> AttemptResult:
        async with self._read_sessions() as session:
            prepared = await delivery.prepare(session, claim.id)
        if prepared is None:
            raise WorkFailed(NO_ENDPOINT, delivery.NO_ENDPOINT, transient=False)
        result = await delivery.attempt(
            prepared,
            sender=self._sender,
            allow_private=self._settings.allow_private_targets,
            now=claim.claimed_at,
        )
        if not result.ok:
            raise Undelivered(result)
        return result

    def classify(self, exc: Exception) -> WorkFailed:
        log.error("webhook delivery failed unexpectedly", exc_info=exc)
        return WorkFailed(INTERNAL_ERROR, "Internal error while delivering", transient=True)

    async def discard(self, claim: Claim, result: Any) -> None:
        return None  # a POST cannot be taken back; receivers dedupe on x_event_id

    async def on_done(
        self, session: AsyncSession, claim: Claim, result: Any, now: datetime
    ) -> dict[str, Any]:
        assert isinstance(result, AttemptResult)
        await delivery.settle(
            session, claim.id, claim.attempt, result, final=True, now=now, settings=self._settings
        )
        return {}

    async def on_attempt_failed(
        self, session: AsyncSession, claim: Claim, failure: WorkFailed, now: datetime
    ) -> None:
        if failure.code == NO_ENDPOINT:
            return  # no attempt was made; `on_failed` says why it ended
        result = (
            failure.result
            if isinstance(failure, Undelivered)
            else AttemptResult(ok=False, error=failure.message, started_at=claim.claimed_at)
        )
        final = not failure.transient or claim.is_last_attempt
        await delivery.settle(
            session, claim.id, claim.attempt, result, final=final, now=now, settings=self._settings
        )

    async def on_failed(
        self, session: AsyncSession, row_id: str, failure: WorkFailed, now: datetime
    ) -> dict[str, Any]:
        if failure.code != UNDELIVERED:  # an attempt's own error is already recorded
            await delivery.record_abandoned(session, row_id, failure.message)
        return {}

    async def housekeeping(self, session: AsyncSession, now: datetime) -> None:
        return None


class Outbox:
    """Report outcomes as webhook events, in the transaction of the outcome (for `ReportWork`)."""

    def __init__(self, settings: WebhookSettings):
        self._max_attempts = settings.max_attempts

    async def record(self, session: AsyncSession, job: TerminalJob, now: datetime) -> str | None:
        return await delivery.record_event(
            session,
            org_id=job.org_id,
            event_type=delivery.event_type_for(job.status),
            data=delivery.event_data_for_job(job),
            job_id=job.id,
            now=now,
            max_attempts=self._max_attempts,
        )


def _conforms(work: DeliveryWork) -> Work:
    return work  # mypy proves DeliveryWork is a queue `Work`
