from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Boolean, Date, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sqr_reports.db.base import Base, UTCDateTime


class ConnectionStatus(StrEnum):
    """Whether the user still shares their data with the org (SQR's `connection_status`)."""

    CONNECTED = "CONNECTED"
    REVOKED = "REVOKED"


MONITORING_KINDS = ("PEP", "SANCTION", "ADVERSE_MEDIA")
REGISTRATION_STATUSES = ("active", "pending", "inactive", "suspended")
#: The one declaration of a user's fields is `AppUser` below: the import format
#: (`users.schemas.UserRecord`) is derived from its columns, whose `info` adds what a column
#: type cannot say (a pattern, a range, a set of words).
PERCENT = {"ge": 0, "le": 100}


class AppUser(Base):
    """An SQR user with the fields of SQR's public user-status data (contract, user model)."""

    __tablename__ = "app_users"

    id: Mapped[str] = mapped_column(
        String(16), primary_key=True, info={"pattern": r"^[A-Z0-9]{1,16}$"}
    )
    first_name: Mapped[str | None] = mapped_column(String(200))
    middle_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(50))
    dob: Mapped[date | None] = mapped_column(Date)
    full_address: Mapped[str | None] = mapped_column(String(500))
    address1: Mapped[str | None] = mapped_column(String(200))
    address2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(100))
    postcode: Mapped[str | None] = mapped_column(String(20))
    guardian_name: Mapped[str | None] = mapped_column(String(200))
    guardian_dob: Mapped[date | None] = mapped_column(Date)
    override_status: Mapped[str | None] = mapped_column(String(50))
    override_notes: Mapped[str | None] = mapped_column(Text, info={"max_length": 5000})
    selfie_liveness_score: Mapped[float | None] = mapped_column(Float, info=PERCENT)
    fmc_score: Mapped[float | None] = mapped_column(Float, info=PERCENT)
    gbg_high_level_result: Mapped[str | None] = mapped_column(String(50))
    high_level_result: Mapped[str | None] = mapped_column(String(50))
    document_overall_validation: Mapped[str | None] = mapped_column(String(50))
    registration_submitted: Mapped[bool | None] = mapped_column(Boolean)
    registration_status: Mapped[str | None] = mapped_column(
        String(16), info={"choices": REGISTRATION_STATUSES}
    )
    mobile_registration_status: Mapped[str | None] = mapped_column(String(50))
    id3_match_status: Mapped[str | None] = mapped_column(String(50))
    id3_pep_sanction_result: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Stamped by the service on every import, never imported.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), info={"managed": True})


class Connection(Base):
    """A user's connection to one org: the user's consent to share data with that org."""

    __tablename__ = "connections"

    user_id: Mapped[str] = mapped_column(ForeignKey("app_users.id"), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), primary_key=True, index=True)
    connection_status: Mapped[str] = mapped_column(String(16))
    data_sharing_agreed: Mapped[bool] = mapped_column(Boolean)
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    connection_status_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MonitoringEvent(Base):
    """One ongoing-monitoring result (PEP, sanction or adverse media) at a point in time."""

    __tablename__ = "monitoring_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("app_users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    detail: Mapped[str | None] = mapped_column(Text)
