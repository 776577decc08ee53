from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from sqr_reports.db.base import Base, UTCDateTime


class OrgStatus(StrEnum):
    ACTIVE = "ACTIVE"
    #: Its clients get no tokens and its tokens are refused (403) until it is active again.
    SUSPENDED = "SUSPENDED"


class Org(Base):
    __tablename__ = "orgs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=OrgStatus.ACTIVE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Days this org's reports are kept after their jobs end; null: the deployment's default
    #: (`RETENTION__REPORT_DAYS`). Set with `sqr-reports org retention` (ADR 0021).
    retention_days: Mapped[int | None] = mapped_column(Integer)

    # Names are unique ignoring case (migration 0006): an operator can name an org instead of
    # quoting its id, and "Acme" and "ACME" are the same customer.
    __table_args__ = (Index("uq_orgs_name_lower", func.lower(name), unique=True),)
