"""All SQL about the audit trail. Unscoped by design: the trail is the operator's record of
every org; an export names an org when it wants one org's records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, delete, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.audit.models import GENESIS_HASH, HEAD_ID, AuditChainHead, AuditRecord
from sqr_reports.db.clock import DATABASE_NOW, database_time

#: The tables themselves: an append is plain Core, without the ORM's bulk machinery (which
#: cost an append about a third more CPU on SQLite, `bench/audit.py`).
_RECORDS = cast(Table, AuditRecord.__table__)
_HEAD = cast(Table, AuditChainHead.__table__)


@dataclass(frozen=True, slots=True)
class Head:
    """The chain's newest record, as its locked head row names it."""

    last_seq: int
    last_hash: str
    #: The database's clock, read in the same statement when asked for (ADR 0011, 0014).
    now: datetime | None


def _head_query(with_clock: bool) -> Select[Any]:
    columns: list[Any] = [AuditChainHead.last_seq, AuditChainHead.last_hash]
    if with_clock:
        columns.append(DATABASE_NOW.label("database_now"))
    return select(*columns).where(AuditChainHead.id == HEAD_ID).with_for_update()


#: Built once: an append is on the path of every audited request.
_HEAD_QUERIES = {with_clock: _head_query(with_clock) for with_clock in (False, True)}


async def lock_head(session: AsyncSession, *, with_clock: bool = False) -> Head:
    """The chain's head, its row locked until the caller's transaction ends (on SQLite the
    writer holds the database's one write lock already); with PostgreSQL's clock if asked.
    Lock it last in a transaction, after any other row it locks: every appender then takes its
    locks in the same order, so none deadlock.

    The migration creates the row; it is made again here only if it is missing (a database
    emptied by hand), from the start of the chain: if records remain, the next append then
    collides with them and fails, as it should, rather than hiding the damage.
    """
    row = (await session.execute(_HEAD_QUERIES[with_clock])).one_or_none()
    if row is None:
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        await session.execute(
            insert(AuditChainHead)
            .values(
                id=HEAD_ID,
                last_seq=0,
                last_hash=GENESIS_HASH,
                anchor_seq=0,
                anchor_hash=GENESIS_HASH,
            )
            .on_conflict_do_nothing()
        )
        row = (await session.execute(_HEAD_QUERIES[with_clock])).one()
    now = database_time(row.database_now) if with_clock else None
    return Head(row.last_seq, row.last_hash, now)


async def hold_snapshot(session: AsyncSession) -> None:
    """Make the session's transaction read one snapshot throughout, so that a long walk does
    not see appends or pruning made meanwhile. Call it before the session's first statement.
    (A SQLite read transaction in WAL mode is such a snapshot already.)"""
    if session.get_bind().dialect.name == "postgresql":
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


async def read_head(session: AsyncSession) -> AuditChainHead | None:
    """The head as it stands, without locking it (for verifying)."""
    return await session.get(AuditChainHead, HEAD_ID, populate_existing=True)


async def append(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (column values, chained to the locked head) and move the head to the last:
    one INSERT for all of them and one UPDATE, without the ORM's unit of work."""
    await session.execute(insert(_RECORDS), list(rows))
    last = rows[-1]
    await _set_head(session, last_seq=last["seq"], last_hash=last["hash"])


async def move_anchor(session: AsyncSession, seq: int, hash_: str) -> None:
    """The last pruned record: the oldest kept record must chain to it."""
    await _set_head(session, anchor_seq=seq, anchor_hash=hash_)


async def _set_head(session: AsyncSession, **values: Any) -> None:
    await session.execute(update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(**values))


async def walk_page(session: AsyncSession, after_seq: int, limit: int) -> Sequence[AuditRecord]:
    """The next `limit` records after `after_seq`, in chain order (the primary key)."""
    result = await session.execute(
        select(AuditRecord)
        .where(AuditRecord.seq > after_seq)
        .order_by(AuditRecord.seq)
        .limit(limit)
    )
    return result.scalars().all()


async def export_page(
    session: AsyncSession,
    *,
    after: tuple[datetime, int] | None,
    limit: int,
    org_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Sequence[AuditRecord]:
    """Records in time order (ties by seq), from after the (occurred_at, seq) `after`: a walk
    of ix_audit_records_occurred, or ix_audit_records_org_occurred for one org."""
    query = select(AuditRecord)
    if org_id is not None:
        query = query.where(AuditRecord.org_id == org_id)
    if since is not None:
        query = query.where(AuditRecord.occurred_at >= since)
    if until is not None:
        query = query.where(AuditRecord.occurred_at < until)
    if after is not None:
        query = query.where(tuple_(AuditRecord.occurred_at, AuditRecord.seq) > after)
    query = query.order_by(AuditRecord.occurred_at, AuditRecord.seq).limit(limit)
    return (await session.execute(query)).scalars().all()


async def oldest(session: AsyncSession, limit: int) -> Sequence[AuditRecord]:
    """The first `limit` records of the chain (what pruning looks at)."""
    return await walk_page(session, 0, limit)


async def delete_through(session: AsyncSession, seq: int) -> None:
    """Remove every record up to `seq` (pruning; the caller holds the head and moves its anchor)."""
    await session.execute(delete(AuditRecord).where(AuditRecord.seq <= seq))
