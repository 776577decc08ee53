"""The JSON Lines import format: one user per line, SQR's snake_case user-status fields."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    create_model,
    field_validator,
)
from sqlalchemy import Boolean, Column, Date, Float, String, inspect

from sqr_reports.db.base import UTCDateTime
from sqr_reports.users.models import AppUser, ConnectionStatus


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
    connection_status: ConnectionStatus
    data_sharing_agreed: bool
    connected_at: Timestamp | None = None
    connection_status_updated_at: Timestamp | None = None


class MonitoringRecord(_Record):
    kind: Literal["PEP", "SANCTION", "ADVERSE_MEDIA"]
    status: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    recorded_at: Timestamp
    detail: Annotated[str, StringConstraints(max_length=2000)] | None = None


def _column_type(column: Column[Any]) -> Any:
    """The import type of one `AppUser` column: its SQL type, narrowed by its `info`."""
    info, sql = column.info, column.type
    if "choices" in info:
        return Literal[tuple(info["choices"])]
    if isinstance(sql, UTCDateTime):
        return Timestamp
    if isinstance(sql, String):
        limit = info.get("max_length", sql.length)
        return Annotated[str, StringConstraints(max_length=limit, pattern=info.get("pattern"))]
    if isinstance(sql, Float):
        return Annotated[float, Field(ge=info.get("ge"), le=info.get("le"))]
    for sql_type, python_type in ((Boolean, bool), (Date, date)):
        if isinstance(sql, sql_type):
            return python_type
    raise TypeError(f"no import type for column {column.name} ({sql})")


def _profile_fields() -> dict[str, Any]:
    """Every imported column of `AppUser`, optional but for the id, in declaration order."""
    fields: dict[str, Any] = {}
    for column in inspect(AppUser).columns:
        if column.info.get("managed"):
            continue
        kind = _column_type(column)
        fields[column.name] = (kind, ...) if column.primary_key else (kind | None, None)
    return fields


if TYPE_CHECKING:
    _Profile = _Record
else:
    _Profile = create_model("_Profile", __base__=_Record, **_profile_fields())


class UserRecord(_Profile):
    """One line of the import: the `AppUser` columns (derived), connections and monitoring."""

    if TYPE_CHECKING:  # derived above at run time; declared here for the type checker
        id: str
    connections: list[ConnectionRecord] = Field(default_factory=list)
    #: Replaces the user's monitoring history when present; kept as is when absent.
    monitoring: list[MonitoringRecord] | None = None

    def profile(self) -> dict[str, object]:
        """The columns of `AppUser`, without the nested lists."""
        return self.model_dump(exclude={"connections", "monitoring"})
