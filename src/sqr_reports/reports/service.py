"""What the report API does: create a job, show it, list an org's jobs; render and store one."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sqr_reports import correlation
from sqr_reports.audit import service as audit
from sqr_reports.audit.models import AuditEvent
from sqr_reports.auth.service import Principal, check_grant
from sqr_reports.auth.tokens import TokenClaims
from sqr_reports.config import RateLimitSettings, VerdictPolicy
from sqr_reports.db.clock import SessionClock
from sqr_reports.db.reads import StatementReads
from sqr_reports.errors import FieldError, NotFound, RateLimited, Unprocessable, ValidationFailed
from sqr_reports.orgs import repository as orgs
from sqr_reports.policies import service as policies
from sqr_reports.queue.store import enqueue
from sqr_reports.rendering import Renderer
from sqr_reports.reports import document, paging, repository
from sqr_reports.reports.models import (
    IDEMPOTENCY_KEY_TTL,
    TERMINAL,
    IdempotencyKey,
    JobStatus,
    ReportJob,
    report_key,
)
from sqr_reports.reports.ratelimit import Quota, quota_after
from sqr_reports.reports.schemas import JobCreate
from sqr_reports.storage import BlobStore
from sqr_reports.users.service import load_subject

#: What an Idempotency-Key may be (the router documents it in OpenAPI; this module checks it).
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
POLL_FAST_SECONDS = 3
POLL_SLOW_SECONDS = 10
POLL_SLOWDOWN_AFTER = timedelta(seconds=30)
#: Jobs per page of the listing: when the client names no limit, and at most.
PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class JobPolicy:
    template_version: str
    max_attempts: int
    rate_limit: RateLimitSettings
    #: The verdict policy of orgs without their own.
    verdict_default: VerdictPolicy


@dataclass(frozen=True, slots=True)
class Created:
    job: ReportJob
    replayed: bool
    quota: Quota | None


async def create_job(
    session: AsyncSession,
    request: JobCreate,
    *,
    principal: Principal,
    clock: SessionClock,
    policy: JobPolicy,
    origin: audit.Origin,
    idempotency_key: str | None = None,
) -> Created:
    """Insert the job (the queue entry) in this transaction, within the org's rate limit, and
    record its creation in the audit trail; a replay creates nothing and records nothing."""
    if idempotency_key is not None and not _IDEMPOTENCY_KEY.match(idempotency_key):
        raise ValidationFailed(
            [FieldError("Idempotency-Key", "pattern", "1-255 printable ASCII characters")]
        )
    await orgs.get_for_update(session, principal.org_id)  # serialise this org's creations
    fingerprint = hashlib.sha256(request.model_dump_json().encode()).hexdigest()
    now = await clock.now(session)
    if idempotency_key is not None:
        replay = await _replay(session, principal.org_id, idempotency_key, fingerprint, now)
        if replay is not None:
            return Created(job=replay, replayed=True, quota=None)

    window = timedelta(seconds=policy.rate_limit.window_seconds)
    used, oldest = await repository.creations_since(session, principal.org_id, now - window)
    if used >= policy.rate_limit.creations_per_window:
        quota = quota_after(policy.rate_limit, used, oldest, now)
        raise RateLimited(
            f"At most {quota.limit} report jobs per {quota.window_seconds} s per organisation",
            headers={"Retry-After": str(quota.reset_seconds), **quota.headers()},
        )
    verdict_policy = await policies.current(session, principal.org_id, policy.verdict_default)
    job = ReportJob(
        id=str(uuid.uuid4()),
        org_id=principal.org_id,
        client_id=principal.client_id,
        user_id=request.userId,
        template_version=policy.template_version,
        policy_version=verdict_policy.version,
        policy=verdict_policy.values.model_dump(),
        # The worker's log lines for this job carry it, so they join up with this request's.
        request_id=correlation.request_id(),
    )
    await enqueue(session, job, now=now, max_attempts=policy.max_attempts)
    if idempotency_key is not None:
        key = IdempotencyKey(
            org_id=principal.org_id,
            key=idempotency_key,
            request_sha256=fingerprint,
            job_id=job.id,
            created_at=now,
        )
        await repository.add(session, key)
    await _record_created(session, clock, job, principal, origin)
    quota = quota_after(policy.rate_limit, used + 1, oldest or now, now)
    return Created(job=job, replayed=False, quota=quota)


async def _record_created(
    session: AsyncSession,
    clock: SessionClock,
    job: ReportJob,
    principal: Principal,
    origin: audit.Origin,
) -> None:
    """The job's ids, not its user's: the trail is kept long after an erasure, which must
    leave nothing that names the person; the job row names them for as long as it may."""
    created = audit.Entry(AuditEvent.JOB_CREATED, audit.client_actor(principal.client_id),
                          principal.org_id, job.id, origin=origin,
                          details={"policy_version": job.policy_version})  # fmt: skip
    await audit.record(session, clock, created)


async def _replay(
    session: AsyncSession, org_id: str, key: str, fingerprint: str, now: datetime
) -> ReportJob | None:
    stored = await repository.get_idempotency_key(session, org_id, key)
    if stored is None:
        return None
    if stored.created_at < now - IDEMPOTENCY_KEY_TTL:
        await repository.delete_idempotency_key(session, stored)  # expired: the key starts afresh
        return None
    if stored.request_sha256 != fingerprint:
        raise Unprocessable("This Idempotency-Key was already used with a different request body")
    return await repository.get_for_org(session, org_id, stored.job_id)


async def get_job(session: AsyncSession, principal: Principal, job_id: str) -> ReportJob:
    """The org's job; any other org's, unknown or malformed id is the same 404."""
    canonical = _canonical_id(job_id)
    job = await repository.get_for_org(session, principal.org_id, canonical) if canonical else None
    if job is None:
        raise NotFound("Report job not found")
    return job


def _canonical_id(job_id: str) -> str | None:
    """A job id as stored (a lower-case UUID), or None for one that cannot be any job's."""
    try:
        return str(uuid.UUID(job_id))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class JobStatusAnswer:
    job: repository.JobRead
    #: The polling advice (`poll_advice`), for a job that is not terminal.
    retry_after: int | None


