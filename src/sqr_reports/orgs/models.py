from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
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
