"""Recording, exporting, verifying and pruning the audit trail (ADR 0021).

A record is appended in the transaction of what it records, so it commits with it or not at
all: an access that could not be recorded does not happen (the caller answers 503).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.audit import chain, repository
from sqr_reports.audit.chain import Break, ChainWalk
from sqr_reports.audit.models import AuditEvent, AuditRecord
from sqr_reports.db.clock import SessionClock

#: The actor of what the workers do on their own (retention).
SYSTEM = "system"
#: The actor of a download through a signed URL: whoever holds the URL.
SIGNED_URL = "signed-url"
#: The actor of a refused token request: whoever sent it (the client id it claimed is a detail).
ANONYMOUS = "anonymous"
#: Records read per statement when exporting, verifying or pruning.
PAGE = 1000
#: The columns' lengths (`AuditRecord`).
SOURCE_LENGTH = 64
REQUEST_ID_LENGTH = 128


def client_actor(client_id: str) -> str:
    return f"client:{client_id}"


def admin_actor(operator: str) -> str:
    return f"admin:{operator}"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from: the client's address and the request's id."""

    source: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """One event to record; ids only (`AuditRecord` says which)."""

    event: str
    actor: str
    org_id: str | None = None
    job_id: str | None = None
    user_id: str | None = None
    origin: Origin = Origin()
    details: dict[str, Any] = field(default_factory=dict)


async def record(session: AsyncSession, clock: SessionClock, *entries: Entry) -> None:
    """Append `entries` to the chain in the caller's transaction, which holds the chain's lock
    until it ends: call this last before committing, so the lock is held briefly. The time is
    read after the lock (with it, on PostgreSQL), so times never go back along the chain."""
    if not entries:
        return
    head = await repository.lock_head(session, with_clock=clock.local is None)
    now = head.now or await clock.now(session)
    seq, prev_hash = head.last_seq, head.last_hash
    rows = []
    for entry in entries:
        seq += 1
        row = AuditRecord(
            seq=seq, occurred_at=now, event=entry.event, actor=entry.actor,
            org_id=entry.org_id, job_id=entry.job_id, user_id=entry.user_id,
            source=_fit(entry.origin.source, SOURCE_LENGTH),
            request_id=_fit(entry.origin.request_id, REQUEST_ID_LENGTH),
            details=dict(entry.details), prev_hash=prev_hash,
        )  # fmt: skip
        row.hash = prev_hash = chain.digest(prev_hash, chain.content(row))
        rows.append({column: getattr(row, column) for column in _COLUMNS})
    await repository.append(session, rows)


#: The record's columns, by attribute name (what an INSERT of one takes).
_COLUMNS = tuple(AuditRecord.__table__.columns.keys())


def _fit(value: str | None, length: int) -> str | None:
    """A value from the request, cut to its column: never a reason to refuse an access."""
    return value[:length] if value is not None else None


def exported(row: AuditRecord) -> dict[str, Any]:
    """A record as `audit export` prints it: its content and both hashes."""
    return chain.content(row) | {"prev_hash": row.prev_hash, "hash": row.hash}


async def export(
    session: AsyncSession,
    *,
    org_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Records in time order, a page per statement: one org's (`org_id`) or everyone's."""
    after: tuple[datetime, int] | None = None
    while True:
        rows = await repository.export_page(
            session, after=after, limit=PAGE, org_id=org_id, since=since, until=until
        )
        for row in rows:
            yield exported(row)
        if len(rows) < PAGE:
            return
        after = (rows[-1].occurred_at, rows[-1].seq)


@dataclass(frozen=True, slots=True)
class Verification:
    """How many records were checked, the head's newest record, and the first break if any."""

    checked: int
    last_seq: int
    broken: Break | None

    @property
    def ok(self) -> bool:
        return self.broken is None


async def verify(session: AsyncSession) -> Verification:
    """Walk the whole chain from its anchor to its head, in one snapshot (a fresh read
    session's first call), so that appends and pruning going on meanwhile are not mistaken
    for damage."""
    await repository.hold_snapshot(session)
    head = await repository.read_head(session)
    if head is None:  # nothing was ever recorded, or the lock row was deleted
        first = await repository.walk_page(session, 0, 1)
        broken = Break(first[0].seq, "the chain's head is missing") if first else None
        return Verification(0, 0, broken)
    walk = ChainWalk(head.anchor_seq, head.anchor_hash)
    after = head.anchor_seq
    while after < head.last_seq:
        rows = await repository.walk_page(session, after, min(PAGE, head.last_seq - after))
        if not rows or not all(walk.step(row) for row in rows):
            break
        after = rows[-1].seq
    # A record past the head was not appended through it (in this snapshot, none can be).
    for extra in await repository.walk_page(session, head.last_seq, 1):
        walk.step(extra)
    return Verification(walk.checked, head.last_seq, walk.finish(head.last_seq, head.last_hash))


async def prune(session: AsyncSession, clock: SessionClock, *, keep_days: int) -> int:
    """Drop the oldest records older than `keep_days` (up to a page per call), move the
    chain's anchor to the last one dropped, and record that it happened. Returns how many."""
    cutoff = await clock.now(session) - timedelta(days=keep_days)
    first = await repository.oldest(session, 1)
    if not first or first[0].occurred_at >= cutoff:
        return 0  # the usual case: one read of the primary key, and no lock taken
    await repository.lock_head(session)
    oldest = await repository.oldest(session, PAGE)
    expired = _prefix_before(oldest, cutoff)
    if not expired:
        return 0
    last = expired[-1]
    await repository.delete_through(session, last.seq)
    await repository.move_anchor(session, last.seq, last.hash)
    details = {"through_seq": last.seq, "records": len(expired), "keep_days": keep_days}
    await record(session, clock, Entry(AuditEvent.AUDIT_PRUNED, SYSTEM, details=details))
    return len(expired)


def _prefix_before(rows: Sequence[AuditRecord], cutoff: datetime) -> list[AuditRecord]:
    """The leading records older than `cutoff`: pruning only ever cuts the chain's start."""
    prefix = []
    for row in rows:
        if row.occurred_at >= cutoff:
            break
        prefix.append(row)
    return prefix
