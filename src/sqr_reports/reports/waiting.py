"""Waiting for a job instead of polling it: RFC 7240 `Prefer: wait=N`.

A held request watches for its job to settle (`queue.settlement`) and re-reads it when told,
and at the latest every `recheck_seconds`, until the job is terminal or the wait is over. While
it waits it holds no database connection, no transaction and no lock: each read is one
statement (`service.job_status`), and its caller's grant is re-checked on every read, as on
any poll. Reads are what answers, never a notification, so a lost notification delays the
answer by one re-check at most and a spurious one costs one read.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from sqr_reports.queue.settlement import Settlements
from sqr_reports.reports.service import JobStatusAnswer

#: The longest wait a request may ask for: under the service's shutdown grace period (30 s by
#: default), so a held request ends before a graceful shutdown gives up on it, and under the
#: idle timeouts of common proxies and load balancers (60 s).
MAX_WAIT_SECONDS = 20

# RFC 7240 §2: preference = token [ BWS "=" BWS word ] *( OWS ";" [ OWS parameter ] ), and
# `Prefer` is a comma-separated list, possibly over several header lines. "wait" takes a
# delta-seconds (RFC 7240 §4.3: ASCII digits), optionally quoted.
_WAIT = re.compile(r'\s*wait\s*=\s*(?:"([0-9]+)"|([0-9]+))\s*(?:;.*)?', re.ASCII | re.IGNORECASE)


def requested_wait(prefer: Iterable[str]) -> int | None:
    """The seconds a `Prefer` header asks to wait, capped at `MAX_WAIT_SECONDS`; None if it
    asks for no wait, or for one this service cannot honour (zero, or not delta-seconds): a
    preference not understood is ignored (RFC 7240 §2), so the request is answered at once.
    """
    for field_value in prefer:
        for preference in field_value.split(","):
            if match := _WAIT.fullmatch(preference):
                seconds = int(match.group(1) or match.group(2))
                return min(seconds, MAX_WAIT_SECONDS) if seconds > 0 else None
    return None


@dataclass(frozen=True, slots=True)
class Waiting:
    """What a held request needs: this process's settlements, and how often to re-read
    anyway (the safety net for a notification that never comes)."""

    settlements: Settlements
    recheck_seconds: float


async def until_terminal(
    read: Callable[[], Awaitable[JobStatusAnswer]],
    first: JobStatusAnswer,
    *,
    waiting: Waiting,
    seconds: float,
) -> JobStatusAnswer:
    """The job as `read` finds it once it is terminal or `seconds` have passed, starting from
    `first`, a read already made (answered as it is if the job is already terminal)."""
    if first.retry_after is None:
        return first
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    with waiting.settlements.watch(first.job.id) as settled:
        answer = await read()  # the job may have settled before the watch began
        while answer.retry_after is not None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(settled.wait(), min(remaining, waiting.recheck_seconds))
            settled.clear()
            answer = await read()
    return answer
