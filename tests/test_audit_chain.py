"""The audit trail: appended in order under one lock, hash-chained so that a changed, removed,
reordered or truncated record is found by `audit verify`, pruned without breaking the chain,
and exported as JSON Lines; on SQLite and (with SQR_REPORTS_TEST_DATABASE_URL) PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, text, update

from sqr_reports.audit import service as audit
from sqr_reports.audit.chain import ChainWalk, content, digest
from sqr_reports.audit.models import GENESIS_HASH, AuditChainHead, AuditRecord
from sqr_reports.container import Container
from tests.conftest import Run
from tests.support import MovableClock


def _entry(n: int, org_id: str = "org-a") -> audit.Entry:
    origin = audit.Origin(source="203.0.113.7", request_id=f"req-{n}")
    return audit.Entry("report.url_minted", "client:c1", org_id=org_id, job_id=f"job-{n}",
                       origin=origin, details={"n": n})  # fmt: skip


async def _append(container: Container, *entries: audit.Entry) -> None:
    async with container.sessions.begin() as session:
        await audit.record(session, container.db_clock, *entries)


async def _verify(container: Container) -> audit.Verification:
    async with container.read_sessions() as session:
        return await audit.verify(session)


async def _records(container: Container) -> list[AuditRecord]:
    async with container.read_sessions() as session:
        result = await session.execute(select(AuditRecord).order_by(AuditRecord.seq))
        return list(result.scalars())


async def _tamper(container: Container, statement: str) -> None:
    async with container.sessions.begin() as session:
        await session.execute(text(statement))


async def test_records_chain_from_the_start_and_verify(container: Container) -> None:
    await _append(container, _entry(1))
    await _append(container, _entry(2), _entry(3))

    rows = await _records(container)
    result = await _verify(container)

    assert [row.seq for row in rows] == [1, 2, 3]
    assert rows[0].prev_hash == GENESIS_HASH
    assert [row.prev_hash for row in rows[1:]] == [row.hash for row in rows[:-1]]
    assert all(row.hash == digest(row.prev_hash, content(row)) for row in rows)
    assert (result.ok, result.checked, result.last_seq) == (True, 3, 3)


async def test_an_empty_trail_verifies(container: Container) -> None:
    assert (await _verify(container)).ok


async def test_a_changed_record_is_found(container: Container) -> None:
    await _append(container, *(_entry(n) for n in range(1, 6)))

    await _tamper(container, "UPDATE audit_records SET source = '198.51.100.1' WHERE seq = 3")
    result = await _verify(container)

    assert result.broken is not None
    assert (result.broken.seq, result.broken.reason) == (3, "its content does not match its hash")


async def test_a_rehashed_record_still_breaks_the_next_link(container: Container) -> None:
    """Whoever rewrites a record and its hash must rewrite every later one, and the head."""
    await _append(container, *(_entry(n) for n in range(1, 4)))
    async with container.sessions.begin() as session:
        row = await session.get(AuditRecord, 2)
        assert row is not None
        row.actor = "client:someone-else"
        row.hash = digest(row.prev_hash, content(row))

    result = await _verify(container)

    assert result.broken is not None
    assert result.broken.seq == 3
    assert result.broken.reason == "it does not chain to the record before it"


async def test_a_removed_record_is_found(container: Container) -> None:
    await _append(container, *(_entry(n) for n in range(1, 6)))

    await _tamper(container, "DELETE FROM audit_records WHERE seq = 2")
    result = await _verify(container)

    assert result.broken is not None
    assert (result.broken.seq, result.broken.reason) == (2, "record 2 is missing")


async def test_reordered_records_are_found(container: Container) -> None:
    await _append(container, *(_entry(n) for n in range(1, 6)))

    # Swap records 2 and 4 (their positions; each keeps its content and hashes).
    await _tamper(container, "UPDATE audit_records SET seq = 100 WHERE seq = 2")
    await _tamper(container, "UPDATE audit_records SET seq = 2 WHERE seq = 4")
    await _tamper(container, "UPDATE audit_records SET seq = 4 WHERE seq = 100")
    result = await _verify(container)

    assert result.broken is not None
    assert result.broken.seq == 2


async def test_records_cut_off_the_end_are_found(container: Container) -> None:
    await _append(container, *(_entry(n) for n in range(1, 6)))

    await _tamper(container, "DELETE FROM audit_records WHERE seq >= 4")
    result = await _verify(container)

    assert result.broken is not None
    assert (result.broken.seq, result.broken.reason) == (4, "records 4 to 5 are missing")


async def test_a_record_added_past_the_head_is_found(container: Container) -> None:
    await _append(container, _entry(1), _entry(2))
    async with container.sessions.begin() as session:
        last = await session.get(AuditRecord, 2)
        assert last is not None
        forged = AuditRecord(**{**content(last), "occurred_at": last.occurred_at, "seq": 3,
                                "prev_hash": last.hash, "hash": ""})  # fmt: skip
        forged.hash = digest(forged.prev_hash, content(forged))
        session.add(forged)

    result = await _verify(container)

    assert result.broken is not None
    assert (result.broken.seq, result.broken.reason) == (
        3, "it was not appended through the chain's head",
    )  # fmt: skip


async def test_concurrent_appends_form_one_unbroken_chain(container: Container) -> None:
    """Appenders in separate transactions at once: the head's lock orders them (a row lock on
    PostgreSQL, the write lock on SQLite), so no two records claim the same place."""
    await asyncio.gather(*(_append(container, _entry(n), _entry(n + 100)) for n in range(20)))

    rows = await _records(container)
    result = await _verify(container)

    assert [row.seq for row in rows] == list(range(1, 41))
    assert result.ok, result.broken


async def test_pruning_moves_the_anchor_and_the_rest_still_verifies(
    container: Container, clock: MovableClock
) -> None:
    await _append(container, _entry(1), _entry(2))
    clock.advance(10 * 86400)
    await _append(container, _entry(3))

    async with container.sessions.begin() as session:
        pruned = await audit.prune(session, container.db_clock, keep_days=5)
    rows = await _records(container)
    result = await _verify(container)
    async with container.read_sessions() as session:
        head = await session.get(AuditChainHead, 1)

    assert pruned == 2
    assert [(row.seq, row.event) for row in rows] == [(3, "report.url_minted"), (4, "audit.pruned")]
    assert rows[-1].details == {"through_seq": 2, "records": 2, "keep_days": 5}
    assert head is not None
    assert head.anchor_seq == 2
    assert result.ok, result.broken


async def test_pruning_nothing_takes_no_lock(container: Container) -> None:
    await _append(container, _entry(1))
    async with container.sessions.begin() as session:
        assert await audit.prune(session, container.db_clock, keep_days=1) == 0
    assert len(await _records(container)) == 1


async def test_deleting_the_first_records_without_moving_the_anchor_is_found(
    container: Container,
) -> None:
    await _append(container, *(_entry(n) for n in range(1, 4)))
    async with container.sessions.begin() as session:
        await session.execute(delete(AuditRecord).where(AuditRecord.seq == 1))

    result = await _verify(container)

    assert result.broken is not None
    assert result.broken.seq == 1


@dataclass
class _Row:
    """A record as the chain sees one, without a database."""

    seq: int
    prev_hash: str
    occurred_at: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    event: str = "report.downloaded"
    actor: str = "signed-url"
    org_id: str | None = None
    job_id: str | None = None
    user_id: str | None = None
    source: str | None = None
    request_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    hash: str = ""

    def __post_init__(self) -> None:
        self.hash = digest(self.prev_hash, content(self))


def test_the_walk_needs_no_database() -> None:
    first = _Row(1, GENESIS_HASH)
    second = _Row(2, first.hash)
    walk = ChainWalk(0, GENESIS_HASH)

    assert walk.step(first)
    assert walk.step(second)
    assert walk.finish(2, second.hash) is None
    assert ChainWalk(0, GENESIS_HASH).finish(2, second.hash) is not None


async def test_audit_verify_and_export_commands(
    run: Run, container: Container, clock: MovableClock
) -> None:
    await _append(container, _entry(1, "org-a"), _entry(2, "org-b"))
    clock.advance(3600)
    await _append(container, _entry(3, "org-a"))
    later = (datetime.now(UTC) + timedelta(seconds=1800)).isoformat()

    code, out, _ = run("audit", "verify", "--json")
    verified = json.loads(out)
    _, everything, _ = run("audit", "export")
    _, org_a, _ = run("audit", "export", "--org", "org-a")
    _, since, _ = run("audit", "export", "--org", "org-a", "--since", later)
    await _tamper(container, "UPDATE audit_records SET org_id = 'org-b' WHERE seq = 1")
    broken_code, broken_text, _ = run("audit", "verify")

    lines = [json.loads(line) for line in everything.splitlines()]
    assert code == 0
    assert verified == {"ok": True, "checked": 3, "last_seq": 3, "broken_seq": None,
                        "reason": None}  # fmt: skip
    assert [line["seq"] for line in lines] == [1, 2, 3]
    assert set(lines[0]) == {
        "seq", "occurred_at", "event", "actor", "org_id", "job_id", "user_id", "source",
        "request_id", "details", "prev_hash", "hash",
    }  # fmt: skip
    assert lines[0]["source"] == "203.0.113.7"
    assert [json.loads(line)["seq"] for line in org_a.splitlines()] == [1, 3]
    assert [json.loads(line)["seq"] for line in since.splitlines()] == [3]
    assert broken_code == 1
    assert broken_text.startswith("audit chain BROKEN at record 1:")


async def test_appends_hold_the_head_only_until_commit(container: Container) -> None:
    """A rolled-back append leaves no trace: the next one takes the same place."""
    async with container.sessions() as session:
        await audit.record(session, container.db_clock, _entry(1))
        await session.rollback()
    await _append(container, _entry(2))

    rows = await _records(container)
    async with container.read_sessions() as session:
        head = (await session.execute(select(AuditChainHead))).scalar_one()

    assert [(row.seq, row.job_id) for row in rows] == [(1, "job-2")]
    assert (head.last_seq, head.last_hash) == (1, rows[0].hash)


async def test_a_missing_head_row_is_made_again_from_the_start(container: Container) -> None:
    async with container.sessions.begin() as session:
        await session.execute(delete(AuditChainHead))
    await _append(container, _entry(1))
    async with container.sessions.begin() as session:
        await session.execute(update(AuditChainHead).values(last_seq=1))
    assert (await _verify(container)).ok
