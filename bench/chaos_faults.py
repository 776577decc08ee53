"""The faults of the chaos run, and the worker fleet they strike.

- A worker SIGKILLed (with its render processes) mid-claim, preferably one holding a lease at
  that moment (killing an idle worker proves little); a new worker replaces it at once.
- A worker frozen past its lease (SIGSTOP to its process group while it holds a claim), kept
  frozen until another worker has reaped the claim, then continued (SIGCONT): whatever it writes
  about that claim must be refused.
- The database cut for a while: every service reaches PostgreSQL through a TCP proxy (the
  outage tests' `TcpProxy`), which refuses new connections and resets open ones.
- S3 unreachable for a while (its own proxy cut: connections refused) and S3 frozen for a while
  (the run's own LocalStack SIGSTOPped: requests hang, then complete).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from processes import Service, Services
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from tests.support import TcpProxy

ROOT = Path(__file__).resolve().parent.parent


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Fault:
    """One fault as it happened: what, when, and against what."""

    name: str
    started: datetime
    detail: str = ""
    ended: datetime | None = None


@dataclass(frozen=True)
class FrozenClaim:
    """A claim its worker held when it was frozen; its late writes must all be refused."""

    job_id: str
    attempt: int
    owner: str
    stopped_at: datetime
    continued_at: datetime


class ProxyThread:
    """The outage tests' `TcpProxy` (tests/support.py), on an event loop in a thread of its own,
    so the database and S3 traffic it carries never waits behind the run's own work."""

    def __init__(self, host: str, port: int):
        if str(ROOT) not in sys.path:
            sys.path.append(str(ROOT))  # so that `tests.support` imports
        from tests.support import TcpProxy

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._proxy: TcpProxy = TcpProxy(host, port)
        self._wait(self._proxy.start())

    @property
    def port(self) -> int:
        return self._proxy.port

    def _wait(self, work: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout=30)

    async def cut(self) -> None:
        """Refuse new connections and reset the open ones."""
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._proxy.cut(), self._loop))

    async def restore(self) -> None:
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._proxy.start(), self._loop))

    def close(self) -> None:
        self._wait(self._proxy.cut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


@contextlib.contextmanager
def proxy(host: str, port: int) -> Iterator[ProxyThread]:
    through = ProxyThread(host, port)
    try:
        yield through
    finally:
        through.close()


class Held(NamedTuple):
    """A claim held now: its job, its attempt (the fencing token) and its lease owner."""

    job_id: str
    attempt: int
    owner: str


def owner_pid(owner: str) -> int:
    """A lease owner is `host:pid:random` (queue/worker.py)."""
    return int(owner.rsplit(":", 2)[1])


async def leases(engine: AsyncEngine) -> list[Held]:
    """(job id, attempt, owner) of every claim held now."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT id, attempts, lease_owner FROM report_jobs WHERE status = 'PROCESSING'")
        )
        return [Held(row.id, row.attempts, row.lease_owner) for row in rows]


async def unlocked_leases(engine: AsyncEngine, pid: int) -> list[Held]:
    """The claims a worker holds that no open transaction has locked (rolled back at once).

    A worker frozen inside a transaction would hold its row lock, and reaping skips locked rows,
    so its claim could not be taken over until it continued: no late write to refuse.
    """
    async with engine.connect() as connection, connection.begin():
        rows = await connection.execute(
            text(
                "SELECT id, attempts, lease_owner FROM report_jobs WHERE status = 'PROCESSING'"
                " AND lease_owner LIKE :owner FOR UPDATE SKIP LOCKED"
            ),
            {"owner": f"%:{pid}:%"},
        )
        held = [Held(row.id, row.attempts, row.lease_owner) for row in rows]
        await connection.rollback()
    return held


async def reaped(engine: AsyncEngine, claims: list[Held]) -> bool:
    """Whether none of these claims holds its row any more."""
    held = set(await leases(engine))
    return not held.intersection(claims)


@dataclass
class Fleet:
    """The worker processes: started, SIGKILLed and replaced, frozen and continued."""

    services: Services
    env: dict[str, str]
    workdir: Path
    concurrency: int
    rng: random.Random
    faults: list[Fault] = field(default_factory=list)
    frozen: list[FrozenClaim] = field(default_factory=list)
    #: Workers this run killed on purpose (any other that died is a finding).
    killed: set[str] = field(default_factory=set)
    _started: int = 0
    _paused: Service | None = None

    def start_worker(self) -> Service:
        self._started += 1
        return self.services.start(
            f"worker-{self._started}", "worker",
            ["worker", "--concurrency", str(self.concurrency)], self.env, self.workdir,
        )  # fmt: skip

    def workers(self) -> list[Service]:
        """The workers running now (and not frozen)."""
        return [
            s for s in self.services.started
            if s.kind == "worker" and s.running() and s is not self._paused
        ]  # fmt: skip

    async def kill_one(self, engine: AsyncEngine) -> None:
        """SIGKILL a worker (and its render processes) caught holding a claim, or after 5 s of
        looking any worker; a new worker replaces it at once."""
        holding: list[Service] = []
        for _ in range(50):
            holding = await self._holding(engine)
            if holding:
                break
            await asyncio.sleep(0.1)
        workers = holding or self.workers()
        if not workers:
            return
        victim = self.rng.choice(workers)
        victim.signal_group(signal.SIGKILL)
        self.killed.add(victim.name)
        held = "holding a claim" if holding else "idle"
        replacement = self.start_worker()
        self.faults.append(Fault("SIGKILL worker", now(), f"{victim.name} ({held}); "
                                 f"{replacement.name} started"))  # fmt: skip

    async def _holding(self, engine: AsyncEngine) -> list[Service]:
        """The running workers that hold a claim now."""
        busy = {owner_pid(held.owner) for held in await leases(engine)}
        return [w for w in self.workers() if w.pid in busy]

    async def freeze_one(self, engine: AsyncEngine, lease_seconds: float) -> None:
        """Freeze a worker that holds a claim until the claim is reaped, then continue it."""
        stopped = await self._stop_a_holder(engine)
        if stopped is None:
            self.faults.append(Fault("SIGSTOP worker", now(), "no worker held a claim: skipped"))
            return
        worker, claims, stopped_at = stopped
        fault = Fault("SIGSTOP worker", stopped_at, f"{worker.name} holding {len(claims)} claim(s)")
        self.faults.append(fault)
        taken_over = False
        try:
            await asyncio.sleep(lease_seconds)
            for _ in range(300):  # another worker reaps within a second or two; 30 s at most
                if taken_over := await reaped(engine, claims):
                    break
                await asyncio.sleep(0.1)
        finally:
            worker.signal_group(signal.SIGCONT)
            self._paused = None
        fault.ended = now()
        fault.detail += "; SIGCONT once " + ("reaped" if taken_over else "30 s passed unreaped")
        self.frozen += [FrozenClaim(*held, stopped_at, fault.ended) for held in claims]

    async def _stop_a_holder(
        self, engine: AsyncEngine
    ) -> tuple[Service, list[Held], datetime] | None:
        """SIGSTOP a worker caught holding an unlocked claim (up to 300 tries, 0.1 s apart)."""
        for _ in range(300):
            holding = await self._holding(engine)
            if holding:
                worker = self.rng.choice(holding)
                worker.signal_group(signal.SIGSTOP)
                self._paused = worker
                stopped_at = now()
                claims = await unlocked_leases(engine, worker.pid)
                if claims:
                    return worker, claims, stopped_at
                worker.signal_group(signal.SIGCONT)
                self._paused = None
            await asyncio.sleep(0.1)
        return None


async def outage(
    faults: list[Fault],
    name: str,
    seconds: float,
    begin: Callable[[], Awaitable[None]],
    end: Callable[[], Awaitable[None]],
) -> None:
    """`begin` the outage, wait `seconds`, `end` it (whatever happens in between)."""
    fault = Fault(name, now(), f"{seconds:g} s")
    faults.append(fault)
    await begin()
    try:
        await asyncio.sleep(seconds)
    finally:
        await end()
        fault.ended = now()


async def send_signal(pid: int, signum: int) -> None:
    """`os.kill`, as an outage's begin or end."""
    os.kill(pid, signum)
