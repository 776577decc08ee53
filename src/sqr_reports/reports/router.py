"""PDF Report (API Client): create a job, poll it, get its download URL."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response

from sqr_reports.auth import scopes
from sqr_reports.auth.service import Principal
from sqr_reports.dependencies import (
    ClaimsDep,
    ClockDep,
    DownloadLinksDep,
    JobPolicyDep,
    QueueClockDep,
    SessionDep,
    StatementReadsDep,
    StoreDep,
    json_body,
    json_request_body,
    require_scope,
)
from sqr_reports.http_errors import error_responses
from sqr_reports.reports import paging, service
from sqr_reports.reports.models import JobStatus
from sqr_reports.reports.schemas import (
    DownloadUrl,
    JobAccepted,
    JobCreate,
    JobList,
    JobView,
    UserId,
)

router = APIRouter(prefix="/v1/document/api", tags=["PDF Report (API Client)"])

_may_write = require_scope(scopes.WRITE_REPORTS)
Writer = Annotated[Principal, Depends(_may_write)]
Reader = Annotated[Principal, Depends(require_scope(scopes.READ_REPORTS))]
Downloader = Annotated[Principal, Depends(require_scope(scopes.DOWNLOAD_REPORTS))]
_ERRORS = {
    400: "Invalid request body or header",
    401: "Missing, invalid or expired token",
    403: "Missing scope, or the org is not active",
    404: "No such job for this org",
    503: "The database is unavailable; retry after Retry-After",
}


@router.post(
    "",
    status_code=202,
    summary="Create a PDF report generation job",
    openapi_extra=json_request_body(JobCreate),
    responses=error_responses(
        _ERRORS
        | {
            415: "Body is not JSON",
            422: "Idempotency-Key reused with another body",
            429: "More than 10 creations in 600 s for this org; see Retry-After",
        }
    ),
)
async def create_job(
    response: Response,
    principal: Writer,
    body: Annotated[JobCreate, json_body(JobCreate, after=_may_write)],
    session: SessionDep,
    queue_clock: QueueClockDep,
    policy: JobPolicyDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Makes retries safe: the same key and body return the same job.",
            # Documented only: the service checks it, to answer in the house envelope.
            json_schema_extra={"pattern": service.IDEMPOTENCY_KEY_PATTERN},
        ),
    ] = None,
) -> JobAccepted:
    """Enqueues an async PDF report generation job for the user; returns 202 at once."""
    created = await service.create_job(
        session,
        body,
        principal=principal,
        clock=queue_clock,
        policy=policy,
        idempotency_key=idempotency_key,
    )
    await session.commit()
    response.headers["Location"] = f"{router.prefix}/{created.job.id}"
    if created.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    if created.quota is not None:
        response.headers.update(created.quota.headers())
    return JobAccepted.of(created.job)


@router.get(
    "",
    summary="List report jobs",
    responses=error_responses(
        {code: text for code, text in _ERRORS.items() if code != 404}
        | {400: "Invalid status, userId, limit or cursor"}
    ),
)
async def list_jobs(
    response: Response,
    principal: Reader,
    session: SessionDep,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status.")] = None,
    user_id: Annotated[
        UserId | None, Query(alias="userId", description="Only jobs for this SQR user id.")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=service.MAX_PAGE_SIZE, description="Jobs per page.")
    ] = service.PAGE_SIZE,
    cursor: Annotated[
        str | None,
        Query(
            max_length=paging.MAX_LENGTH,
            description="The previous page's `nextCursor`, unchanged; omit for the first page.",
        ),
    ] = None,
) -> JobList:
    """The org's jobs, newest first, a page at a time (follow `nextCursor` until it is null)."""
    page = await service.list_jobs(
        session, principal=principal, status=status, user_id=user_id, limit=limit, cursor=cursor
    )
    response.headers["Cache-Control"] = "no-store"
    return JobList(items=[JobView.of(job) for job in page.jobs], nextCursor=page.next_cursor)


# The hot path: one statement per poll (service.job_status), and the body serialised here as
# FastAPI would (pydantic's JSON of the response model) without validating the view again.
@router.get(
    "/{job_id}",
    summary="Get report job status",
    response_model=JobView,
    responses=error_responses(_ERRORS),
)
async def get_job(
    job_id: str, claims: ClaimsDep, reads: StatementReadsDep, queue_clock: QueueClockDep
) -> Response:
    """Current status of a job; poll until COMPLETE or FAILED (Retry-After says when)."""
    status = await service.job_status(
        reads, claims, job_id, required_scope=scopes.READ_REPORTS, clock=queue_clock
    )
    headers = {"Cache-Control": "no-store"}
    if status.retry_after is not None:
        headers["Retry-After"] = str(status.retry_after)
    body = JobView.of(status.job).model_dump_json()
    return Response(body, media_type="application/json", headers=headers)


@router.get(
    "/{job_id}/url",
    summary="Get a signed download URL for a completed PDF report",
    responses=error_responses(_ERRORS | {422: "The job is not COMPLETE"}),
)
async def get_download_url(
    job_id: str,
    response: Response,
    principal: Downloader,
    session: SessionDep,
    clock: ClockDep,
    store: StoreDep,
    links: DownloadLinksDep,
) -> DownloadUrl:
    """A URL valid for 300 s; scope and permissions are re-checked on every call."""
    signed = await service.mint_download_url(
        session,
        job_id,
        principal=principal,
        clock=clock,
        store=store,
        ttl_seconds=links.ttl_seconds,
    )
    response.headers["Cache-Control"] = "no-store"
    return DownloadUrl.of(signed, base_url=links.base_url)
