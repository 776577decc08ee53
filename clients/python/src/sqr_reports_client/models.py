"""What the API returns, as typed values: jobs, download URLs, pages of the listing.

The service may add fields and codes without a new API version, so parsing is tolerant: an
unknown field is kept in `extra`, an unknown status or error code becomes a member of its enum
that carries the value as it came (`JobErrorCode("NEW_CODE").value == "NEW_CODE"`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Self


class _OpenEnum(StrEnum):
    """A StrEnum that accepts values it does not list, so a new server value never breaks a
    client that was built before it."""

    @classmethod
    def _missing_(cls, value: object) -> Self | None:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member


class JobStatus(_OpenEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        """COMPLETE or FAILED: the job will not change any more. An unknown status is not."""
        return self in (JobStatus.COMPLETE, JobStatus.FAILED)


class JobErrorCode(_OpenEnum):
    """The published `errorCode` table of FAILED jobs (the service's README, "Error codes")."""

    #: No user with this id is connected to the org (never connected, or unknown).
    USER_NOT_FOUND = "USER_NOT_FOUND"
    #: The user withdrew the connection or the data-sharing consent.
    USER_NOT_CONNECTED = "USER_NOT_CONNECTED"
    #: The report could not be rendered.
    RENDER_FAILED = "RENDER_FAILED"
    #: Rendering exceeded its time limit.
    RENDER_TIMEOUT = "RENDER_TIMEOUT"
    #: The rendered report could not be stored, on every attempt.
    STORAGE_FAILED = "STORAGE_FAILED"
    #: Anything else, including workers that stopped responding on every attempt.
    INTERNAL_ERROR = "INTERNAL_ERROR"
    #: The job was deleted (DELETE, or its user's erasure) before its report was generated.
    REPORT_DELETED = "REPORT_DELETED"


#: The status body's fields this class names; anything else goes to `Job.extra`.
_JOB_FIELDS = frozenset(
    {
        "jobId", "status", "userId", "createdAt", "updatedAt", "templateVersion", "sizeBytes",
        "sha256", "pageCount", "errorCode", "errorMessage", "startedAt", "completedAt",
        "expiresAt", "deletedAt",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Job:
    """A report job as `GET /v1/document/api/{id}` shows it (the create answer has fewer
    fields: the rest are None there)."""

    job_id: str
    status: JobStatus
    user_id: str
    created_at: datetime
    updated_at: datetime
    template_version: str | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    page_count: int | None = None
    error_code: JobErrorCode | None = None
    error_message: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    #: When the stored report is removed (services with a retention period).
    expires_at: datetime | None = None
    deleted_at: datetime | None = None
    #: Fields this version of the client does not know, as they came.
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Job:
        code = body.get("errorCode")
        return cls(
            job_id=str(body["jobId"]),
            status=JobStatus(str(body["status"])),
            user_id=str(body["userId"]),
            created_at=parse_timestamp(body["createdAt"]),
            updated_at=parse_timestamp(body["updatedAt"]),
            template_version=body.get("templateVersion"),
            size_bytes=body.get("sizeBytes"),
            sha256=body.get("sha256"),
            page_count=body.get("pageCount"),
            error_code=JobErrorCode(code) if code else None,
            error_message=body.get("errorMessage"),
            started_at=_optional_timestamp(body.get("startedAt")),
            completed_at=_optional_timestamp(body.get("completedAt")),
            expires_at=_optional_timestamp(body.get("expiresAt")),
            deleted_at=_optional_timestamp(body.get("deletedAt")),
            extra={k: v for k, v in body.items() if k not in _JOB_FIELDS},
        )


@dataclass(frozen=True, slots=True)
class DownloadUrl:
    """A signed URL for the job's PDF, valid for `expires_in_seconds` (300) from issue.

    The URL is a credential until it expires: it is left out of `repr` so that it does not end
    up in logs by accident."""

    url: str = field(repr=False)
    expires_in_seconds: int
    expires_at: datetime

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> DownloadUrl:
        return cls(
            url=str(body["url"]),
            expires_in_seconds=int(body["expiresInSeconds"]),
            expires_at=parse_timestamp(body["expiresAt"]),
        )


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of `GET /v1/document/api`: jobs newest first, and where the next page starts."""

    items: tuple[Job, ...]
    next_cursor: str | None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> JobPage:
        cursor = body.get("nextCursor")
        return cls(
            items=tuple(Job.from_json(item) for item in body.get("items", [])),
            next_cursor=str(cursor) if cursor else None,
        )


def parse_timestamp(value: object) -> datetime:
    """The API's ISO-8601 UTC timestamps (`2025-05-05T10:00:00.000Z`) as aware datetimes."""
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    parsed = datetime.fromisoformat(value)  # 3.11 reads the trailing Z
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value!r}")
    return parsed


def _optional_timestamp(value: object) -> datetime | None:
    return parse_timestamp(value) if value is not None else None
