"""The process's clock, injectable so tests can move time instead of sleeping.

Only for times that travel in tokens and URLs; anything the database stores or is compared
with a stored time uses the database's clock (`sqr_reports.db.clock`, ADR 0011).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Protocol

from pydantic import WithJsonSchema


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def isoformat_ms(value: datetime) -> str:
    """`2025-05-05T10:00:00.000Z`: the API's one timestamp format."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


#: A timestamp as the API's JSON carries it (`isoformat_ms`), documented as one: a client
#: generator reads `format: date-time` and gives its users a datetime, not a string.
Timestamp = Annotated[
    str,
    WithJsonSchema(
        {"type": "string", "format": "date-time", "examples": ["2025-05-05T10:00:00.000Z"]}
    ),
]
