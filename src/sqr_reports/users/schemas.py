"""The JSON Lines import format: one user per line, SQR's snake_case user-status fields."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

UserId = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,16}$")]
Short = Annotated[str, StringConstraints(max_length=50)]
Name = Annotated[str, StringConstraints(max_length=200)]
Score = Annotated[float, Field(ge=0, le=100)]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps need a time zone, e.g. 2025-05-05T10:00:00Z")
    return value


Timestamp = Annotated[datetime, AfterValidator(_aware)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        # PostgreSQL text cannot hold NUL; refusing it here treats SQLite and PostgreSQL alike.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("text must not contain NUL characters")
        return value


class ConnectionRecord(_Record):
    org_id: Annotated[str, StringConstraints(min_length=1, max_length=36)]
    connection_status: Literal["CONNECTED", "REVOKED"]
    data_sharing_agreed: bool
    connected_at: Timestamp | None = None
    connection_status_updated_at: Timestamp | None = None


class MonitoringRecord(_Record):
    kind: Literal["PEP", "SANCTION", "ADVERSE_MEDIA"]
    status: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    recorded_at: Timestamp
    detail: Annotated[str, StringConstraints(max_length=2000)] | None = None


class UserRecord(_Record):
    id: UserId
    first_name: Name | None = None
    middle_name: Name | None = None
    last_name: Name | None = None
    email: Annotated[str, StringConstraints(max_length=320)] | None = None
    phone: Short | None = None
    dob: date | None = None
    full_address: Annotated[str, StringConstraints(max_length=500)] | None = None
    address1: Name | None = None
    address2: Name | None = None
    city: Annotated[str, StringConstraints(max_length=100)] | None = None
    state: Annotated[str, StringConstraints(max_length=100)] | None = None
    country: Annotated[str, StringConstraints(max_length=100)] | None = None
    postcode: Annotated[str, StringConstraints(max_length=20)] | None = None
    guardian_name: Name | None = None
    guardian_dob: date | None = None
    override_status: Short | None = None
    override_notes: Annotated[str, StringConstraints(max_length=5000)] | None = None
    selfie_liveness_score: Score | None = None
    fmc_score: Score | None = None
    gbg_high_level_result: Short | None = None
    high_level_result: Short | None = None
    document_overall_validation: Short | None = None
    registration_submitted: bool | None = None
    registration_status: Literal["active", "pending", "inactive", "suspended"] | None = None
    mobile_registration_status: Short | None = None
    id3_match_status: Short | None = None
    id3_pep_sanction_result: Short | None = None
    created_at: Timestamp | None = None
    connections: list[ConnectionRecord] = Field(default_factory=list)
    #: Replaces the user's monitoring history when present; kept as is when absent.
    monitoring: list[MonitoringRecord] | None = None

    def profile(self) -> dict[str, object]:
        """The columns of `AppUser`, without the nested lists."""
        return self.model_dump(exclude={"connections", "monitoring"})
