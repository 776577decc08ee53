"""The Typst renderer: a small pool of render processes, each with a time limit.

`concurrent.futures.ProcessPoolExecutor` cannot kill one task that runs too long, so each slot
owns one process and a pipe: a render that overruns its limit gets its process killed (and the
job fails with RENDER_TIMEOUT); a process is also replaced after a number of renders, so a
slow leak in the renderer never grows without bound. A killed or recycled process is replaced
at once, so the next job does not pay the start-up on its own clock.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any

from sqr_reports.rendering import (
    RenderCrashed,
    RenderedReport,
    RenderFailed,
    RenderTimeout,
    typst_process,
)

_spawn = multiprocessing.get_context("spawn")
#: How long a new render process may take to load Typst and the fonts (about a second).
STARTUP_SECONDS = 60.0


class _Slot:
    """One render process. Used by one render at a time (from a worker thread)."""

    def __init__(self, memory_limit_mib: int, max_renders: int, templates_dir: Path, empty: Path):
        self._child_args = (memory_limit_mib, str(templates_dir), str(empty))
        self._max_renders = max_renders
        self._process: SpawnProcess | None = None
        self._connection: Connection | None = None
        self._renders = 0
        self._ready = False

    @property
    def pid(self) -> int | None:
        """The process id of the live render process, if any."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        parent, child = _spawn.Pipe()
        process = _spawn.Process(
            target=typst_process.serve,
            args=(child, *self._child_args),
            name="sqr-reports-render",
            daemon=True,
        )
        process.start()
        child.close()
        self._process, self._connection, self._renders, self._ready = process, parent, 0, False

    def wait_ready(self) -> None:
        """Wait for the process to say it is limited, isolated and loaded.

        Start-up is not charged to a render's time limit: only the render itself is.
        """
        if self._ready:
            return
        assert self._connection is not None
        try:
            if not self._connection.poll(STARTUP_SECONDS):
                raise RenderCrashed(f"the render process did not start in {STARTUP_SECONDS:g} s")
            greeting = self._connection.recv()
            if greeting != typst_process.READY:
                raise RenderCrashed(
                    f"the render process speaks {greeting!r}, not {typst_process.READY!r}: "
                    "its code changed under this worker; restart the worker"
                )
        except (EOFError, OSError, RenderCrashed) as exc:
            self.stop()  # restarted on next use: a process that cannot start must not spin
            if isinstance(exc, RenderCrashed):
                raise
            raise RenderCrashed("the render process died while starting") from exc
        self._ready = True

    def render(self, request: tuple[str, str, float], timeout: float) -> tuple[str, Any, int]:
        if self._process is None or not self._process.is_alive():
            self.start()
        assert self._connection is not None
        request_id = uuid.uuid4().hex
        try:
            self.wait_ready()
            self._connection.send((request_id, *request))
            if not self._connection.poll(timeout):
                self._replace()
                raise RenderTimeout(f"render exceeded {timeout:g} s")
            answer = self._connection.recv()
        except (EOFError, OSError) as exc:
            self.stop()  # started again by the next render, not in a loop here
            raise RenderCrashed("the render process died") from exc
        if not (isinstance(answer, tuple) and len(answer) == 4 and answer[0] == request_id):
            self.stop()  # out of step: nothing more from this process can be trusted
            raise RenderCrashed("the render process answered another request")
        self._renders += 1
        if self._renders >= self._max_renders:
            self._replace()
        return answer[1], answer[2], answer[3]

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
        if self._process is not None:
            self._process.kill()
            self._process.join(timeout=5)
        self._process = self._connection = None

    def _replace(self) -> None:
        self.stop()
        self.start()


class TypstRenderer:
    def __init__(
        self,
        *,
        processes: int,
        timeout_seconds: float,
        memory_limit_mib: int,
        max_renders_per_process: int,
        templates_dir: Path = typst_process.TEMPLATES_DIR,
    ):
        self._timeout = timeout_seconds
        # Stands in for Typst's package folders in every child: nothing to import from.
        self._empty = Path(tempfile.mkdtemp(prefix="sqr-render-no-packages-"))
        self._slots = [
            _Slot(memory_limit_mib, max_renders_per_process, templates_dir, self._empty)
            for _ in range(processes)
        ]
        self._idle: asyncio.Queue[_Slot] | None = None
        # Read once: templates ship with the code, and a render should not list a directory.
        self._versions = sorted(
            path.name for path in templates_dir.iterdir() if (path / "report.typ").is_file()
        )

    def template_versions(self) -> list[str]:
        return list(self._versions)

    def process_ids(self) -> list[int]:
        """The ids of the live render processes (for monitoring, tests and the benchmark)."""
        return [pid for slot in self._slots if (pid := slot.pid) is not None]

    @property
    def packages_dir(self) -> Path:
        """The render processes' package path and cache: empty, unless a package got in
        (for monitoring and tests)."""
        return self._empty

    async def start(self) -> None:
        """Start the processes ahead of the first job (a cold start costs about a second)."""
        await asyncio.gather(*(asyncio.to_thread(self._start, slot) for slot in self._slots))

    async def render(
        self, template_version: str, data: Mapping[str, Any], generated_at: datetime
    ) -> RenderedReport:
        if template_version not in self._versions:
            raise RenderFailed(f"unknown template version {template_version!r}")
        request = (template_version, json.dumps(data, ensure_ascii=False), generated_at.timestamp())
        idle = self._idle_slots()
        slot = await idle.get()
        rendering = asyncio.ensure_future(asyncio.to_thread(slot.render, request, self._timeout))
        # The slot goes back only when its thread is done with it, even if this task is
        # cancelled meanwhile (shutdown): a slot still waiting for an answer must not be reused.
        rendering.add_done_callback(lambda done: _give_back(done, idle, slot))
        outcome, payload, pages = await asyncio.shield(rendering)
        if outcome != "ok":
            raise RenderFailed(payload)
        return RenderedReport(pdf=payload, page_count=pages, template_version=template_version)

    @staticmethod
    def _start(slot: _Slot) -> None:
        slot.start()
        slot.wait_ready()

    async def close(self) -> None:
        await asyncio.gather(*(asyncio.to_thread(slot.stop) for slot in self._slots))
        shutil.rmtree(self._empty, ignore_errors=True)

    def _idle_slots(self) -> asyncio.Queue[_Slot]:
        if self._idle is None:  # created lazily: it must belong to the running loop
            self._idle = asyncio.Queue()
            for slot in self._slots:
                self._idle.put_nowait(slot)
        return self._idle


def _give_back(done: asyncio.Future[Any], idle: asyncio.Queue[_Slot], slot: _Slot) -> None:
    idle.put_nowait(slot)
    if not done.cancelled():
        done.exception()  # marks it retrieved: a cancelled caller never will
