"""An org's webhook endpoint (register, replace, rotate, disable, enable, delete), its deliveries
and redelivery. Services flush; the caller (a route or a command) commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.clock import isoformat_ms
from sqr_reports.config import WebhookSettings
from sqr_reports.db.clock import SessionClock
from sqr_reports.errors import FieldError, NotFound, Unprocessable, ValidationFailed
from sqr_reports.orgs import repository as orgs
from sqr_reports.queue.wakeup import announce
from sqr_reports.webhooks import repository, signing, targets
from sqr_reports.webhooks.delivery import new_delivery
from sqr_reports.webhooks.models import (
    ERROR_LENGTH,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

#: The most deliveries one listing returns.
MAX_LISTED = 100
DISABLED_BY_OPERATOR = "Disabled by an operator"


async def set_endpoint(
    session: AsyncSession,
    org_id: str,
    url: str,
    *,
    clock: SessionClock,
    settings: WebhookSettings,
    resolve: targets.Resolver = targets.system_resolve,
) -> tuple[WebhookEndpoint, str]:
    """Register or replace the org's endpoint; (endpoint, its new secret, shown only now).

    Every call issues a new secret and enables the endpoint. The same URL again is a rotation:
    the previous secret keeps signing for the overlap window. A new URL may be another
    receiver, so the old secret stops at once. The target is checked (DNS included) before the
    session is first used: a caller that has not touched it yet holds no lock meanwhile.
    """
    await check_target(url, settings=settings, resolve=resolve)
    if await orgs.get_for_update(session, org_id) is None:
        raise NotFound(f"No org with id {org_id}")
    now = await clock.now(session)
    secret = signing.new_secret()
    endpoint = await repository.get_endpoint(session, org_id)
    if endpoint is None:
        endpoint = WebhookEndpoint(org_id=org_id, url=url, secret=secret, created_at=now)
        _enable(endpoint, now)
        await repository.add(session, endpoint)
        return endpoint, secret
    if endpoint.url == url:
        _rotate(endpoint, secret, now, settings)
    else:
        endpoint.url, endpoint.secret = url, secret
        endpoint.previous_secret = endpoint.previous_valid_until = None
    _enable(endpoint, now)
    await session.flush()
    return endpoint, secret


async def check_target(
    url: str, *, settings: WebhookSettings, resolve: targets.Resolver = targets.system_resolve
) -> None:
    """Refuse a URL that breaks the rules or whose host does not resolve to public addresses.

    A host that does not resolve and one that resolves to a private address get the same
    answer: telling them apart would let a caller map our internal DNS names.
    """
    try:
        await targets.vet(
            url,
            allow_private=settings.allow_private_targets,
            max_length=settings.max_url_length,
            resolve=resolve,
            resolve_seconds=settings.connect_timeout_seconds,
        )
    except targets.TargetRefused as refused:
        if refused.kind == targets.Refusal.INVALID:
            message, code = refused.message, "invalidUrl"
        else:
            message, code = "The URL's host must resolve to public addresses only", "refusedTarget"
        raise ValidationFailed([FieldError("url", code, message)], message) from None


async def get_endpoint(session: AsyncSession, org_id: str) -> WebhookEndpoint:
    endpoint = await repository.get_endpoint(session, org_id)
    if endpoint is None:
        raise NotFound("No webhook endpoint is registered")
    return endpoint


async def delete_endpoint(session: AsyncSession, org_id: str) -> None:
    """Remove the endpoint; its deliveries stay listed, and pending ones end FAILED."""
    await repository.delete(session, await get_endpoint(session, org_id))


async def rotate_secret(
    session: AsyncSession, org_id: str, *, clock: SessionClock, settings: WebhookSettings
) -> str:
    """A new secret; the current one keeps signing too for `secret_overlap_hours`."""
    endpoint = await get_endpoint(session, org_id)
    secret = signing.new_secret()
    _rotate(endpoint, secret, await clock.now(session), settings)
    await session.flush()
    return secret


async def disable(
    session: AsyncSession, org_id: str, reason: str, *, clock: SessionClock
) -> WebhookEndpoint:
    endpoint = await get_endpoint(session, org_id)
    endpoint.enabled = False
    endpoint.disabled_reason = reason[:ERROR_LENGTH]
    endpoint.updated_at = await clock.now(session)
    await session.flush()
    return endpoint


async def enable(session: AsyncSession, org_id: str, *, clock: SessionClock) -> WebhookEndpoint:
    """Deliver again (from the next event; failed deliveries are redelivered one by one)."""
    endpoint = await get_endpoint(session, org_id)
    _enable(endpoint, await clock.now(session))
    await session.flush()
    return endpoint


def _rotate(
    endpoint: WebhookEndpoint, secret: str, now: datetime, settings: WebhookSettings
) -> None:
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_valid_until = now + timedelta(hours=settings.secret_overlap_hours)
    endpoint.secret = secret
    endpoint.updated_at = now


def _enable(endpoint: WebhookEndpoint, now: datetime) -> None:
    endpoint.enabled = True
    endpoint.disabled_reason = None
    endpoint.consecutive_failures = 0
    endpoint.updated_at = now


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    delivery: WebhookDelivery
    event_type: str
    attempts: Sequence[WebhookAttempt]


async def list_deliveries(
    session: AsyncSession, org_id: str, limit: int = 20
) -> list[DeliveryRecord]:
    """The org's deliveries, newest first, each with its attempts in order."""
    rows = await repository.recent_deliveries(session, org_id, min(max(limit, 1), MAX_LISTED))
    attempts = await repository.attempts_of(session, org_id, [d.id for d, _ in rows])
    by_delivery: dict[str, list[WebhookAttempt]] = {}
    for row in attempts:
        by_delivery.setdefault(row.delivery_id, []).append(row)
    return [DeliveryRecord(d, e.event_type, by_delivery.get(d.id, [])) for d, e in rows]


