"""The worker loop, for every kind of durable work at once.

Whatever happens to a row, it ends in its kind's done or failed status: failures the kind
understands are final or retried as it says; anything else is retried with backoff until the
last attempt; and if this process dies, its leases expire and any worker's reaping puts the
rows back on the queue (or fails them when they are out of attempts).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from sqr_reports import correlation
from sqr_reports.metrics.instruments import instruments
from sqr_reports.queue import telemetry
from sqr_reports.queue.store import Queue
from sqr_reports.queue.wakeup import Wakeup
from sqr_reports.queue.work import Claim, Work, WorkFailed

log = logging.getLogger(__name__)
T = TypeVar("T")
OUTAGE_BACKOFF_MAX = 30.0
HOUSEKEEPING_EVERY_SECONDS = 60.0
#: Expired leases are looked for at most this often (and at every poll, if polls are more
#: frequent): a lease lasts many seconds, and on SQLite every look takes the one write lock.
REAP_EVERY_SECONDS = 1.0


class Listener(Protocol):
    """A source of wake-ups from other processes (PostgreSQL LISTEN), run for the loop's life."""

    async def run(self) -> None: ...


class Worker:
    def __init__(
        self,
        *,
        queue: Queue,
        works: Sequence[Work],
        wakeup: Wakeup,
        poll_seconds: float,
        shutdown_grace_seconds: float,
        listener: Listener | None = None,
    ):
        self.queue = queue
        self.works = tuple(works)
        self._wakeup = wakeup
        self._poll_seconds = poll_seconds
        self._grace = shutdown_grace_seconds
        self._listener = listener
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._tasks: dict[str, set[asyncio.Task[None]]] = {work.name: set() for work in works}
        self._stopping = False
        self._outage_delay = 0.0
        self._last_housekeeping = float("-inf")
        self._last_reap = float("-inf")
        self._reap_every = min(poll_seconds, REAP_EVERY_SECONDS)
        self._idle = False
        self._idle_changed = asyncio.Condition()

    # -- the loop -------------------------------------------------------------------------------
    async def run(self) -> None:
        """Claim and process work until `stop()`; in-flight work is awaited on the way out."""
        kinds = ", ".join(f"{w.name} x{w.concurrency}" for w in self.works)
        log.info("worker %s started (%s)", self.owner, kinds)
        listening = asyncio.create_task(self._listener.run()) if self._listener else None
        self._count_slots(+1)
        try:
            while not self._stopping:
                await self._maintain()
                for work in self.works:
                    await self._fill(work)
                await self._wait_for_work()
        finally:
            await self._finish_in_flight()
            if listening is not None:
                listening.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listening
            self._count_slots(-1)
            log.info("worker %s stopped", self.owner)

    def _count_slots(self, sign: int) -> None:
        """This worker's share of `sqr_reports_worker_slots` (summed over live processes: no
        slots anywhere is the "no workers" alert)."""
        for work in self.works:
            instruments().worker_slots.labels(work.name).inc(sign * work.concurrency)

    async def _maintain(self) -> None:
        """Reap expired leases about every second; housekeeping about once a minute."""
        started = time.monotonic()
        reap = started - self._last_reap >= self._reap_every
        housekeeping = started - self._last_housekeeping >= HOUSEKEEPING_EVERY_SECONDS
        for work in self.works:
            if reap:  # each reaped row is logged and counted (`telemetry.reaped`)
                await self._guarded(functools.partial(self.queue.reap, work))
            if housekeeping:
                await self._guarded(functools.partial(self.queue.housekeeping, work))
        if reap:
            self._last_reap = started
        if housekeeping:
            self._last_housekeeping = started

    async def _fill(self, work: Work) -> None:
        running = self._tasks[work.name]
        while not self._stopping and len(running) < work.concurrency:
            claim = await self._guarded(lambda: self.queue.claim(work, self.owner))
            if claim is None:
                return
            task = asyncio.create_task(self._process_logged(work, claim))
            running.add(task)
            task.add_done_callback(self._on_done)

    def _on_done(self, task: asyncio.Task[None]) -> None:
        for running in self._tasks.values():
            running.discard(task)
        self._wakeup.notify()

    def _in_flight(self) -> set[asyncio.Task[None]]:
        return set().union(*self._tasks.values())

    async def _finish_in_flight(self) -> None:
        """Let running work finish within the grace period; release the rest to the queue."""
        tasks = self._in_flight()
        if not tasks:
            return
        log.info("waiting up to %.0f s for %d claim(s) in flight", self._grace, len(tasks))
        _, unfinished = await asyncio.wait(tasks, timeout=self._grace)
        for task in unfinished:
            task.cancel()  # `process` releases its claim on the way out
        await asyncio.gather(*unfinished, return_exceptions=True)

    async def _wait_for_work(self) -> None:
        """Wait for a wake-up or the next poll; idle meanwhile if nothing is in flight."""
        if not self._in_flight() and not self._wakeup.pending:
            async with self._idle_changed:
                self._idle = True
                self._idle_changed.notify_all()
        try:
            await self._wakeup.wait(self._poll_seconds)
        finally:
            self._idle = False

    async def wait_until_idle(self) -> None:
        """Return once `run` found nothing to claim and waits with nothing in flight and no
        wake-up pending, so that only a wake-up (or the poll) starts its next pass."""
        async with self._idle_changed:
            await self._idle_changed.wait_for(lambda: self._idle and not self._wakeup.pending)

    def stop(self) -> None:
        self._stopping = True
        self._wakeup.notify()

    async def drain(self) -> int:
        """Process due work one claim at a time until none is left; returns how many claims
        (tests and tools: no concurrency, no waiting)."""
        processed = 0
        for work in self.works:
            await self.queue.reap(work)
            await self.queue.housekeeping(work)
        progress = True
        while progress:
            progress = False
            for work in self.works:
                while (claim := await self.queue.claim(work, self.owner)) is not None:
                    await self.process(work, claim)
                    processed += 1
                    progress = True
        return processed

    async def _guarded(self, step: Callable[[], Awaitable[T | None]]) -> T | None:
        """A database outage must not kill the loop: log, back off (exponentially), retry."""
        try:
            result = await step()
        except Exception as exc:
            self._outage_delay = min(OUTAGE_BACKOFF_MAX, max(0.5, self._outage_delay * 2))
            log.error("worker step failed (%s); retrying in %.1f s", type(exc), self._outage_delay)
            await asyncio.sleep(self._outage_delay)
            return None
        if self._outage_delay:
            log.info("worker recovered")
            self._outage_delay = 0.0
        return result

    # -- one claim ----------------------------------------------------------------------------
    async def _process_logged(self, work: Work, claim: Claim) -> None:
        try:
            await self.process(work, claim)
        except Exception:
            # Typically the database went away; the lease will expire and the row be retried.
            log.exception("%s %s: could not record the outcome", work.name, claim.id)

    async def process(self, work: Work, claim: Claim) -> None:
        """Work on `claim` and record its outcome, with its ids on every log line meanwhile
        (the render's, the store's, the heartbeat's)."""
        with correlation.bound(**claim.ids, attempt=claim.attempt), _busy(work.name):
            telemetry.claimed(claim)
            started = time.monotonic()
            heartbeat = asyncio.create_task(self._heartbeat(work, claim))
            try:
                outcome = await self._perform(work, claim)
            except asyncio.CancelledError:
                await asyncio.shield(self._release(work, claim, started))
                raise
            finally:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat
            await self._record(work, claim, outcome, time.monotonic() - started)

    async def _record(self, work: Work, claim: Claim, outcome: Any, seconds: float) -> None:
        """Write the outcome, fenced: a claim whose lease was taken over changes nothing."""
        if isinstance(outcome, WorkFailed):
            if await self.queue.fail(work, claim, outcome):
                telemetry.failed(claim, outcome, seconds)
            else:
                telemetry.lost(claim, seconds)
        elif await self.queue.complete(work, claim, outcome):
            telemetry.completed(claim, seconds)
        else:
            telemetry.lost(claim, seconds)
            await work.discard(claim, outcome)

    async def _perform(self, work: Work, claim: Claim) -> Any:
        try:
            return await work.perform(claim)
        except Exception as exc:
            return exc if isinstance(exc, WorkFailed) else work.classify(exc)

    async def _release(self, work: Work, claim: Claim, started: float) -> None:
        try:
            released = await self.queue.release(work, claim)
        except Exception:
            log.exception("%s %s: could not release; its lease will expire", work.name, claim.id)
        else:
            (telemetry.released if released else telemetry.lost)(claim, time.monotonic() - started)

    async def _heartbeat(self, work: Work, claim: Claim) -> None:
        while True:
            await asyncio.sleep(work.lease.heartbeat_seconds)
            try:
                held = await self.queue.heartbeat(work, claim)
            except Exception:
                log.exception("%s %s: heartbeat failed", work.name, claim.id)
                continue
            if not held:
                log.warning("%s %s: lease lost to another worker", work.name, claim.id)
                return


@contextlib.contextmanager
def _busy(kind: str) -> Iterator[None]:
    """Count a claim in `sqr_reports_worker_busy` while it is worked on."""
    busy = instruments().worker_busy.labels(kind)
    busy.inc()
    try:
        yield
    finally:
        busy.dec()
