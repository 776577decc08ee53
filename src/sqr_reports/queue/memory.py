"""An in-memory `Queue` for fast tests of the worker loop and of a kind's failure policy.

It keeps the queue's rules (leases, fencing, backoff, attempts, release, reaping) on plain
entries and records outcomes instead of writing rows, so it needs no database; the `on_*` hooks
of a kind, which write in the outcome's transaction, are not called. The database adapter
(`store.SqlQueue`) is what the SQLite and PostgreSQL suites prove.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqr_reports.clock import Clock
from sqr_reports.queue.store import Queue
from sqr_reports.queue.table import QueueState
from sqr_reports.queue.work import Claim, Work, WorkFailed


@dataclass
class Entry:
    id: str
    max_attempts: int
    run_after: datetime
    status: str = QueueState.PENDING
    attempts: int = 0
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    result: Any = None
    failure: WorkFailed | None = None


class MemoryQueue:
    def __init__(self, clock: Clock):
        self._clock = clock
        self.entries: dict[str, dict[str, Entry]] = {}
        self.housekeeping_runs = 0

    def add(self, kind: str, entry_id: str, *, max_attempts: int = 3) -> Entry:
        """Enqueue, due now."""
        entry = Entry(entry_id, max_attempts, self._clock.now())
        self.entries.setdefault(kind, {})[entry_id] = entry
        return entry

    async def claim(self, work: Work, owner: str) -> Claim | None:
        now = self._clock.now()
        due = [e for e in self._of(work) if e.status == QueueState.PENDING and e.run_after <= now]
        if not due:
            return None
        entry = min(due, key=lambda e: e.run_after)
        entry.status = QueueState.PROCESSING
        entry.attempts += 1
        entry.lease_owner = owner
        entry.lease_expires_at = now + timedelta(seconds=work.lease.seconds)
        return Claim(work.name, entry.id, entry.attempts, entry.max_attempts, owner, now)

    async def heartbeat(self, work: Work, claim: Claim) -> bool:
        entry = self._held(work, claim)
        if entry is not None:
            entry.lease_expires_at = self._clock.now() + timedelta(seconds=work.lease.seconds)
        return entry is not None

    async def complete(self, work: Work, claim: Claim, result: Any) -> bool:
        entry = self._held(work, claim)
        if entry is None:
            return False
        self._finish(entry, work.done_status)
        entry.result = result
        return True

    async def fail(self, work: Work, claim: Claim, failure: WorkFailed) -> bool:
        entry = self._held(work, claim)
        if entry is None:
            return False
        entry.failure = failure
        if failure.transient and not claim.is_last_attempt:
            self._requeue(entry, work.backoff_seconds(claim.attempt))
        else:
            self._finish(entry, work.failed_status)
        return True

    async def release(self, work: Work, claim: Claim) -> bool:
        entry = self._held(work, claim)
        if entry is None:
            return False
        self._requeue(entry, 0.0)
        entry.max_attempts += 1
        return True

    async def reap(self, work: Work) -> int:
        now = self._clock.now()
        expired = [
            e
            for e in self._of(work)
            if e.status == QueueState.PROCESSING and e.lease_expires_at and e.lease_expires_at < now
        ]
        for entry in expired:
            if entry.attempts >= entry.max_attempts:
                entry.failure = work.abandoned
                self._finish(entry, work.failed_status)
            else:
                self._requeue(entry, work.backoff_seconds(entry.attempts))
        return len(expired)

    async def housekeeping(self, work: Work) -> None:
        self.housekeeping_runs += 1

    def _of(self, work: Work) -> list[Entry]:
        return list(self.entries.get(work.name, {}).values())

    def _held(self, work: Work, claim: Claim) -> Entry | None:
        """The fencing check."""
        entry = self.entries.get(work.name, {}).get(claim.id)
        holds = (
            entry is not None
            and entry.status == QueueState.PROCESSING
            and entry.attempts == claim.attempt
            and entry.lease_owner == claim.owner
        )
        return entry if holds else None

    def _finish(self, entry: Entry, status: str) -> None:
        entry.status, entry.lease_owner, entry.lease_expires_at = status, None, None

    def _requeue(self, entry: Entry, delay_seconds: float) -> None:
        self._finish(entry, QueueState.PENDING)
        entry.run_after = self._clock.now() + timedelta(seconds=delay_seconds)


def _conforms(clock: Clock) -> Queue:
    return MemoryQueue(clock)  # mypy proves the fake satisfies the port