async def job_status(
    reads: StatementReads,
    claims: TokenClaims,
    job_id: str,
    *,
    required_scope: str,
    clock: SessionClock,
) -> JobStatusAnswer:
    """A status poll, the API's hottest path, in one statement (`repository.status_for_caller`):
    the caller's per-call re-check (`auth.service.check_grant`: client active, scope still held,
    org active), the org's job, and on PostgreSQL the database's clock for the polling advice.
    The re-check is judged first, so a caller who may not read learns nothing of the job; then
    another org's job, an unknown id and a malformed id are the same 404."""
    read = await repository.status_for_caller(
        reads,
        client_id=claims.client_id,
        org_id=claims.org_id,
        job_id=_canonical_id(job_id),
        with_clock=clock.local is None,
    )
    check_grant(claims, read.grant, required_scope)
    if read.job is None:
        raise NotFound("Report job not found")
    if read.job.status in TERMINAL:
        return JobStatusAnswer(read.job, retry_after=None)
    now = clock.local.now() if clock.local is not None else read.database_now
    assert now is not None  # selected with the row when the clock is the database's
    return JobStatusAnswer(read.job, retry_after=poll_advice(read.job.created_at, now))


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of an org's jobs, newest first, and the cursor of the next (None: the last)."""

    jobs: list[ReportJob]
    next_cursor: str | None


async def list_jobs(
    session: AsyncSession,
    *,
    principal: Principal,
    status: JobStatus | None = None,
    user_id: str | None = None,
    limit: int = PAGE_SIZE,
    cursor: str | None = None,
) -> JobPage:
    """The org's jobs, newest first, from where `cursor` (a page's `next_cursor`) left off.

    The cursor only positions: the jobs are the caller's org's whatever it says (`paging`).
    """
    if not 1 <= limit <= MAX_PAGE_SIZE:
        code = "minimum" if limit < 1 else "maximum"
        raise ValidationFailed([FieldError("limit", code, f"From 1 to {MAX_PAGE_SIZE}")])
    after = paging.decode(cursor) if cursor is not None else None
    rows = await repository.page_for_org(
        session,
        principal.org_id,
        limit=limit + 1,  # one more than shown tells whether another page follows
        after=(after.created_at, after.job_id) if after else None,
        status=status,
        user_id=user_id,
    )
    jobs = rows[:limit]
    last = jobs[-1] if len(rows) > limit else None
    next_cursor = paging.encode(paging.Position(last.created_at, last.id)) if last else None
    return JobPage(jobs=jobs, next_cursor=next_cursor)


def poll_advice(created_at: datetime, now: datetime) -> int:
    """The documented polling advice for a job that is not terminal: 3-5 s at first, 10-15 s
    once it is older than 30 s.

    `now` must come from the clock that stamped `created_at` (the queue's, ADR 0011), so an API
    replica whose own clock is off still gives the right advice.
    """
    return POLL_FAST_SECONDS if now - created_at < POLL_SLOWDOWN_AFTER else POLL_SLOW_SECONDS


@dataclass(frozen=True, slots=True)
class Artifact:
    """A rendered report, stored: what a COMPLETE job records."""

    storage_key: str
    size_bytes: int
    sha256: str
    page_count: int


async def render_and_store(
    job_id: str,
    attempt: int,
    generated_at: datetime,
    *,
    read_sessions: async_sessionmaker[AsyncSession],
    renderer: Renderer,
    store: BlobStore,
) -> Artifact:
    """Render job `job_id`'s report from its user's data as it stands now, and store the PDF.

    The worker acts for whichever org owns the job, so this read alone is not scoped by an
    org: the job's own `org_id` scopes the user and the policy it is judged under. Each attempt
    stores under its own key, so a late attempt cannot overwrite a newer one's file.
    """
    async with read_sessions() as session:
        job = await repository.get(session, job_id)
        org = await orgs.get(session, job.org_id) if job is not None else None
        if job is None or org is None or job.template_version is None:
            raise LookupError(f"job {job_id} or its org is gone")
        subject = await load_subject(session, job.user_id, job.org_id)
        policy = policies.pinned(job.policy_version, job.policy)
        data = document.build(job, org, subject, generated_at=generated_at, policy=policy)
    rendered = await renderer.render(job.template_version, data, generated_at)
    key = report_key(job.org_id, job.id, attempt)
    await store.put(key, rendered.pdf, content_type="application/pdf")
    return Artifact(
        storage_key=key,
        size_bytes=len(rendered.pdf),
        sha256=hashlib.sha256(rendered.pdf).hexdigest(),
        page_count=rendered.page_count,
    )
