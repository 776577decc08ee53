"""A queue row's life as an operator follows it: one log line and one count per event.

created (once the transaction that queued the row has committed), claimed, then completed,
retried, failed, released (shutdown) or lost (its lease was taken over), and reaped (its lease
expired: its worker died or hung). Each line carries the row's ids (`row_ids`: the job, its
org, the request that created it), so the worker's lines join up with the request's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from sqr_reports.correlation import Id
from sqr_reports.metrics.instruments import instruments
from sqr_reports.queue.table import Queued
from sqr_reports.queue.work import Claim, WorkFailed

log = logging.getLogger(__name__)
_CREATED = "sqr_reports.queue.created"
#: The `error_code` label of an outcome that has none.
NO_ERROR = "none"


class Kind(Protocol):
    """A kind of work as the log names it (a `Work`, or its class)."""

    @property
    def name(self) -> str: ...
    @property
    def table(self) -> type[Queued]: ...


def row_ids(kind: Kind, row: Any) -> Mapping[str, Id]:
    """The ids a row's log lines carry: those its kind names (an optional static `log_ids`),
    else the row's own id (as `<kind>_id`) and its org's."""
    named: Callable[[Any], Mapping[str, Id]] | None = getattr(kind, "log_ids", None)
    if named is not None:
        return named(row)
    org_id = getattr(row, "org_id", None)
    return {f"{kind.name}_id": row.id, **({"org_id": org_id} if org_id else {})}


def created_on_commit(session: AsyncSession, rows: Iterable[Queued]) -> None:
    """Log `rows` as created once the caller's transaction commits (`log_created_on_commit`)."""
    session.info.setdefault(_CREATED, []).extend(rows)


def log_created_on_commit(session_class: type[Session], kinds: Iterable[Kind]) -> None:
    """After each commit of `session_class`, log and count the rows it queued, by kind."""
    by_table = {kind.table: kind for kind in kinds}

    def after_commit(session: Session) -> None:
        for row in session.info.pop(_CREATED, ()):
            kind = by_table.get(type(row))
            if kind is not None:
                instruments().queue_created.labels(kind.name).inc()
                fields = {"event": f"{kind.name}.created", **row_ids(kind, row)}
                log.info("%s created", kind.name, extra=fields)

    def after_rollback(session: Session) -> None:
        session.info.pop(_CREATED, None)

    event.listen(session_class, "after_commit", after_commit)
    event.listen(session_class, "after_soft_rollback", lambda s, _t: after_rollback(s))


def claimed(claim: Claim) -> None:
    instruments().queue_claims.labels(claim.kind).inc()
    log.info(
        "%s claimed (attempt %d of %d)", claim.kind, claim.attempt, claim.max_attempts,
        extra=_claim(claim, "claimed"),
    )  # fmt: skip


def completed(claim: Claim, seconds: float) -> None:
    _count(claim, "completed", NO_ERROR, seconds)
    log.info("%s completed", claim.kind, extra=_claim(claim, "completed", seconds))


def failed(claim: Claim, failure: WorkFailed, seconds: float) -> None:
    """A failed attempt: retried after a backoff, or the row's final failure."""
    final = not failure.transient or claim.is_last_attempt
    outcome = "failed" if final else "retried"
    _count(claim, outcome, failure.code, seconds)
    fields = _claim(claim, outcome, seconds) | {"error_code": failure.code}
    log.info("%s %s (%s)", claim.kind, outcome, failure.code, extra=fields)


def released(claim: Claim, seconds: float) -> None:
    _count(claim, "released", NO_ERROR, seconds)
    log.info("%s released to the queue", claim.kind, extra=_claim(claim, "released", seconds))


def lost(claim: Claim, seconds: float) -> None:
    _count(claim, "lost", NO_ERROR, seconds)
    log.warning(
        "%s lease lost before its outcome was recorded; result discarded", claim.kind,
        extra=_claim(claim, "lost", seconds),
    )  # fmt: skip


def reaped(kind: str, ids: Mapping[str, Id], attempt: int, failure: WorkFailed | None) -> None:
    """A row whose lease expired: back to the queue, or failed with `failure` (no attempts left)."""
    outcome = "requeued" if failure is None else "failed"
    instruments().lease_reaps.labels(kind, outcome).inc()
    fields = {"event": f"{kind}.reaped", "attempt": attempt, **ids}
    if failure is not None:
        instruments().queue_outcomes.labels(kind, "failed", failure.code).inc()
        fields["error_code"] = failure.code
    log.warning("%s lease expired (worker gone); %s", kind, outcome, extra=fields)


def _count(claim: Claim, outcome: str, error_code: str, seconds: float) -> None:
    metrics = instruments()
    metrics.queue_outcomes.labels(claim.kind, outcome, error_code).inc()
    metrics.queue_processing.labels(claim.kind, outcome).observe(seconds)


def _claim(claim: Claim, what: str, seconds: float | None = None) -> dict[str, Any]:
    """A claim's fields; its ids are the context's already (the worker binds them)."""
    fields: dict[str, Any] = {"event": f"{claim.kind}.{what}", "attempt": claim.attempt}
    if seconds is not None:
        fields["duration_ms"] = round(seconds * 1000, 1)
    return fields
