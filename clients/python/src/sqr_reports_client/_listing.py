"""What a listing asks the service for, and what it filters itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqr_reports_client.models import Job, JobStatus


@dataclass(frozen=True, slots=True)
class ListQuery:
    """The listing's filters. The service filters by status and user; it has no time filter,
    so `created_after` / `created_before` are applied here, on the newest-first order: the
    listing stops at the first job older than `created_after`."""

    status: JobStatus | None = None
    user_id: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    limit: int | None = None
    page_size: int | None = None

    def __post_init__(self) -> None:
        for bound in (self.created_after, self.created_before):
            if bound is not None and bound.tzinfo is None:
                raise ValueError("created_after / created_before need a time zone")
        for count in (self.limit, self.page_size):
            if count is not None and count < 1:
                raise ValueError("limit and page_size must be at least 1")

    def params(self, cursor: str | None) -> dict[str, str]:
        wanted = {
            "status": self.status.value if self.status else None,
            "userId": self.user_id,
            "limit": str(self.page_size) if self.page_size else None,
            "cursor": cursor,
        }
        return {name: value for name, value in wanted.items() if value is not None}

    def wants(self, job: Job) -> bool:
        return self.created_before is None or job.created_at < self.created_before

    def is_past(self, job: Job) -> bool:
        return self.created_after is not None and job.created_at <= self.created_after
