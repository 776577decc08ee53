"""The outbox and the steps of one delivery, for the queue that runs them (`sqr_reports.queue`).

The queue owns a delivery row's queue columns (status, attempts, lease, run_after) and fences
every write to them; these functions own the rest and never touch those columns:

- `record_event`, in the transaction that makes a job COMPLETE or FAILED (the outbox: the event
  exists if and only if the state does), adds the event and its first PENDING delivery;
- `prepare` reads what an attempt needs; `attempt` checks the target and POSTs (no database, so
  no transaction is held open across the network); `settle` records the attempt and what it
  means for the endpoint, in the transaction that finishes or requeues the delivery;
- `retry.backoff_seconds` and `retry.DEFAULT_MAX_ATTEMPTS` are the schedule.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypedDict

from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.config import WebhookSettings
from sqr_reports.queue.wakeup import announce
from sqr_reports.webhooks import repository, signing, targets
from sqr_reports.webhooks.models import (
    ERROR_LENGTH,
    URL_LENGTH,
    DeliveryStatus,
    EventType,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
)
from sqr_reports.webhooks.sender import AttemptResult, WebhookSender

#: The envelope's `version`: changes only if the meaning of a field does.
EVENT_VERSION = 1
#: What `record_abandoned` is for: the endpoint was deleted or disabled before the delivery ran.
NO_ENDPOINT = "No enabled webhook endpoint when the delivery's turn came"


class ReportEventData(TypedDict):
    """The `data` of REPORT_COMPLETED and REPORT_FAILED. Never a download URL: a receiver that
    wants the PDF asks the API for a URL with its own token."""

    job_id: str
    user_id: str
    status: str
    error_code: str | None
    size_bytes: int | None
    sha256: str | None
    page_count: int | None


DATA_KEYS = frozenset(ReportEventData.__annotations__)


class TerminalJob(Protocol):
    """What an event needs of a job (`reports.models.ReportJob` has it)."""

    @property
    def id(self) -> str: ...
    @property
    def org_id(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def error_code(self) -> str | None: ...
    @property
    def size_bytes(self) -> int | None: ...
    @property
    def sha256(self) -> str | None: ...
    @property
    def page_count(self) -> int | None: ...


def event_type_for(status: str) -> EventType:
    """REPORT_COMPLETED for a COMPLETE job, REPORT_FAILED for a FAILED one."""
    types = {"COMPLETE": EventType.REPORT_COMPLETED, "FAILED": EventType.REPORT_FAILED}
    if status not in types:
        raise ValueError(f"a job in status {status} is not terminal")
    return types[status]


def event_data_for_job(job: TerminalJob) -> ReportEventData:
    return ReportEventData(
        job_id=job.id,
        user_id=job.user_id,
        status=str(job.status),
        error_code=job.error_code,
        size_bytes=job.size_bytes,
        sha256=job.sha256,
        page_count=job.page_count,
    )


async def record_event(
    session: AsyncSession,
    *,
    org_id: str,
    event_type: str,
    data: ReportEventData | dict[str, Any],
    job_id: str,
    now: datetime,
    max_attempts: int,
) -> str | None:
    """Add the event and a delivery due `now`, if the org has an enabled endpoint; its id.

    Flushes only: the caller commits it with the job's terminal state.
    """
    EventType(event_type)  # ValueError for anything else
    if set(data) != DATA_KEYS:
        raise ValueError(f"event data must have exactly the keys {sorted(DATA_KEYS)}")
    endpoint = await repository.get_endpoint(session, org_id)
    if endpoint is None or not endpoint.enabled:
        return None
    event = WebhookEvent(
        event_id=str(uuid.uuid4()),
        org_id=org_id,
        event_type=event_type,
        occurred_at=now,
        version=EVENT_VERSION,
        data=dict(data),
        job_id=job_id,
    )
    await repository.add(session, event)
    await repository.add(session, new_delivery(event, now=now, max_attempts=max_attempts))
    await announce(session)  # wakes a worker once the job's outcome commits
    return event.event_id


def new_delivery(event: WebhookEvent, *, now: datetime, max_attempts: int) -> WebhookDelivery:
    return WebhookDelivery(
        id=str(uuid.uuid4()),
        event_id=event.event_id,
        org_id=event.org_id,
        status=DeliveryStatus.PENDING,
        attempts=0,
        max_attempts=max_attempts,
        run_after=now,
        created_at=now,
        updated_at=now,
    )


@dataclass(frozen=True, slots=True)
class Prepared:
    """Everything an attempt needs, read in one short transaction."""

    delivery_id: str
    event_id: str
    org_id: str
    url: str
    body: bytes
    secret: str = field(repr=False)
    previous_secret: str | None = field(repr=False)
    previous_valid_until: datetime | None


async def prepare(session: AsyncSession, delivery_id: str) -> Prepared | None:
    """The delivery's body and endpoint; None if the delivery, or an enabled endpoint, is gone
    (end the delivery FAILED, with `record_abandoned(..., NO_ENDPOINT)`)."""
    delivery = await repository.get_delivery(session, delivery_id)
    if delivery is None:
        return None
    endpoint = await repository.get_endpoint(session, delivery.org_id)
    event = await repository.get_event(session, delivery.event_id)
    if endpoint is None or not endpoint.enabled or event is None:
        return None
    body = signing.envelope(
        event_id=event.event_id,
        event_type=event.event_type,
        occurred_at=event.occurred_at,
        version=event.version,
        data=event.data,
    )
    return Prepared(
        delivery_id=delivery.id,
        event_id=event.event_id,
        org_id=delivery.org_id,
        url=endpoint.url,
        body=body,
        secret=endpoint.secret,
        previous_secret=endpoint.previous_secret,
        previous_valid_until=endpoint.previous_valid_until,
    )


async def attempt(
    prepared: Prepared, *, sender: WebhookSender, allow_private: bool, now: datetime
) -> AttemptResult:
    """Check the target again (DNS answers change) and POST to a checked address. `now` is the
    queue's clock: it dates the attempt and decides whether the previous secret still signs."""
    try:
        vetted = await targets.vet(
            prepared.url,
            allow_private=allow_private,
            # The column's bound, not the setting: lowering the setting must not break
            # endpoints registered before.
            max_length=URL_LENGTH,
            resolve=sender.resolve,
            resolve_seconds=sender.settings.connect_timeout_seconds,
        )
    except targets.TargetRefused as refused:
        return AttemptResult(
            ok=False,
            error=refused.message,
            transient=refused.transient,
            started_at=now,
            url=prepared.url,
        )
    overlapping = prepared.previous_valid_until is not None and now < prepared.previous_valid_until
    headers = signing.signature_headers(
        prepared.body,
        event_id=prepared.event_id,
        secret=prepared.secret,
        previous_secret=prepared.previous_secret if overlapping else None,
        timestamp=int(sender.clock.now().timestamp()),
    )
    return await sender.post(vetted, prepared.body, headers, started_at=now)