async def redeliver(
    session: AsyncSession,
    event_id: str,
    *,
    org_id: str | None,
    clock: SessionClock,
    settings: WebhookSettings,
) -> DeliveryRecord:
    """A new delivery of an event, due now, with the same `event_id` (receivers dedupe on it).

    `org_id` None is the operator, who may redeliver any org's event. Refused while a delivery
    of the event is being attempted or is due anyway: it would only duplicate it.
    """
    if org_id is None:
        event = await repository.get_event(session, event_id)
    else:
        event = await repository.get_event_for_org(session, org_id, event_id)
    if event is None:
        raise NotFound("No such webhook event")
    endpoint = await repository.get_endpoint(session, event.org_id)
    if endpoint is None or not endpoint.enabled:
        raise Unprocessable("There is no enabled webhook endpoint to deliver to")
    now = await clock.now(session)
    if await repository.delivery_due_or_running(session, event.event_id, now):
        raise Unprocessable("A delivery of this event is already due or in progress")
    delivery = new_delivery(event, now=now, max_attempts=settings.max_attempts)
    await repository.add(session, delivery)
    await announce(session)
    return DeliveryRecord(delivery, event.event_type, [])


def describe_endpoint(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """The endpoint as the commands print it (never a secret)."""
    until = endpoint.previous_valid_until
    return {
        "org_id": endpoint.org_id,
        "url": endpoint.url,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "consecutive_failures": endpoint.consecutive_failures,
        "previous_secret_valid_until": isoformat_ms(until) if until else None,
        "created_at": isoformat_ms(endpoint.created_at),
        "updated_at": isoformat_ms(endpoint.updated_at),
    }


def describe_delivery(record: DeliveryRecord) -> dict[str, Any]:
    """A delivery and its attempts as the commands print them."""
    delivery = record.delivery
    return {
        "delivery_id": delivery.id,
        "event_id": delivery.event_id,
        "event_type": record.event_type,
        "status": delivery.status,
        "created_at": isoformat_ms(delivery.created_at),
        "delivered_at": _when(delivery.delivered_at),
        "next_attempt_at": (
            _when(delivery.run_after) if delivery.status == DeliveryStatus.PENDING else None
        ),
        "last_error": delivery.last_error,
        "attempts": [
            {
                "attempt": row.attempt,
                "started_at": isoformat_ms(row.started_at),
                "status_code": row.status_code,
                "latency_ms": row.latency_ms,
                "error": row.error,
                "response_excerpt": row.response_excerpt,
            }
            for row in record.attempts
        ],
    }


def _when(value: datetime | None) -> str | None:
    return isoformat_ms(value) if value else None


async def forget_jobs(session: AsyncSession, job_ids: Sequence[str]) -> None:
    """Forget the user of these jobs in their events (their reports are being deleted)."""
    await repository.forget_users_of_jobs(session, job_ids)
