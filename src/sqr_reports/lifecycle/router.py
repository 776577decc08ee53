"""PDF Report (API Client): delete a report before its retention period ends."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from sqr_reports.apidocs.document import requires
from sqr_reports.auth import scopes
from sqr_reports.auth.service import Principal
from sqr_reports.dependencies import (
    OriginDep,
    QueueClockDep,
    RetentionDep,
    SessionDep,
    require_scope,
)
from sqr_reports.http_errors import error_responses
from sqr_reports.lifecycle import service

router = APIRouter(prefix="/v1/document/api", tags=["PDF Report (API Client)"])

Deleter = Annotated[Principal, Depends(require_scope(scopes.DELETE_REPORTS))]
_ERRORS = {
    401: "Missing, invalid or expired token",
    403: "Missing scope (delete:reports), or the org is not active",
    404: "No such job for this org: another org's, an unknown or a malformed id",
    503: "The database is unavailable; retry after Retry-After",
}
_DELETED = (
    "Deleted, or deleted or expired already (DELETE is idempotent): the job's personal fields "
    "are gone and its PDF is being removed from the store; the job stays as a tombstone "
    "(`deletedAt`). A job not yet COMPLETE or FAILED ends FAILED (REPORT_DELETED), unrendered."
)


@router.delete(
    "/{job_id}",
    status_code=204,
    summary="Delete a report",
    openapi_extra=requires(scopes.DELETE_REPORTS),
    responses={204: {"description": _DELETED}, **error_responses(_ERRORS)},
)
async def delete_job(
    job_id: str,
    principal: Deleter,
    session: SessionDep,
    queue_clock: QueueClockDep,
    retention: RetentionDep,
    origin: OriginDep,
) -> Response:
    """Deletes the report now, whatever its retention period: its PDF and the job's personal
    fields. `/url` then answers 410 REPORT_DELETED."""
    await service.delete_report(
        session,
        job_id,
        principal=principal,
        clock=queue_clock,
        retention=retention,
        origin=origin,
    )
    await session.commit()
    return Response(status_code=204)
