"""The report API's JSON shapes (camelCase, as SQR publishes them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from sqr_reports.clock import Timestamp, isoformat_ms
from sqr_reports.reports.errors import JobErrorCode
from sqr_reports.reports.models import JobStatus
from sqr_reports.storage import SignedUrl


class StoredJob(Protocol):
    """A job's stored fields, as the views read them: a `ReportJob` row object, or the status
    poll's Core read (`repository.JobRead`)."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def template_version(self) -> str | None: ...
    @property
    def size_bytes(self) -> int | None: ...
    @property
    def sha256(self) -> str | None: ...
    @property
    def page_count(self) -> int | None: ...
    @property
    def error_code(self) -> str | None: ...
    @property
    def error_message(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def completed_at(self) -> datetime | None: ...
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def deleted_at(self) -> datetime | None: ...


#: An SQR user id as the API takes it: 1-16 characters, none of them a control character
#: (an id is printable, and PostgreSQL text cannot hold NUL).
UserId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=16, strict=True, pattern=r"^[^\x00-\x1f\x7f]+$"),
]


#: Documented as what they always are, so that generated clients type them so.
JobId = Annotated[str, WithJsonSchema({"type": "string", "format": "uuid"})]
Sha256 = Annotated[str, WithJsonSchema({"type": "string", "pattern": "^[0-9a-f]{64}$"})]


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    userId: UserId = Field(
        description="The SQR user id of a user connected to your org, e.g. US1A2B3C4D5E6F78."
    )


class JobAccepted(BaseModel):
    jobId: JobId
    status: JobStatus
    userId: str
    createdAt: Timestamp
    updatedAt: Timestamp

    @classmethod
    def of(cls, job: StoredJob) -> JobAccepted:
        return cls(
            jobId=job.id,
            status=JobStatus(job.status),
            userId=job.user_id,
            createdAt=isoformat_ms(job.created_at),
            updatedAt=isoformat_ms(job.updated_at),
        )


class JobView(JobAccepted):
    templateVersion: str | None
    sizeBytes: int | None
    sha256: Sha256 | None
    pageCount: int | None
    errorCode: JobErrorCode | None
    errorMessage: str | None
    startedAt: Timestamp | None
    completedAt: Timestamp | None
    expiresAt: Timestamp | None = Field(
        description="When the report (PDF and personal fields) will be deleted: set once the "
        "job is COMPLETE or FAILED, from the org's retention period."
    )
    deletedAt: Timestamp | None = Field(
        description="When the report was deleted (by retention, DELETE, or the user's "
        "erasure); `userId` is then empty and `/url` answers 410."
    )

    @classmethod
    def of(cls, job: StoredJob) -> JobView:
        return cls(
            jobId=job.id,
            status=JobStatus(job.status),
            userId=job.user_id,
            createdAt=isoformat_ms(job.created_at),
            updatedAt=isoformat_ms(job.updated_at),
            templateVersion=job.template_version,
            sizeBytes=job.size_bytes,
            sha256=job.sha256,
            pageCount=job.page_count,
            errorCode=JobErrorCode(job.error_code) if job.error_code else None,
            errorMessage=job.error_message,
            startedAt=isoformat_ms(job.started_at) if job.started_at else None,
            completedAt=isoformat_ms(job.completed_at) if job.completed_at else None,
            expiresAt=isoformat_ms(job.expires_at) if job.expires_at else None,
            deletedAt=isoformat_ms(job.deleted_at) if job.deleted_at else None,
        )


class JobList(BaseModel):
    """A page of the org's jobs, newest first."""

    items: list[JobView]
    nextCursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


class DownloadUrl(BaseModel):
    url: Annotated[str, WithJsonSchema({"type": "string", "format": "uri"})]
    expiresInSeconds: int
    expiresAt: Timestamp

    @classmethod
    def of(cls, signed: SignedUrl, *, base_url: str) -> DownloadUrl:
        """`base_url` (this service's public URL) makes a local store's path absolute."""
        absolute = urlsplit(signed.url).scheme != ""
        return cls(
            url=signed.url if absolute else base_url.rstrip("/") + signed.url,
            expiresInSeconds=signed.ttl_seconds,
            expiresAt=isoformat_ms(signed.expires_at),
        )
