"""What one audit record costs (ADR 0021): appends to the hash chain, alone and contending.

For each database it times, in alternating rounds, a write transaction that appends one record
and commits, against the same transaction without the append (what the record adds), then N
appenders at once (each its own transaction: the chain's lock serialises them) and verifying
the chain. SQLite is a scratch file; PostgreSQL is a scratch database (dropped and recreated).

    .venv/bin/python bench/audit.py [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench_audit]
        [--rounds 2000] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from measure import pct, recreate_database
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sqr_reports.audit import service as audit
from sqr_reports.clock import SystemClock
from sqr_reports.db.clock import DatabaseClock, ProcessClock, SessionClock
from sqr_reports.db.engine import Engines, create_engines, is_sqlite
from sqr_reports.db.migrate import upgrade

ENTRY = audit.Entry(
    "report.url_minted",
    "client:sqr_bench_client",
    org_id="9c4b8e1e-0f6f-4f33-9b1e-6a3c2d1b0a99",
    job_id="3fa85f64-5717-4562-b3fc-2c963f66afa6",
    origin=audit.Origin(source="203.0.113.7", request_id="4bf92f3577b34da6a3ce929d0e0e4736"),
    details={"expires_in_seconds": 300},
)


async def _transaction(
    sessions: async_sessionmaker[AsyncSession], clock: SessionClock, *, append: bool
) -> float:
    """One write transaction (a statement, then the append or not, then commit): its time."""
    started = time.perf_counter()
    async with sessions.begin() as session:
        await session.execute(select(1))
        if append:
            await audit.record(session, clock, ENTRY)
    return time.perf_counter() - started


async def _alternating(
    sessions: async_sessionmaker[AsyncSession], clock: SessionClock, rounds: int
) -> tuple[list[float], list[float], float]:
    """Wall times without and with a record, and this process's CPU time per record added
    (every thread's: aiosqlite runs SQLite on one), the steadier figure on a busy machine."""
    without: list[float] = []
    with_append: list[float] = []
    cpu = [0.0, 0.0]
    for _ in range(rounds):
        for index, append in enumerate((False, True)):
            started = time.process_time()
            elapsed = await _transaction(sessions, clock, append=append)
            cpu[index] += time.process_time() - started
            (with_append if append else without).append(elapsed)
    return without, with_append, (cpu[1] - cpu[0]) / rounds


async def _contending(
    sessions: async_sessionmaker[AsyncSession], clock: SessionClock, tasks: int, each: int
) -> float:
    """Appends per second with `tasks` appenders at once, `each` appends apiece."""

    async def appender() -> None:
        for _ in range(each):
            await _transaction(sessions, clock, append=True)

    started = time.perf_counter()
    await asyncio.gather(*(appender() for _ in range(tasks)))
    return tasks * each / (time.perf_counter() - started)


async def _timed(step: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await step()
    return time.perf_counter() - started


def _ms(values: list[float], q: float) -> str:
    return f"{pct(values, q) * 1000:.3f}"


async def run(url: str, rounds: int, concurrency: int) -> None:
    engines: Engines = create_engines(url)
    await upgrade(engines.writer)
    sessions = async_sessionmaker(engines.writer, expire_on_commit=False)
    clock: SessionClock = ProcessClock(SystemClock()) if is_sqlite(url) else DatabaseClock()
    try:
        await _alternating(sessions, clock, 100)  # warm-up
        without, with_append, cpu = await _alternating(sessions, clock, rounds)
        rate = await _contending(sessions, clock, concurrency, max(1, rounds // concurrency))

        async def verify() -> audit.Verification:
            async with sessions() as session:
                return await audit.verify(session)

        verified = await verify()
        verify_seconds = await _timed(verify)
    finally:
        await engines.dispose()
    added = statistics.median(with_append) - statistics.median(without)
    print(f"{'SQLite' if is_sqlite(url) else 'PostgreSQL'}, {rounds} rounds:")
    print(f"  transaction without a record p50/p99: {_ms(without, 0.5)} / {_ms(without, 0.99)} ms")
    print(f"  the same with one record      p50/p99: {_ms(with_append, .5)} / "
          f"{_ms(with_append, .99)} ms  (a record adds {added * 1000:.3f} ms at p50)")  # fmt: skip
    print(f"  CPU of this process per record added: {cpu * 1000:.3f} ms")
    print(
        f"  {concurrency} appenders at once: {rate:,.0f} records/s (serialised by the chain's lock)"
    )
    print(f"  verify: {verified.checked:,} records in {verify_seconds:.2f} s, intact={verified.ok}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="", help="PostgreSQL (dropped and recreated)")
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    if args.database_url:
        recreate_database(args.database_url)
        asyncio.run(run(args.database_url, args.rounds, args.concurrency))
        return
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'audit.db'}"
        asyncio.run(run(url, args.rounds, args.concurrency))


if __name__ == "__main__":
    main()
