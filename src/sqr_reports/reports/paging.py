"""The job listing's cursor: where the previous page ended, opaque to clients.

A cursor is the unpadded URL-safe base64 of `1|<created_at, UTC, to the microsecond>|<job id>`:
the last listed job's place in the listing's order (`created_at`, then `id`, both descending).
Keyset, not offset: a page costs the same however deep it is, and jobs created meanwhile
neither shift nor repeat the next page. Two jobs created in the same microsecond are told
apart by their id, so no job is skipped or listed twice.

It is not signed because it grants nothing: the listing is scoped by the caller's org
whatever the cursor says, so another org's cursor, or a made-up one, only positions within
the caller's own jobs. It is checked strictly instead (a cursor is accepted only in exactly
the form this module writes), so an altered one is a 400, never a 500 or a silent first page.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqr_reports.errors import FieldError, ValidationFailed

_VERSION = "1"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
#: Longer than any cursor `encode` writes (88 characters): the edge refuses longer ones unread.
MAX_LENGTH = 128


@dataclass(frozen=True, slots=True)
class Position:
    """A job's place in the listing: newest first, ties broken by id."""

    created_at: datetime
    job_id: str


def encode(position: Position) -> str:
    created = position.created_at.astimezone(UTC).strftime(_TIME_FORMAT)
    raw = f"{_VERSION}|{created}|{position.job_id}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(cursor: str) -> Position:
    """The position `cursor` names; `ValidationFailed` (field `cursor`) unless `encode` wrote it."""
    position = _parse(cursor)
    # The round trip also refuses every other spelling of a valid cursor (padding, characters
    # base64 decoding skips, a timestamp written otherwise), so a cursor is exactly as written.
    if position is None or encode(position) != cursor:
        raise ValidationFailed(
            [FieldError("cursor", "format", "Pass back a nextCursor unchanged, or omit cursor")],
            "Invalid cursor",
        )
    return position


def _parse(cursor: str) -> Position | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        version, created, job_id = raw.split("|")
        if version != _VERSION:
            return None
        return Position(
            created_at=datetime.strptime(created, _TIME_FORMAT).replace(tzinfo=UTC),
            job_id=str(uuid.UUID(job_id)),
        )
    except ValueError:  # bad base64, not ASCII, not three parts, not a time or a UUID
        return None
