"""The Typst renderer: a pool of render processes, each render with a time limit, and a spare.

Each render process (`render_process`) is started with `subprocess` and imports the rendering
code and Typst, never the service: multiprocessing's "spawn" re-imported the parent's `__main__`,
which for `sqr-reports` is the whole service (0.9 s, and 80 MiB in every render process).

A render over its time limit gets its process killed (RENDER_TIMEOUT); a process that dies fails
its render (RenderCrashed, retried by the queue). A process is retired after a number of renders
and once a render leaves it above a memory ceiling, so a slow leak never grows without bound.
`concurrent.futures.ProcessPoolExecutor` can do neither: it cannot kill the one task that overruns.

No render waits for a process to start. One spare, started and ready, takes the place of every
process that leaves, and the next spare starts in the background. When a process has one render
left, the spare replays the last good render (warming Typst's cache, which a new process lacks);
a process due to retire serves on until the spare is ready and warm. Only a second crash or
timeout within one start-up (about 0.1 s) can make a render wait for a process to start, and
start-up is never charged to a render's time limit. The cost: one more process per pool, 33 MiB
while it waits.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqr_reports.rendering import (
    RenderCrashed,
    RenderedReport,
    RenderFailed,
    RenderTimeout,
    typst_process,
)
from sqr_reports.rendering.render_process import RenderProcess

#: What a render process runs (`python -m`): the rendering package's `__main__`.
CHILD_MODULE = "sqr_reports.rendering"


@dataclass(frozen=True, slots=True)
class RenderProcessInfo:
    """One render process as the pool sees it (for monitoring, tests and the benchmark)."""

    pid: int
    spare: bool
    renders: int
    #: Spawn to ready; None while it starts.
    startup_seconds: float | None
    #: Resident memory after its last render; None before one (or without /proc).
    rss_mib: float | None
    #: The modules it had imported when it said it was ready.
    modules: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RenderPoolStats:
    """What the pool has done since it started."""

    started: int
    retired: int
    #: Spawn to ready, of the last 100 processes that started.
    startup_seconds: tuple[float, ...]
    #: Renders that waited for their process to start, and the longest such wait.
    renders_that_waited: int
    longest_wait_seconds: float


class TypstRenderer:
    def __init__(
        self,
        *,
        processes: int,
        timeout_seconds: float,
        memory_limit_mib: int,
        max_renders_per_process: int,
        max_rss_mib_per_process: int = 0,
        templates_dir: Path = typst_process.TEMPLATES_DIR,
    ):
        self._size = processes
        self._timeout = timeout_seconds
        self._max_renders = max_renders_per_process
        self._max_rss_mib = max_rss_mib_per_process
        # Stands in for Typst's package folders in every child: nothing to import from.
        self._empty = Path(tempfile.mkdtemp(prefix="sqr-render-no-packages-"))
        self._command = [
            sys.executable, "-P", "-m", CHILD_MODULE,
            str(memory_limit_mib), str(templates_dir), str(self._empty),
        ]  # fmt: skip
        self._serving: list[RenderProcess] = []
        self._spare: RenderProcess | None = None
        self._idle: asyncio.Queue[RenderProcess] | None = None
        self._live: set[RenderProcess] = set()  # started and not yet stopped
        self._pending: set[asyncio.Future[Any]] = set()  # renders, start-ups, retirements
        self._closed = False
        self._started = self._retired = self._waited = 0
        self._longest_wait = 0.0
        self._startups: deque[float] = deque(maxlen=100)
        self._last_good: tuple[dict[str, Any], bytes] | None = None  # replayed to warm a spare
        # Read once: templates ship with the code, and a render should not list a directory.
        self._versions = sorted(
            path.name for path in templates_dir.iterdir() if (path / "report.typ").is_file()
        )

    def template_versions(self) -> list[str]:
        return list(self._versions)

    def process_ids(self) -> list[int]:
        """The ids of the render processes in service, not the spare (for monitoring, tests
        and the benchmark)."""
        return [pid for process in self._serving if (pid := process.pid) is not None]

    def processes(self) -> list[RenderProcessInfo]:
        """The render processes in service, then the spare."""
        every = [*self._serving, *([self._spare] if self._spare else [])]
        return [
            RenderProcessInfo(
                pid=pid,
                spare=process is self._spare,
                renders=process.renders,
                startup_seconds=process.startup_seconds,
                rss_mib=process.rss_mib,
                modules=process.modules,
            )
            for process in every
            if (pid := process.pid) is not None
        ]

    def stats(self) -> RenderPoolStats:
        return RenderPoolStats(
            started=self._started,
            retired=self._retired,
            startup_seconds=tuple(self._startups),
            renders_that_waited=self._waited,
            longest_wait_seconds=self._longest_wait,
        )

    @property
    def packages_dir(self) -> Path:
        """The render processes' package path and cache: empty, unless a package got in
        (for monitoring and tests)."""
        return self._empty

    async def start(self) -> None:
        """Start the processes and the spare ahead of the first job, and wait until they are
        ready (a cold start costs about 0.1 s). Called again, it waits for a spare starting."""
        self._idle_processes()
        starting = [p.readiness for p in [*self._serving, self._spare] if p and p.readiness]
        await asyncio.gather(*map(asyncio.shield, starting))

    async def render(
        self, template_version: str, data: Mapping[str, Any], generated_at: datetime
    ) -> RenderedReport:
        if template_version not in self._versions:
            raise RenderFailed(f"unknown template version {template_version!r}")
        request = {"version": template_version, "timestamp": generated_at.timestamp()}
        payload = json.dumps(data, ensure_ascii=False).encode()
        idle = self._idle_processes()
        process = await idle.get()
        if self._closed:
            idle.put_nowait(process)  # for the next caller, to be refused too
            raise RenderCrashed("the renderer is closed")
        rendering = self._track(asyncio.ensure_future(self._render_on(process, request, payload)))
        # The process goes back (or is replaced) only when its thread is done with it, even if
        # this task is cancelled meanwhile (shutdown): one still waiting for an answer must not
        # be reused.
        rendering.add_done_callback(lambda done: self._settle(process, done))
        outcome, result, pages = await asyncio.shield(rendering)
        if outcome != "ok":
            raise RenderFailed(result)
        self._last_good = (request, payload)
        return RenderedReport(pdf=result, page_count=pages, template_version=template_version)

    async def _render_on(
        self, process: RenderProcess, request: dict[str, Any], payload: bytes
    ) -> tuple[str, Any, int]:
        assert process.readiness is not None
        if not process.readiness.done():  # start-up: never charged to the render's time limit
            waiting = time.monotonic()
            await asyncio.wait([process.readiness])
            self._waited += 1
            self._longest_wait = max(self._longest_wait, time.monotonic() - waiting)
        try:
            process.readiness.result()  # RenderCrashed if it could not start
        except RenderTimeout as exc:  # its warm-up overran, and it was killed
            raise RenderCrashed("the render process overran its warm-up") from exc
        return await asyncio.to_thread(process.render, request, payload, self._timeout)

    def _settle(self, process: RenderProcess, done: asyncio.Future[Any]) -> None:
        """Put the process back for the next render, or the spare in its place if it must go."""
        assert self._idle is not None
        if self._closed:
            self._idle.put_nowait(process)  # killed by close(); wakes a caller still waiting
            return
        if process.broken or (self._due(process) and self._successor_ready()):
            successor = self._take_spare()
            self._serving[self._serving.index(process)] = successor
            self._retire(process)
            process = successor
        elif self._due(process) or process.renders + 1 >= self._max_renders:
            self._warm_spare()  # it serves on meanwhile
        self._idle.put_nowait(process)

    def _due(self, process: RenderProcess) -> bool:
        """Whether the process has done its share: renders, or memory."""
        if process.renders >= self._max_renders:
            return True
        rss = process.rss_mib
        return bool(self._max_rss_mib and rss is not None and rss > self._max_rss_mib)

    def _successor_ready(self) -> bool:
        """Whether the spare is ready to take over: started, and warmed if it can be."""
        ready = self._spare_ready()  # may start another spare in place of a dead one
        spare = self._spare
        return ready and spare is not None and (spare.warm or self._last_good is None)

    def _spare_ready(self) -> bool:
        spare = self._spare
        if spare is None or spare.readiness is None or not spare.readiness.done():
            return False
        greeted = spare.startup_seconds is not None  # one that cannot start is not restarted
        if greeted and (spare.broken or spare.gone()):  # its warm-up failed, or it was killed
            self._last_good = None  # a warm-up that failed is not tried again with that data
            self._retire(spare)
            self._spare = self._launch()
            return False
        return _succeeded(spare.readiness)

    def _warm_spare(self) -> None:
        """Replay the last good render in the spare (its PDF unused) while the process it will
        succeed renders its last: Typst's cache is empty in a new process, and would make the
        render after the takeover slower (100 ms of CPU instead of 20)."""
        spare, last = self._spare, self._last_good
        if spare is None or last is None or spare.warm or not _succeeded(spare.readiness):
            return
        spare.warm = True
        warming = asyncio.to_thread(spare.render, *last, self._timeout)
        spare.readiness = self._track(asyncio.ensure_future(warming))

    def _take_spare(self) -> RenderProcess:
        """The spare, to go into service; the next spare starts in the background."""
        spare, self._spare = self._spare, self._launch()
        if spare is None or spare.broken or spare.gone():
            if spare is not None:
                self._retire(spare)
            spare = self._launch()
        return spare

    def _launch(self) -> RenderProcess:
        process = RenderProcess(self._command)
        self._live.add(process)
        self._started += 1
        readiness = asyncio.ensure_future(asyncio.to_thread(process.wait_ready))
        readiness.add_done_callback(lambda done: self._count_startup(process))
        process.readiness = self._track(readiness)
        return process

    def _count_startup(self, process: RenderProcess) -> None:
        if process.startup_seconds is not None:
            self._startups.append(process.startup_seconds)

    def _retire(self, process: RenderProcess) -> None:
        """Let a process that leaves service exit, in the background."""
        self._retired += 1
        self._track(asyncio.ensure_future(self._retire_when_idle(process)))

    async def _retire_when_idle(self, process: RenderProcess) -> None:
        if process.readiness is not None:  # its pipe is the start-up thread's until then
            await asyncio.wait([process.readiness])
        await asyncio.to_thread(process.retire)
        self._live.discard(process)

    def _track(self, future: asyncio.Future[Any]) -> asyncio.Future[Any]:
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        future.add_done_callback(_retrieve)
        return future

    async def close(self) -> None:
        """Stop every render process: in service, the spare, and any starting or retiring."""
        self._closed = True
        await asyncio.gather(*(asyncio.to_thread(p.kill) for p in list(self._live)))
        while self._pending:  # each ends promptly now that its process is dead
            await asyncio.wait(list(self._pending))
        for process in self._live:
            process.stop()
        self._live.clear()
        shutil.rmtree(self._empty, ignore_errors=True)

    def _idle_processes(self) -> asyncio.Queue[RenderProcess]:
        if self._closed:
            raise RenderCrashed("the renderer is closed")
        if self._idle is None:  # created lazily: it must belong to the running loop
            self._idle = asyncio.Queue()
            self._serving = [self._launch() for _ in range(self._size)]
            for process in self._serving:
                self._idle.put_nowait(process)
            self._spare = self._launch()
        return self._idle


def _succeeded(future: asyncio.Future[Any] | None) -> bool:
    return (
        future is not None
        and future.done()
        and not future.cancelled()
        and future.exception() is None
    )


def _retrieve(done: asyncio.Future[Any]) -> None:
    """Marks an outcome retrieved: a failed start-up or a cancelled caller's render may have
    no one else to look at it."""
    if not done.cancelled():
        done.exception()
