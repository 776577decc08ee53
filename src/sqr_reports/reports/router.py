"""PDF Report (API Client): create a job, poll it, get its download URL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from sqr_reports.apidocs.document import (
    IDEMPOTENT_REPLAYED,
    LOCATION,
    NO_STORE,
    POLL_AGAIN,
    PREFERENCE_APPLIED,
    RATE_LIMIT,
    RATE_LIMIT_POLICY,
    SECONDS,
    answer,
    header,
    optional,
    requires,
)
from sqr_reports.auth import scopes
from sqr_reports.auth.service import Principal
from sqr_reports.auth.tokens import TokenClaims
from sqr_reports.db.clock import SessionClock
from sqr_reports.db.reads import StatementReads
from sqr_reports.dependencies import (
    ClaimsDep,
    ClockDep,
    DownloadLinksDep,
    JobPolicyDep,
    OriginDep,
    QueueClockDep,
    SessionDep,
    StatementReadsDep,
    StoreDep,
    WriteSessionDep,
    get_waiting,
    json_body,
    json_request_body,
    require_scope,
)
from sqr_reports.errors import Forbidden, Unauthenticated
from sqr_reports.http_errors import error_responses
from sqr_reports.reports import downloads, paging, service
from sqr_reports.reports import waiting as waiting_module
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
#: `Prefer`, documented here and read from the request only when present: as a declared
#: parameter, FastAPI's validation of it cost a status poll 0.05 ms of CPU (a seventh).
_PREFER = {
    "parameters": [
        {
            "name": "Prefer",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "examples": ["wait=10"]},
            "description": (
                "RFC 7240. `wait=N`: answer once the job is COMPLETE or FAILED, or after N "
                f"seconds (at most {waiting_module.MAX_WAIT_SECONDS}); the answer then carries "
                "`Preference-Applied: wait=N` with the N applied. Other preferences are ignored."
            ),
        }
    ]
}
_ERRORS = {
    401: "Missing, invalid or expired token",
    403: "Missing scope, or the org is not active",
    503: "The database is unavailable; retry after Retry-After",
}
_NO_JOB = {404: "No such job for this org: another org's, an unknown or a malformed id"}
#: The creation quota's headers (`ratelimit.Quota.headers`).
_QUOTA = {"RateLimit-Policy": RATE_LIMIT_POLICY, "RateLimit": RATE_LIMIT}
_WAITED = "Sent only when the request asked `Prefer: wait=N`."
_POLL_AGAIN = optional(POLL_AGAIN, "Sent while the job is PENDING or PROCESSING, never after.")


@router.post(
    "",
    status_code=202,
    summary="Create a PDF report generation job",
    response_model=JobAccepted,
    openapi_extra=json_request_body(JobCreate) | _PREFER | requires(scopes.WRITE_REPORTS),
    responses={
        202: answer(
            "Accepted: the job is queued. With `Prefer: wait=N`: the job once it is COMPLETE or "
            "FAILED, or N seconds later, with every field of its status (`JobView`).",
            {
                "Location": LOCATION,
                **{name: optional(h, "Not sent on a replay.") for name, h in _QUOTA.items()},
                "Idempotent-Replayed": optional(IDEMPOTENT_REPLAYED, "Sent on a replay only."),
                "Preference-Applied": optional(PREFERENCE_APPLIED, _WAITED),
                "Retry-After": optional(POLL_AGAIN, "Sent after a wait that did not end it."),
            },
        ),
        **error_responses(
            _ERRORS
            | {
                400: "Invalid body or Idempotency-Key",
                415: "Body is not JSON",
                422: "Idempotency-Key reused with another body",
                429: "More than 10 creations in 600 s for this org; see Retry-After",
            },
            headers={
                429: _QUOTA
                | {"Retry-After": header("Seconds until a creation slot frees.", SECONDS)}
            },
        ),
    },
)
async def create_job(
    response: Response,
    principal: Writer,
    body: Annotated[JobCreate, json_body(JobCreate, after=_may_write)],
    session: SessionDep,
    queue_clock: QueueClockDep,
    policy: JobPolicyDep,
    claims: ClaimsDep,
    statement_reads: StatementReadsDep,
    request: Request,
    origin: OriginDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Makes retries safe: the same key and body return the same job.",
            # Documented only: the service checks it, to answer in the house envelope.
            json_schema_extra={"pattern": service.IDEMPOTENCY_KEY_PATTERN},
        ),
    ] = None,
) -> JobAccepted | Response:
    """Enqueues an async PDF report generation job for the user; returns 202 at once, or with
    `Prefer: wait=N` once the job is terminal or N seconds have passed (the body is then the
    job as its status shows it)."""
    created = await service.create_job(
        session,
        body,
        principal=principal,
        clock=queue_clock,
        policy=policy,
        origin=origin,
        idempotency_key=idempotency_key,
    )
    await session.commit()
    response.headers["Location"] = f"{router.prefix}/{created.job.id}"
    if created.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    if created.quota is not None:
        response.headers.update(created.quota.headers())
    prefer = request.headers.getlist("Prefer")
    seconds = waiting_module.requested_wait(prefer) if prefer else None
    # Waiting reads the job's status, so only a caller who may read it can ask to wait.
    if seconds is None or scopes.READ_REPORTS not in claims.scopes:
        return JobAccepted.of(created.job)
    poll = _status_reader(statement_reads, claims, created.job.id, queue_clock)
    try:
        status = await waiting_module.until_terminal(
            poll, await poll(), waiting=await get_waiting(request), seconds=seconds
        )
    except (Unauthenticated, Forbidden):
        return JobAccepted.of(created.job)  # its grant changed meanwhile: created, not waited
    headers = dict(response.headers) | {"Preference-Applied": f"wait={seconds}"}
    return _job_response(status, headers, status_code=202)


@router.get(
    "",
    summary="List report jobs",
    openapi_extra=requires(scopes.READ_REPORTS),
    responses={
        200: answer("A page of the org's jobs, newest first", {"Cache-Control": NO_STORE}),
        **error_responses(_ERRORS | {400: "Invalid status, userId, limit or cursor"}),
    },
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


# The hot path: one statement per poll (service.job_status).
@router.get(
    "/{job_id}",
    summary="Get report job status",
    response_model=JobView,
    openapi_extra=_PREFER | requires(scopes.READ_REPORTS),
    responses={
        200: answer(
            "The job",
            {
                "Cache-Control": NO_STORE,
                "Retry-After": _POLL_AGAIN,
                "Preference-Applied": optional(PREFERENCE_APPLIED, _WAITED),
            },
        ),
        **error_responses(_ERRORS | _NO_JOB),
    },
)
async def get_job(
    job_id: str,
    claims: ClaimsDep,
    reads: StatementReadsDep,
    queue_clock: QueueClockDep,
    request: Request,
) -> Response:
    """Current status of a job; poll until COMPLETE or FAILED (Retry-After says when), or
    send `Prefer: wait=N` to be answered once it is, or after N seconds."""
    poll = _status_reader(reads, claims, job_id, queue_clock)
    status = await poll()
    headers = {"Cache-Control": "no-store"}
    prefer = request.headers.getlist("Prefer")
    seconds = waiting_module.requested_wait(prefer) if prefer else None
    if seconds is not None:
        waiting = await get_waiting(request)
        status = await waiting_module.until_terminal(poll, status, waiting=waiting, seconds=seconds)
        headers["Preference-Applied"] = f"wait={seconds}"
    return _job_response(status, headers)


def _status_reader(
    reads: StatementReads, claims: TokenClaims, job_id: str, queue_clock: SessionClock
) -> Callable[[], Awaitable[service.JobStatusAnswer]]:
    """A status poll of `job_id` by `claims`' caller, re-checked each time it is made."""

    def poll() -> Awaitable[service.JobStatusAnswer]:
        return service.job_status(
            reads, claims, job_id, required_scope=scopes.READ_REPORTS, clock=queue_clock
        )

    return poll


