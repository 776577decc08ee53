"""The history checker: what every job went through, held against what must be true of it.

| figure | what it counts |
|---|---|
| accepted | jobs whose POST was answered 202 (after retries through the outages) |
| terminal | accepted jobs `COMPLETE` or `FAILED` at the end, by status and `errorCode` |
| lost | accepted jobs with no row at the end, or whose row was ever deleted |
| stuck | accepted jobs still `PENDING` or `PROCESSING` when the run stopped waiting |
| wrongly overwritten | jobs whose history breaks a rule below (the reasons are printed) |
| rendered twice | jobs whose PDF reached S3 from more than one attempt (bucket versions) |
| stale writes refused | fenced UPDATEs that matched no row: the claim had moved on |
| longest time to terminal | the most `completedAt - createdAt` of any job (database clock) |

"Rendered twice" is allowed (processing is at least once); only the winning attempt's PDF may
be served. Stale writes are counted by the write they were: heartbeat, finish (completion or
final failure), retry (back to the queue) or release (shutdown).

A job is wrongly overwritten when: it became terminal more than once, or not from `PROCESSING`
by the claim's own attempt; anything a client relies on (status, storage key, sha256, size,
errorCode, completedAt) changed after the transaction that made it terminal; it was claimed
while claimed, or a claim did not take the next attempt number; a `COMPLETE` job's storage key
is not its completing attempt's, or S3 serves no object, or one whose SHA-256 or size differs
from the job's; a client was shown it terminal and later something else, or the API's answer at
the end differs from the database; or a frozen worker's claim wrote after it was reaped.
The run fails on any lost, stuck or wrongly overwritten job, and when the frozen worker's late
write was not seen refused (the fault would then have proved nothing).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from chaos_faults import FrozenClaim
from chaos_history import Change, Evidence, Job
from chaos_load import ClientJob
from measure import pct

from sqr_reports.reports.models import TERMINAL, JobStatus, report_key

#: Writes of a frozen worker after it is continued come within a second or two (its heartbeat
#: is overdue, its render finishes); this window keeps them apart from later faults' writes.
LATE_WRITE_WINDOW = timedelta(seconds=10)
_SET_COLUMN = re.compile(r"(\w+)=")


@dataclass
class Verdict:
    accepted: int = 0
    terminal: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    overwritten: dict[str, list[str]] = field(default_factory=dict)
    claimed_again: int = 0
    rendered_twice: list[str] = field(default_factory=list)
    discarded: int = 0
    orphaned: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    late_refused: int = 0
    unknown_to_clients: int = 0
    to_terminal: list[tuple[float, str, int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def fail(self, job_id: str, reason: str) -> None:
        self.overwritten.setdefault(job_id, []).append(reason)


def refused_write(query: str) -> str | None:
    """Which worker write an UPDATE that matched no row was, from its SQL text; None when it
    was not a fenced write (only those name the lease owner in their WHERE clause)."""
    head, _, where = query.partition(" WHERE ")
    if "lease_owner =" not in where:
        return None
    columns = set(_SET_COLUMN.findall(head.partition(" SET ")[2]))
    if columns == {"lease_expires_at"}:
        return "heartbeat"
    if "max_attempts" in columns:
        return "release"
    if "run_after" in columns:
        return "retry"
    return "finish"


def check_claims(verdict: Verdict, job_id: str, changes: list[Change]) -> None:
    """Each claim takes a PENDING row and the next attempt; a held claim keeps both."""
    for change in changes:
        if change.op != "UPDATE" or change.new_status != JobStatus.PROCESSING:
            continue
        if change.old_status == JobStatus.PROCESSING:
            if (change.old_owner, change.old_attempts) != (change.new_owner, change.new_attempts):
                verdict.fail(job_id, f"claimed while claimed (attempt {change.new_attempts})")
        elif change.old_status != JobStatus.PENDING:
            verdict.fail(job_id, f"claimed from {change.old_status}")
        elif change.new_attempts != (change.old_attempts or 0) + 1:
            verdict.fail(job_id, f"claim took attempt {change.new_attempts}")


def check_settled(verdict: Verdict, job_id: str, changes: list[Change]) -> Change | None:
    """Terminal once, from PROCESSING by the claim's attempt, and never changed afterwards.
    Returns the job's settled state (the last write of the transaction that ended it)."""
    ends = [c for c in changes if c.new_status in TERMINAL and c.old_status not in TERMINAL]
    if not ends:
        return None
    if len(ends) > 1:
        verdict.fail(job_id, f"became terminal {len(ends)} times")
    end = ends[0]
    if end.old_status != JobStatus.PROCESSING or end.old_attempts != end.new_attempts:
        verdict.fail(job_id, f"ended from {end.old_status} at attempt {end.old_attempts}")
    settled = [c for c in changes if c.tx == end.tx][-1]
    for later in changes:
        if later.seq > settled.seq and later.outcome() != settled.outcome():
            verdict.fail(job_id, f"outcome changed after it was terminal: {later.outcome()}")
            break
    return settled


def check_stored(verdict: Verdict, job: Job, settled: Change, evidence: Evidence) -> None:
    """A COMPLETE job's PDF is its completing attempt's, and S3 serves exactly those bytes."""
    attempt = settled.new_attempts or 0
    if job.storage_key != report_key(job.org_id, job.id, attempt):
        verdict.fail(job.id, f"storage key is not attempt {attempt}'s")
        return
    served = evidence.served.get(job.storage_key)
    if served is None:
        verdict.fail(job.id, "S3 serves no object for it")
    elif served != (job.sha256, job.size_bytes):
        verdict.fail(job.id, "S3 serves an object whose SHA-256 or size is not the job's")


