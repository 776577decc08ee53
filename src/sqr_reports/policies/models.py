from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sqr_reports.db.base import Base, UTCDateTime


class OrgVerdictPolicy(Base):
    """One version of an org's verdict policy. Versions are never changed, only added, so a job
    that names a version names exactly the values it was judged under."""

    __tablename__ = "verdict_policies"

    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    liveness_threshold: Mapped[float] = mapped_column(Float)
    face_match_threshold: Mapped[float] = mapped_column(Float)
    refer_floor: Mapped[float] = mapped_column(Float)
    max_verification_age_days: Mapped[int] = mapped_column(Integer)
    minimum_age: Mapped[int] = mapped_column(Integer)
    minor_outcome: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