async def settle(
    session: AsyncSession,
    delivery_id: str,
    attempt_number: int,
    result: AttemptResult,
    *,
    final: bool,
    now: datetime,
    settings: WebhookSettings,
) -> None:
    """Record the attempt; on success date the delivery and reset the endpoint's failure count;
    on failure keep the error and, when `final` (the delivery ends FAILED), count a failed
    delivery and disable the endpoint at `settings.disable_after_failures` in a row."""
    delivery = await repository.get_delivery(session, delivery_id)
    if delivery is None:
        return
    await repository.add(session, _attempt_row(delivery_id, attempt_number, result, now))
    if result.ok:
        delivery.delivered_at = now
        delivery.last_error = None
        await repository.reset_failures(session, delivery.org_id, now)
    else:
        delivery.last_error = _error_of(result)
        if final:
            await _count_failed_delivery(
                session, delivery.org_id, delivery.last_error, settings, now
            )
    await session.flush()


async def record_abandoned(session: AsyncSession, delivery_id: str, reason: str) -> None:
    """Keep why a delivery ended without an attempt (the queue sets its status and dates)."""
    delivery = await repository.get_delivery(session, delivery_id)
    if delivery is not None:
        delivery.last_error = reason[:ERROR_LENGTH]
        await session.flush()


def _attempt_row(
    delivery_id: str, number: int, result: AttemptResult, now: datetime
) -> WebhookAttempt:
    return WebhookAttempt(
        delivery_id=delivery_id,
        attempt=number,
        started_at=result.started_at or now,
        url=result.url,
        status_code=result.status_code,
        latency_ms=result.latency_ms,
        error=result.error[:ERROR_LENGTH] if result.error else None,
        response_excerpt=result.response_excerpt,
    )


def _error_of(result: AttemptResult) -> str:
    if result.error:
        return result.error[:ERROR_LENGTH]
    return f"HTTP {result.status_code}" if result.status_code else "failed"


async def _count_failed_delivery(
    session: AsyncSession, org_id: str, error: str, settings: WebhookSettings, now: datetime
) -> None:
    failures = await repository.count_failed_delivery(session, org_id, now)
    if failures is not None and failures >= settings.disable_after_failures:
        reason = f"{failures} deliveries in a row failed; the last: {error}"
        await repository.disable_if_enabled(session, org_id, reason[:ERROR_LENGTH], now)
