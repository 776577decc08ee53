"""All SQL about webhooks. Reads on behalf of an org take its `org_id`; the unscoped ones say
who they are for (the operator, or the worker acting for whichever org owns a delivery)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

Row = WebhookEndpoint | WebhookEvent | WebhookDelivery | WebhookAttempt


async def add(session: AsyncSession, *rows: Row) -> None:
    session.add_all(rows)
    await session.flush()


async def delete(session: AsyncSession, row: WebhookEndpoint) -> None:
    await session.delete(row)
    await session.flush()


# -- endpoints ----------------------------------------------------------------------------------


async def get_endpoint(session: AsyncSession, org_id: str) -> WebhookEndpoint | None:
    return await session.get(WebhookEndpoint, org_id)


async def count_failed_delivery(session: AsyncSession, org_id: str, now: datetime) -> int | None:
    """One more delivery in a row that ended FAILED; the new count (None: no endpoint).

    In SQL, not read-modify-write: workers settle the same org's deliveries concurrently.
    """
    result = await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.org_id == org_id)
        .values(
            consecutive_failures=WebhookEndpoint.consecutive_failures + 1,
            updated_at=now,
        )
        .returning(WebhookEndpoint.consecutive_failures)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none()


async def reset_failures(session: AsyncSession, org_id: str, now: datetime) -> None:
    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.org_id == org_id, WebhookEndpoint.consecutive_failures != 0)
        .values(consecutive_failures=0, updated_at=now)
        .execution_options(synchronize_session=False)
    )


async def disable_if_enabled(
    session: AsyncSession, org_id: str, reason: str, now: datetime
) -> bool:
    """Disable the endpoint unless it already is; True if this call disabled it."""
    result = await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.org_id == org_id, WebhookEndpoint.enabled.is_(True))
        .values(enabled=False, disabled_reason=reason, updated_at=now)
        .returning(WebhookEndpoint.org_id)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none() is not None


# -- events and deliveries ----------------------------------------------------------------------


async def get_event_for_org(
    session: AsyncSession, org_id: str, event_id: str
) -> WebhookEvent | None:
    result = await session.execute(
        select(WebhookEvent).where(WebhookEvent.event_id == event_id, WebhookEvent.org_id == org_id)
    )
    return result.scalar_one_or_none()


async def get_event(session: AsyncSession, event_id: str) -> WebhookEvent | None:
    """Unscoped: for the operator and the worker."""
    return await session.get(WebhookEvent, event_id)


async def get_delivery(session: AsyncSession, delivery_id: str) -> WebhookDelivery | None:
    """Unscoped: for the worker, which acts for whichever org owns the delivery."""
    return await session.get(WebhookDelivery, delivery_id)


async def delivery_due_or_running(session: AsyncSession, event_id: str, now: datetime) -> bool:
    """Whether a delivery of the event is being attempted or is due to be."""
    result = await session.execute(
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.event_id == event_id,
            or_(
                WebhookDelivery.status == DeliveryStatus.PROCESSING,
                (WebhookDelivery.status == DeliveryStatus.PENDING)
                & (WebhookDelivery.run_after <= now),
            ),
        )
        .limit(1)
    )
    return result.scalar_one_or_none() is not None


async def recent_deliveries(
    session: AsyncSession, org_id: str, limit: int
) -> Sequence[tuple[WebhookDelivery, WebhookEvent]]:
    """The org's deliveries, newest first, each with its event."""
    result = await session.execute(
        select(WebhookDelivery, WebhookEvent)
        .join(WebhookEvent, WebhookEvent.event_id == WebhookDelivery.event_id)
        .where(WebhookDelivery.org_id == org_id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
        .limit(limit)
    )
    return [(delivery, event) for delivery, event in result]


async def attempts_of(
    session: AsyncSession, org_id: str, delivery_ids: Sequence[str]
) -> Sequence[WebhookAttempt]:
    """The attempts of the org's given deliveries, in order."""
    if not delivery_ids:
        return []
    result = await session.execute(
        select(WebhookAttempt)
        .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
        .where(WebhookDelivery.org_id == org_id, WebhookAttempt.delivery_id.in_(delivery_ids))
        .order_by(WebhookAttempt.delivery_id, WebhookAttempt.attempt)
    )
    return result.scalars().all()


async def forget_users_of_jobs(session: AsyncSession, job_ids: Sequence[str]) -> None:
    """Blank the user id in the events of these jobs (every org's: their reports are being
    deleted), and drop what receivers answered to them, which may echo it. The event stays,
    so a pending delivery still tells its receiver that the job ended."""
    if not job_ids:
        return
    events = await session.execute(select(WebhookEvent).where(WebhookEvent.job_id.in_(job_ids)))
    for event in events.scalars():
        if event.data.get("user_id"):
            event.data = {**event.data, "user_id": ""}
    of_jobs = select(WebhookEvent.event_id).where(WebhookEvent.job_id.in_(job_ids))
    deliveries = select(WebhookDelivery.id).where(WebhookDelivery.event_id.in_(of_jobs))
    await session.execute(
        update(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_(deliveries))
        .values(response_excerpt=None)
        .execution_options(synchronize_session=False)
    )
    await session.flush()
