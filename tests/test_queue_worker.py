"""The worker loop's rules, on the in-memory queue: no database, so each test takes milliseconds.

The same rules on real SQLite and PostgreSQL rows are proven by test_job_queue.py and
test_scale_out.py; here a small kind of work stands in for reports and webhook deliveries.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.queue.memory import MemoryQueue
from sqr_reports.queue.table import Queued
from sqr_reports.queue.wakeup import Wakeup
from sqr_reports.queue.work import Claim, Lease, Work, WorkFailed
from sqr_reports.queue.worker import Worker
from tests.support import MovableClock

TRANSIENT = WorkFailed("FLAKY", "try again", transient=True)
PERMANENT = WorkFailed("BROKEN", "will not work", transient=False)


@dataclass
class Chores:
    """A kind of work whose `perform` does what its script says for each attempt of an id."""

    name: str = "chore"
    table: type[Queued] = Queued
    done_status: str = "DONE"
    failed_status: str = "FAILED"
    lease: Lease = field(default_factory=lambda: Lease(seconds=30, heartbeat_seconds=10))
    concurrency: int = 2
    abandoned: WorkFailed = field(
        default_factory=lambda: WorkFailed("GONE", "worker stopped", transient=True)
    )
    script: dict[str, list[Any]] = field(default_factory=dict)
    performed: list[Claim] = field(default_factory=list)
    discarded: list[Any] = field(default_factory=list)
    gate: asyncio.Event | None = None
    running: int = 0
    most_running: int = 0
    #: Notified whenever a claim starts, so a test can wait for work in flight.
    started: asyncio.Condition = field(default_factory=asyncio.Condition)

    def backoff_seconds(self, attempt: int) -> float:
        return 10.0 * attempt

    def on_claim(self, row: Any, now: datetime) -> None:
        return None

    async def perform(self, claim: Claim) -> Any:
        self.performed.append(claim)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        async with self.started:
            self.started.notify_all()
        try:
            if self.gate is not None:
                await self.gate.wait()
            steps = self.script.get(claim.id, [])
            step = steps[claim.attempt - 1] if claim.attempt <= len(steps) else "ok"
            if isinstance(step, Exception):
                raise step
            return f"{claim.id}:{step}"
        finally:
            self.running -= 1

    def classify(self, exc: Exception) -> WorkFailed:
        return WorkFailed("INTERNAL", "unexpected", transient=True)

    async def discard(self, claim: Claim, result: Any) -> None:
        self.discarded.append(result)

    async def on_done(
        self, session: AsyncSession, claim: Claim, result: Any, now: datetime
    ) -> dict[str, Any]:
        return {}

    async def on_failed(
        self, session: AsyncSession, row_id: str, failure: WorkFailed, now: datetime
    ) -> dict[str, Any]:
        return {}

    async def on_attempt_failed(
        self, session: AsyncSession, claim: Claim, failure: WorkFailed, now: datetime
    ) -> None:
        return None

    async def housekeeping(self, session: AsyncSession, now: datetime) -> None:
        return None


def _is_work(chores: Chores) -> Work:
    return chores  # mypy: the test kind satisfies the port the real kinds do


@pytest.fixture
def queue(clock: MovableClock) -> MemoryQueue:
    return MemoryQueue(clock)


def _worker(queue: MemoryQueue, *works: Chores, wakeup: Wakeup | None = None) -> Worker:
    return Worker(
        queue=queue,
        works=works,
        wakeup=wakeup or Wakeup(),
        poll_seconds=3600,  # only wake-ups start a pass: a test that relies on polling hangs
        shutdown_grace_seconds=0,
    )


async def test_a_transient_failure_is_retried_after_its_backoff(
    queue: MemoryQueue, clock: MovableClock
) -> None:
    chores = Chores(script={"a": [TRANSIENT, "ok"]})
    entry = queue.add("chore", "a")
    worker = _worker(queue, chores)

    assert await worker.drain() == 1
    assert (entry.status, entry.failure) == ("PENDING", TRANSIENT)
    clock.advance(9)
    assert await worker.drain() == 0  # backoff of attempt 1 is 10 s
    clock.advance(2)
    assert await worker.drain() == 1
    assert (entry.status, entry.result, entry.attempts) == ("DONE", "a:ok", 2)


async def test_a_permanent_failure_ends_failed_at_once(queue: MemoryQueue) -> None:
    entry = queue.add("chore", "a", max_attempts=5)

    await _worker(queue, Chores(script={"a": [PERMANENT]})).drain()

    assert (entry.status, entry.attempts, entry.failure) == ("FAILED", 1, PERMANENT)


async def test_the_last_attempt_fails_for_good_and_an_unknown_error_is_classified(
    queue: MemoryQueue, clock: MovableClock
) -> None:
    entry = queue.add("chore", "a", max_attempts=2)
    worker = _worker(queue, Chores(script={"a": [TRANSIENT, RuntimeError("bug")]}))

    await worker.drain()
    clock.advance(60)
    await worker.drain()

    assert (entry.status, entry.attempts) == ("FAILED", 2)
    assert entry.failure is not None
    assert entry.failure.code == "INTERNAL"


async def test_a_claim_whose_lease_was_taken_over_cannot_complete(
    queue: MemoryQueue, clock: MovableClock
) -> None:
    chores = Chores()
    entry = queue.add("chore", "a")
    slow = _worker(queue, chores)
    stale = await queue.claim(chores, slow.owner)
    assert stale is not None
    clock.advance(31)  # the lease expires; another worker reaps it ...
    other = _worker(queue, chores)
    await other.drain()
    clock.advance(11)  # ... and after the backoff takes the job over
    await other.drain()

    await slow.process(chores, stale)  # the first worker finally finishes

    assert (entry.status, entry.attempts, entry.result) == ("DONE", 2, "a:ok")
    assert chores.discarded == ["a:ok"]  # its late result was thrown away, not recorded


async def test_stopping_releases_work_in_flight_without_spending_an_attempt(
    queue: MemoryQueue,
) -> None:
    chores = Chores(gate=asyncio.Event())  # never opens: the work is still running at stop
    entry = queue.add("chore", "a", max_attempts=3)
    worker = _worker(queue, chores)
    running = asyncio.create_task(worker.run())
    async with chores.started:
        await chores.started.wait_for(lambda: chores.running == 1)

    worker.stop()
    await running

    assert (entry.status, entry.attempts, entry.max_attempts) == ("PENDING", 1, 4)


async def test_each_kind_runs_at_most_its_concurrency_and_one_worker_serves_every_kind(
    queue: MemoryQueue,
) -> None:
    gate, started = asyncio.Event(), asyncio.Condition()
    reports = Chores(gate=gate, started=started)
    deliveries = Chores(name="delivery", concurrency=3, gate=gate, started=started)
    for index in range(5):
        queue.add("chore", f"r{index}")
        queue.add("delivery", f"d{index}")
    worker = _worker(queue, reports, deliveries)
    running = asyncio.create_task(worker.run())
    async with started:
        await started.wait_for(lambda: reports.running + deliveries.running == 5)

    assert (reports.running, deliveries.running) == (2, 3)
    gate.set()
    await worker.wait_until_idle()
    worker.stop()
    await running

    assert (reports.most_running, deliveries.most_running) == (2, 3)
    assert all(e.status == "DONE" for kind in queue.entries.values() for e in kind.values())


async def test_an_idle_worker_wakes_for_new_work_without_polling(queue: MemoryQueue) -> None:
    wakeup = Wakeup()
    chores = Chores()
    worker = _worker(queue, chores, wakeup=wakeup)
    running = asyncio.create_task(worker.run())
    await worker.wait_until_idle()

    entry = queue.add("chore", "late")
    wakeup.notify()  # what a commit that enqueued work does
    await worker.wait_until_idle()
    worker.stop()
    await running

    assert entry.status == "DONE"