def check_client(verdict: Verdict, client: ClientJob, job: Job) -> None:
    """Once shown terminal, always shown the same; at the end, shown what the database has."""
    shown = [(o.status, o.sha256) for o in client.observations]
    first = next((i for i, (status, _) in enumerate(shown) if status in TERMINAL), None)
    if first is not None and len(set(shown[first:])) > 1:
        verdict.fail(job.id, f"a client was shown {shown[first]} and later something else")
    final = client.final
    if final is None:
        verdict.problems.append(f"{job.id}: the API gave no answer about it at the end")
    elif (final.status, final.sha256) != (job.status, job.sha256):
        verdict.fail(job.id, "the API's answer at the end is not the database's")


def check_frozen(verdict: Verdict, frozen: list[FrozenClaim], evidence: Evidence) -> None:
    """A frozen claim is reaped while frozen and writes nothing afterwards, and its worker's
    late writes were seen refused."""
    for claim in frozen:
        writes = [
            c for c in evidence.history.get(claim.job_id, [])
            if (c.old_owner, c.old_attempts) == (claim.owner, claim.attempt)
        ]  # fmt: skip
        if not any(c.new_owner != claim.owner and c.at <= claim.continued_at for c in writes):
            verdict.problems.append(f"{claim.job_id}: the frozen claim was not reaped in time")
        elif any(c.at > claim.continued_at for c in writes):
            verdict.fail(claim.job_id, f"frozen attempt {claim.attempt} wrote after reaping")
    if frozen:
        since = frozen[0].continued_at
        verdict.late_refused = sum(
            1
            for update in evidence.unmatched
            if since <= update.at <= since + LATE_WRITE_WINDOW and refused_write(update.query)
        )
        if not verdict.late_refused:
            verdict.problems.append("the frozen worker's late write was not seen refused")


def count_stored(verdict: Verdict, evidence: Evidence) -> None:
    """Renders that reached S3, from the bucket's versions: per job, per attempt."""
    served_keys = {job.storage_key for job in evidence.jobs.values()}
    for job_id, versions in evidence.versions.items():
        if len({v.key for v in versions if not v.deleted}) > 1:
            verdict.rendered_twice.append(job_id)
        latest = [v for v in versions if v.latest]
        verdict.discarded += sum(1 for v in latest if v.deleted)
        verdict.orphaned += sum(1 for v in latest if not v.deleted and v.key not in served_keys)


def check_job(verdict: Verdict, client: ClientJob, evidence: Evidence) -> None:
    job_id = client.job_id or ""
    job, changes = evidence.jobs.get(job_id), evidence.history.get(job_id, [])
    if job is None or any(c.op == "DELETE" for c in changes):
        verdict.lost.append(job_id)
        return
    if job.status not in TERMINAL:
        verdict.stuck.append(job_id)
    verdict.claimed_again += job.attempts > 1
    check_claims(verdict, job_id, changes)
    settled = check_settled(verdict, job_id, changes)
    if job.status == JobStatus.COMPLETE and settled is not None:
        check_stored(verdict, job, settled, evidence)
    check_client(verdict, client, job)
    if job.status in TERMINAL:
        failed = f"FAILED {job.error_code}"
        verdict.terminal[job.status if job.status == JobStatus.COMPLETE else failed] += 1
    if job.completed_at is not None:
        seconds = (job.completed_at - job.created_at).total_seconds()
        verdict.to_terminal.append((seconds, job_id, job.attempts))


def check(clients: list[ClientJob], evidence: Evidence, frozen: list[FrozenClaim]) -> Verdict:
    verdict = Verdict()
    accepted = [c for c in clients if c.accepted]
    verdict.accepted = len(accepted)
    for client in accepted:
        check_job(verdict, client, evidence)
    verdict.unknown_to_clients = len(set(evidence.jobs) - {c.job_id for c in accepted})
    count_stored(verdict, evidence)
    for update in evidence.unmatched:
        verdict.refused[refused_write(update.query) or "not a fenced write"] += 1
    check_frozen(verdict, frozen, evidence)
    return verdict


def figures(verdict: Verdict) -> list[tuple[str, str]]:
    """The printed figures, in the order of the table in this module's docstring."""
    terminal = ", ".join(f"{k} {n}" for k, n in sorted(verdict.terminal.items()))
    refused = sum(n for kind, n in verdict.refused.items() if kind != "not a fenced write")
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(verdict.refused.items()))
    times = sorted(verdict.to_terminal)
    seconds = [t for t, _, _ in times]
    longest = (
        f"{times[-1][0]:.1f} s (job {times[-1][1]}, {times[-1][2]} attempt(s)); "
        f"p50 {pct(seconds, 0.5):.2f} s, p99 {pct(seconds, 0.99):.2f} s"
        if times
        else "n/a"
    )
    return [
        ("accepted", f"{verdict.accepted} (rows no client was told of: "
                     f"{verdict.unknown_to_clients})"),
        ("terminal", f"{sum(verdict.terminal.values())} ({terminal or 'none'})"),
        ("lost", str(len(verdict.lost))),
        ("stuck", str(len(verdict.stuck))),
        ("wrongly overwritten", str(len(verdict.overwritten))),
        ("rendered twice", f"{len(verdict.rendered_twice)} (claimed more than once: "
                           f"{verdict.claimed_again}; refused results discarded from S3: "
                           f"{verdict.discarded}; PDFs left behind: {verdict.orphaned})"),
        ("stale writes refused", f"{refused} ({kinds or 'none'}); of the frozen worker, "
                                 f"after SIGCONT: {verdict.late_refused}"),
        ("longest time to terminal", longest),
    ]  # fmt: skip
