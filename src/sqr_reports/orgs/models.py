from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from sqr_reports.db.base import Base, UTCDateTime

ORG_ACTIVE = "ACTIVE"
ORG_SUSPENDED = "SUSPENDED"


class Org(Base):
    __tablename__ = "orgs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=ORG_ACTIVE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
