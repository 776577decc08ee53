"""Purges: the deletion of a report's stored PDFs, as a queue of its own (ADR 0013, 0021)."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from sqr_reports.db.base import Base
from sqr_reports.queue.table import Queued, QueueState

#: The longest `last_error` a purge keeps.
ERROR_LENGTH = 500


class PurgeStatus(StrEnum):
    PENDING = QueueState.PENDING.value
    PROCESSING = QueueState.PROCESSING.value
    #: Every PDF the job ever stored is gone from the store (`updated_at` says when).
    DONE = "DONE"
    #: The store refused on every attempt (about a day of them): an operator's alarm.
    FAILED = "FAILED"


class ReportPurge(Queued, Base):
    """One report's PDFs to delete from the store; `id` is the job's.

    Inserted in the transaction that makes the job a tombstone, so the deletion is never lost:
    a store that is down, or a worker that dies halfway, only delays it (the queue retries
    and reaps). Deleting is idempotent, so a retried purge does no harm.
    """

    __tablename__ = "report_purges"
    __table_args__ = (
        Index("ix_report_purges_queue", "status", "run_after"),
        Index("ix_report_purges_lease", "status", "lease_expires_at"),
    )

    last_error: Mapped[str | None] = mapped_column(String(ERROR_LENGTH))
