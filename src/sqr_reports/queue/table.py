"""The columns every queue table has, and the two states the queue itself writes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sqr_reports.db.base import UTCDateTime


class QueueState(StrEnum):
    """Waiting, or leased by a worker. Each kind names its own terminal states."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"


class Queued:
    """Mixin for a declarative model whose rows are queue entries.

    `attempts` counts claims and doubles as the fencing token of the current claim: every write
    by a worker is conditional on the attempt number and owner it claimed with. A table that
    uses it needs indexes on (status, run_after) and (status, lease_expires_at).
    """

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    #: Claims so far; also the fencing token of the current claim.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