def _job_response(
    status: service.JobStatusAnswer, headers: dict[str, str], status_code: int = 200
) -> Response:
    """The job as its status shows it, serialised as FastAPI would (pydantic's JSON of the
    response model) without validating the view again: the poll is the API's hot path."""
    if status.retry_after is not None:
        headers["Retry-After"] = str(status.retry_after)
    body = JobView.of(status.job).model_dump_json()
    return Response(body, status_code, headers, media_type="application/json")


@router.get(
    "/{job_id}/url",
    summary="Get a signed download URL for a completed PDF report",
    openapi_extra=requires(scopes.DOWNLOAD_REPORTS),
    responses={
        200: answer("A new signed URL, valid for 300 s", {"Cache-Control": NO_STORE}),
        **error_responses(
            _ERRORS
            | _NO_JOB
            | {
                410: "The report is gone: `error` is REPORT_EXPIRED after its retention period, "
                "REPORT_DELETED after a DELETE or its user's erasure",
                422: "The job is not COMPLETE",
            }
        ),
    },
)
async def get_download_url(
    job_id: str,
    response: Response,
    principal: Downloader,
    session: WriteSessionDep,
    clock: ClockDep,
    queue_clock: QueueClockDep,
    store: StoreDep,
    links: DownloadLinksDep,
    origin: OriginDep,
) -> DownloadUrl:
    """A URL valid for 300 s; scope and permissions are re-checked on every call, and each
    URL minted is recorded in the audit trail (who, from where, when)."""
    signed = await downloads.mint_download_url(
        session,
        job_id,
        principal=principal,
        clock=clock,
        queue_clock=queue_clock,
        store=store,
        ttl_seconds=links.ttl_seconds,
        origin=origin,
    )
    await session.commit()  # the record of the minting, before the URL is handed out
    response.headers["Cache-Control"] = "no-store"
    return DownloadUrl.of(signed, base_url=links.base_url)
