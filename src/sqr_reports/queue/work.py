"""What the queue needs from a kind of durable work, and what it hands a kind: claims, failures."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.correlation import Id
from sqr_reports.queue.table import Queued

_jitter = random.SystemRandom()


@dataclass(frozen=True, slots=True)
class Claim:
    """A lease on one queue row: `attempt` is the fencing token every later write checks."""

    kind: str
    id: str
    attempt: int
    max_attempts: int
    owner: str
    #: When the lease was taken, by the database's clock (ADR 0011).
    claimed_at: datetime
    #: The row's ids for log lines (`telemetry.row_ids`): bound while the claim is worked on.
    ids: Mapping[str, Id] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


class WorkFailed(Exception):
    """The work of a claim failed: `code` is the kind's machine-readable word, `message` is
    written for the client, and `transient` says whether another attempt may succeed."""

    def __init__(self, code: str, message: str, *, transient: bool):
        super().__init__(message)
        self.code = code
        self.message = message
        self.transient = transient


@dataclass(frozen=True, slots=True)
class Lease:
    """How long a claim lives without a heartbeat, and how often it is renewed."""

    seconds: float
    heartbeat_seconds: float


def exponential_backoff(attempt: int, *, base: float, ceiling: float) -> float:
    """Delay before retry `attempt + 1`: base doubling per attempt, capped, jittered to half to
    full so that retries of a burst do not arrive together."""
    delay = min(ceiling, base * 2.0 ** (attempt - 1))
    return float(delay * _jitter.uniform(0.5, 1.0))


class Work(Protocol):
    """A kind of durable work: its table, its limits, and what it does with a claim.

    `perform` runs outside any transaction (it may take seconds); whatever it raises, `classify`
    turns into a `WorkFailed` (the kind's failure policy: its code, message, and whether another
    attempt may help). The `on_*` hooks
    run inside the transaction that records the outcome, after its fencing check passed, so
    whatever they write (columns, outbox events) commits with the outcome or not at all.

    A kind may also name the ids its rows' log lines carry, with a static `log_ids(row)`
    (`telemetry.row_ids`); without one, a row goes by its id and its org's.
    """

    # Read-only: a kind may declare them as class attributes of narrower types.
    @property
    def name(self) -> str: ...
    @property
    def table(self) -> type[Queued]: ...
    @property
    def done_status(self) -> str: ...
    @property
    def failed_status(self) -> str: ...
    @property
    def lease(self) -> Lease: ...
    @property
    def concurrency(self) -> int: ...
    @property
    def abandoned(self) -> WorkFailed:
        """The failure of a claim whose worker stopped responding on its last attempt."""

    def backoff_seconds(self, attempt: int) -> float: ...

    def on_claim(self, row: Any, now: datetime) -> None:
        """Adjust the row as it is claimed (e.g. a first `started_at`)."""

    async def perform(self, claim: Claim) -> Any: ...

    def classify(self, exc: Exception) -> WorkFailed:
        """What an exception from `perform` means (and whether it is worth a traceback)."""

    async def discard(self, claim: Claim, result: Any) -> None:
        """Undo what `perform` left behind when its result cannot be recorded (lease lost)."""

    async def on_done(
        self, session: AsyncSession, claim: Claim, result: Any, now: datetime
    ) -> dict[str, Any]:
        """Columns to write with the done status; may add rows in `session` (the outbox)."""

    async def on_failed(
        self, session: AsyncSession, row_id: str, failure: WorkFailed, now: datetime
    ) -> dict[str, Any]:
        """Columns to write with the failed status (after the last attempt); may add rows."""

    async def on_attempt_failed(
        self, session: AsyncSession, claim: Claim, failure: WorkFailed, now: datetime
    ) -> None:
        """Record a failed attempt that will be retried (or is final: `on_failed` follows)."""

    async def housekeeping(self, session: AsyncSession, now: datetime) -> None:
        """Periodic clean-up between claims (about once a minute)."""
