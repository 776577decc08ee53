"""Download URLs: a fresh one on every call for a COMPLETE report that still exists, each
recorded in the audit trail before it is handed out; and each download the service serves
itself (the local store), recorded before it is served (ADR 0021)."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.audit import service as audit
from sqr_reports.audit.models import AuditEvent
from sqr_reports.auth.service import Principal
from sqr_reports.clock import Clock
from sqr_reports.db.clock import SessionClock
from sqr_reports.errors import Gone, NotFound, Unprocessable
from sqr_reports.reports import repository
from sqr_reports.reports.models import Deletion, JobStatus, ReportJob, report_of_key
from sqr_reports.reports.service import get_job
from sqr_reports.storage import BlobStore, SignedUrl

#: The envelope's `error` of a 410: the report's retention period ended, or it was deleted.
REPORT_EXPIRED = "REPORT_EXPIRED"
REPORT_DELETED = "REPORT_DELETED"


async def mint_download_url(
    session: AsyncSession,
    job_id: str,
    *,
    principal: Principal,
    clock: Clock,
    queue_clock: SessionClock,
    store: BlobStore,
    ttl_seconds: int,
    origin: audit.Origin,
) -> SignedUrl:
    """A URL for the org's report, valid `ttl_seconds` by the process clock (which the URL's
    checker reads, ADR 0011). Nothing is cached. In a transaction that writes: the minting
    is recorded in it, and the caller commits before answering."""
    job = await get_job(session, principal, job_id)
    if job.deleted_at is not None:
        raise gone(job)
    if job.status != JobStatus.COMPLETE or job.storage_key is None:
        raise Unprocessable(f"Report is not ready: job status is {job.status}")
    expires_at = clock.now() + timedelta(seconds=ttl_seconds)
    url = store.presign_get(job.storage_key, filename=download_filename(job), expires_at=expires_at)
    minted = audit.Entry(AuditEvent.REPORT_URL_MINTED, audit.client_actor(principal.client_id),
                         principal.org_id, job.id, origin=origin,
                         details={"expires_in_seconds": ttl_seconds})  # fmt: skip
    await audit.record(session, queue_clock, minted)
    return SignedUrl(url=url, expires_at=expires_at, ttl_seconds=ttl_seconds)


def gone(job: ReportJob) -> Gone:
    """410 for a report that is no more: `REPORT_EXPIRED` after its retention period,
    `REPORT_DELETED` after its org or an operator deleted it."""
    if job.deletion == Deletion.EXPIRED:
        return Gone(REPORT_EXPIRED, "The report was deleted at the end of its retention period")
    return Gone(REPORT_DELETED, "The report was deleted")


def download_filename(job: ReportJob) -> str:
    user = re.sub(r"[^A-Za-z0-9]", "", job.user_id) or "user"
    return f"sqr-identity-report-{user}-{job.id[:8]}.pdf"


async def record_download(
    session: AsyncSession, key: str, *, clock: SessionClock, origin: audit.Origin
) -> None:
    """A download through a URL this service signed (the local store), recorded before it is
    served. A report deleted since the URL was minted is not served (410), even if its PDF is
    still on its way out of the store. Downloads from S3 never reach the service: S3's own
    access logs record those."""
    found = report_of_key(key)
    job = await repository.get(session, found[1]) if found is not None else None
    if job is None or found is None or job.org_id != found[0]:
        raise NotFound("Not found")
    if job.deleted_at is not None:
        raise gone(job)
    downloaded = audit.Entry(
        AuditEvent.REPORT_DOWNLOADED,
        audit.SIGNED_URL,
        org_id=job.org_id,
        job_id=job.id,
        origin=origin,
    )
    await audit.record(session, clock, downloaded)
