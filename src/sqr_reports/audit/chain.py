"""The audit chain's arithmetic, without a database: a record's hash, and the walk that checks
a run of records against the chain's two ends."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

#: Changes only if what a hash covers changes; verifying then needs both rules.
FORMAT_VERSION = 1


class Chained(Protocol):
    """A record as the chain sees it (`models.AuditRecord` has it)."""

    @property
    def seq(self) -> int: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def event(self) -> str: ...
    @property
    def actor(self) -> str: ...
    @property
    def org_id(self) -> str | None: ...
    @property
    def job_id(self) -> str | None: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def source(self) -> str | None: ...
    @property
    def request_id(self) -> str | None: ...
    @property
    def details(self) -> dict[str, Any]: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...


def content(record: Chained) -> dict[str, Any]:
    """Everything a record says, as JSON values: what its hash covers and what export prints."""
    return {
        "seq": record.seq,
        "occurred_at": record.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "event": record.event,
        "actor": record.actor,
        "org_id": record.org_id,
        "job_id": record.job_id,
        "user_id": record.user_id,
        "source": record.source,
        "request_id": record.request_id,
        "details": record.details,
    }


def digest(prev_hash: str, fields: dict[str, Any]) -> str:
    """SHA-256 of the previous hash and a record's content, as canonical JSON (sorted keys,
    no spaces), so that the same record hashes the same on any database and any Python."""
    body = {"v": FORMAT_VERSION, "prev_hash": prev_hash, **fields}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Break:
    """The first place the chain does not hold: the record (by its position) and why."""

    seq: int
    reason: str


class ChainWalk:
    """Checks records handed to it in `seq` order, from the chain's anchor (the last pruned
    record, or the start) to its head (the newest record, as the lock row names it).

    A changed record fails its own hash; a removed one leaves a gap in `seq` and a `prev_hash`
    that points at nothing; records put in another order fail both; records cut off the end
    leave the head pointing past the last one.
    """

    def __init__(self, anchor_seq: int, anchor_hash: str):
        self.expected_seq = anchor_seq + 1
        self.prev_hash = anchor_hash
        self.checked = 0
        self.broken: Break | None = None

    def step(self, record: Chained) -> bool:
        """Check the next record; False (and `broken` set) at the first that does not hold."""
        if self.broken is not None:
            return False
        if record.seq != self.expected_seq:
            return self._break(self.expected_seq, f"record {self.expected_seq} is missing")
        if record.prev_hash != self.prev_hash:
            return self._break(record.seq, "it does not chain to the record before it")
        if digest(record.prev_hash, content(record)) != record.hash:
            return self._break(record.seq, "its content does not match its hash")
        self.expected_seq += 1
        self.prev_hash = record.hash
        self.checked += 1
        return True

    def finish(self, last_seq: int, last_hash: str) -> Break | None:
        """The walk's verdict, given the head's view of the newest record."""
        newest = self.expected_seq - 1
        if self.broken is not None or (newest, self.prev_hash) == (last_seq, last_hash):
            return self.broken
        if last_seq > newest:
            self._break(newest + 1, f"records {newest + 1} to {last_seq} are missing")
        elif last_seq < newest:
            self._break(last_seq + 1, "it was not appended through the chain's head")
        else:
            self._break(newest, "it is not the record the chain's head names")
        return self.broken

    def _break(self, seq: int, reason: str) -> bool:
        self.broken = Break(seq, reason)
        return False
