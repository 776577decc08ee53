from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sqr_reports.db.base import Base, UTCDateTime
from sqr_reports.queue.table import Queued, QueueState


class JobStatus(StrEnum):
    PENDING = QueueState.PENDING.value
    PROCESSING = QueueState.PROCESSING.value
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"


TERMINAL = frozenset({JobStatus.COMPLETE, JobStatus.FAILED})


class Deletion(StrEnum):
    """Why a job's report (its PDF and its personal fields) is gone (ADR 0021)."""

    #: Its retention period ended.
    EXPIRED = "EXPIRED"
    #: Its org deleted it (`DELETE /v1/document/api/{id}`).
    DELETED = "DELETED"
    #: An operator erased its user (`sqr-reports user erase`).
    ERASED = "ERASED"


#: The longest `errorMessage` a job keeps (longer ones are cut to fit the column).
ERROR_MESSAGE_LENGTH = 500
#: How long an Idempotency-Key is remembered (as long as Stripe's): retries come within minutes.
IDEMPOTENCY_KEY_TTL = timedelta(hours=24)


def report_key(org_id: str, job_id: str, attempt: int) -> str:
    """Where attempt `attempt` of a job stores its PDF: each attempt under its own key, so a
    late attempt cannot overwrite a newer one's file, and deleting a report means deleting
    the keys of attempts 1 to `attempts` (`lifecycle.work`)."""
    return f"reports/{org_id}/{job_id}/{attempt}.pdf"


def report_of_key(key: str) -> tuple[str, str] | None:
    """The (org id, job id) whose PDF `key` is (`report_key`'s inverse), or None."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != "reports" or not parts[3].endswith(".pdf"):
        return None
    return parts[1], parts[2]


class ReportJob(Queued, Base):
    """A report job. The table is also the queue: workers claim rows with a lease (`Queued`)."""

    __tablename__ = "report_jobs"
    __table_args__ = (
        # The job listing, newest first (and the rate limit's window); the listing's filters.
        Index("ix_report_jobs_org_created", "org_id", "created_at"),
        Index("ix_report_jobs_org_status", "org_id", "status", "created_at"),
        Index("ix_report_jobs_org_user", "org_id", "user_id", "created_at"),
        Index("ix_report_jobs_queue", "status", "run_after"),
        Index("ix_report_jobs_lease", "status", "lease_expires_at"),
        # The retention sweep: live jobs due (deleted_at null, expires_at passed), and ended
        # jobs still without an expiry (expires_at null too); tombstones sit apart.
        Index("ix_report_jobs_expiry", "deleted_at", "expires_at"),
    )

    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"))
    client_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(16))
    template_version: Mapped[str | None] = mapped_column(String(16))
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    page_count: Mapped[int | None] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(String(ERROR_MESSAGE_LENGTH))
    storage_key: Mapped[str | None] = mapped_column(String(300))
    #: The verdict policy the job is judged under, fixed when it is created: its version
    #: (0: the deployment default) and a copy of its values. Null only for a job that a
    #: replica of the previous release created during a rollout.
    policy_version: Mapped[int | None] = mapped_column(Integer)
    policy: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: The id of the request that created the job (`X-Request-ID`), carried into the
    #: worker's log lines; null for jobs created before the column existed.
    request_id: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When the report will be deleted: set as the job ends, from its org's retention period
    #: (ADR 0021); null while it runs (and, until the workers fill it in, for a job that a
    #: replica of the previous release ended).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When the PDF and the personal fields were removed, and why (`Deletion`): the row is a
    #: tombstone since.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deletion: Mapped[str | None] = mapped_column(String(16))


class IdempotencyKey(Base):
    """An `Idempotency-Key` an org has used, bound to the request it came with."""

    __tablename__ = "idempotency_keys"

    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[str] = mapped_column(ForeignKey("report_jobs.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
