"""Webhook (API Client): the org's one endpoint, its deliveries, and redelivery."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from sqr_reports.apidocs.document import NO_STORE, answer, requires
from sqr_reports.auth import scopes
from sqr_reports.auth.service import Principal
from sqr_reports.dependencies import (
    QueueClockDep,
    SessionDep,
    WebhookSettingsDep,
    json_body,
    json_request_body,
    require_scope,
)
from sqr_reports.http_errors import error_responses
from sqr_reports.webhooks import service
from sqr_reports.webhooks.schemas import (
    DeliveryList,
    DeliveryView,
    WebhookRegistered,
    WebhookSet,
    WebhookView,
)

router = APIRouter(prefix="/v1/webhook", tags=["Webhook (API Client)"])

_may_write = require_scope(scopes.WRITE_WEBHOOKS)
Writer = Annotated[Principal, Depends(_may_write)]
Reader = Annotated[Principal, Depends(require_scope(scopes.READ_WEBHOOKS))]
_ERRORS = {
    401: "Missing, invalid or expired token",
    403: "Missing scope, or the org is not active",
    503: "The database is unavailable; retry after Retry-After",
}
_NO_ENDPOINT = {404: "No webhook endpoint is registered"}


@router.put(
    "",
    summary="Register or replace the webhook endpoint",
    openapi_extra=json_request_body(WebhookSet) | requires(scopes.WRITE_WEBHOOKS),
    responses={
        200: answer("The endpoint, with its new signing secret", {"Cache-Control": NO_STORE}),
        **error_responses(
            _ERRORS
            | {
                400: "Invalid body; or a refused URL: not https, credentials in it, or a host "
                "that does not resolve to public addresses only",
                415: "Body is not JSON",
            }
        ),
    },
)
async def put_webhook(
    response: Response,
    principal: Writer,
    body: Annotated[WebhookSet, json_body(WebhookSet, after=_may_write)],
    session: SessionDep,
    queue_clock: QueueClockDep,
    settings: WebhookSettingsDep,
) -> WebhookRegistered:
    """Sets the org's one endpoint and answers a new signing secret, shown only here.

    The same URL again rotates the secret (the previous one also signs for 24 h); a new URL
    replaces the secret at once. Either way the endpoint is enabled."""
    # Authorisation read through the writer session: end that transaction, so that SQLite's one
    # writer is not held while the URL's host is resolved (ADR 0006).
    await session.commit()
    endpoint, secret = await service.set_endpoint(
        session, principal.org_id, body.url, clock=queue_clock, settings=settings
    )
    await session.commit()
    response.headers["Cache-Control"] = "no-store"
    return WebhookRegistered.with_secret(endpoint, secret)


@router.get(
    "",
    summary="Get the webhook endpoint",
    openapi_extra=requires(scopes.READ_WEBHOOKS),
    responses=error_responses(_ERRORS | _NO_ENDPOINT),
)
async def get_webhook(principal: Reader, session: SessionDep) -> WebhookView:
    """The org's endpoint and whether it is enabled (never its secret)."""
    return WebhookView.of(await service.get_endpoint(session, principal.org_id))


@router.delete(
    "",
    status_code=204,
    summary="Delete the webhook endpoint",
    openapi_extra=requires(scopes.WRITE_WEBHOOKS),
    responses=error_responses(_ERRORS | _NO_ENDPOINT),
)
async def delete_webhook(principal: Writer, session: SessionDep) -> None:
    """Stops deliveries; pending ones end FAILED, past ones stay listed."""
    await service.delete_endpoint(session, principal.org_id)
    await session.commit()


@router.get(
    "/deliveries",
    summary="List webhook deliveries",
    openapi_extra=requires(scopes.READ_WEBHOOKS),
    responses=error_responses(_ERRORS | {400: "Invalid limit"}),
)
async def list_deliveries(
    principal: Reader,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LISTED)] = 20,
) -> DeliveryList:
    """The org's deliveries, newest first, each with every attempt (status, latency, excerpt)."""
    records = await service.list_deliveries(session, principal.org_id, limit)
    return DeliveryList(
        items=[DeliveryView.of(r.delivery, r.event_type, r.attempts) for r in records]
    )


@router.post(
    "/deliveries/{event_id}/redeliver",
    status_code=202,
    summary="Redeliver a webhook event",
    openapi_extra=requires(scopes.WRITE_WEBHOOKS),
    responses=error_responses(
        _ERRORS
        | {
            404: "No such event for this org",
            422: "No enabled endpoint, or a delivery of the event is already due",
        }
    ),
)
async def redeliver(
    event_id: str,
    principal: Writer,
    session: SessionDep,
    queue_clock: QueueClockDep,
    settings: WebhookSettingsDep,
) -> DeliveryView:
    """Queues a new delivery of the event, now, with the same event_id (dedupe on it)."""
    record = await service.redeliver(
        session, event_id, org_id=principal.org_id, clock=queue_clock, settings=settings
    )
    await session.commit()
    return DeliveryView.of(record.delivery, record.event_type, record.attempts)
