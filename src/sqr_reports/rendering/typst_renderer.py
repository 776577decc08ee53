"""The Typst renderer: a small pool of render processes, each with a time limit.

`concurrent.futures.ProcessPoolExecutor` cannot kill one task that runs too long, so each slot
owns one process and a pipe: a render that overruns its limit gets its process killed (and the
job fails with RENDER_TIMEOUT); a process is also replaced after a number of renders, so a
slow leak in the renderer never grows without bound.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
from collections.abc import Mapping
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from typing import Any

from sqr_reports.rendering import (
    RenderCrashed,
    RenderedReport,
    RenderFailed,
    RenderTimeout,
    typst_process,
)

_spawn = multiprocessing.get_context("spawn")


class _Slot:
    """One render process. Used by one render at a time (from a worker thread)."""

    def __init__(self, memory_limit_mib: int, max_renders: int):
        self._memory_limit_mib = memory_limit_mib
        self._max_renders = max_renders
        self._process: SpawnProcess | None = None
        self._connection: Connection | None = None
        self._renders = 0

    def start(self) -> None:
        parent, child = _spawn.Pipe()
        process = _spawn.Process(
            target=typst_process.serve,
            args=(child, self._memory_limit_mib),
            name="sqr-reports-render",
            daemon=True,
        )
        process.start()
        child.close()
        self._process, self._connection, self._renders = process, parent, 0

    def render(self, request: tuple[str, str, float], timeout: float) -> tuple[str, Any, int]:
        if self._process is None or not self._process.is_alive():
            self.start()
        assert self._connection is not None
        try:
            self._connection.send(request)
            if not self._connection.poll(timeout):
                self.stop()
                raise RenderTimeout(f"render exceeded {timeout:g} s")
            result: tuple[str, Any, int] = self._connection.recv()
        except (EOFError, OSError) as exc:
            self.stop()
            raise RenderCrashed("the render process died") from exc
        self._renders += 1
        if self._renders >= self._max_renders:
            self.stop()
        return result

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
        if self._process is not None:
            self._process.kill()
            self._process.join(timeout=5)
        self._process = self._connection = None


class TypstRenderer:
    def __init__(
        self,
        *,
        processes: int,
        timeout_seconds: float,
        memory_limit_mib: int,
        max_renders_per_process: int,
    ):
        self._timeout = timeout_seconds
        self._slots = [_Slot(memory_limit_mib, max_renders_per_process) for _ in range(processes)]
        self._idle: asyncio.Queue[_Slot] | None = None

    def template_versions(self) -> list[str]:
        return sorted(
            path.name
            for path in typst_process.TEMPLATES_DIR.iterdir()
            if (path / "report.typ").is_file()
        )

    async def start(self) -> None:
        """Start the processes ahead of the first job (a cold start costs about a second)."""
        await asyncio.gather(*(asyncio.to_thread(slot.start) for slot in self._slots))

    async def render(
        self, template_version: str, data: Mapping[str, Any], generated_at: datetime
    ) -> RenderedReport:
        if template_version not in self.template_versions():
            raise RenderFailed(f"unknown template version {template_version!r}")
        request = (template_version, json.dumps(data, ensure_ascii=False), generated_at.timestamp())
        idle = self._idle_slots()
        slot = await idle.get()
        try:
            outcome, payload, pages = await asyncio.to_thread(slot.render, request, self._timeout)
        finally:
            idle.put_nowait(slot)
        if outcome != "ok":
            raise RenderFailed(payload)
        return RenderedReport(pdf=payload, page_count=pages, template_version=template_version)

    async def close(self) -> None:
        await asyncio.gather(*(asyncio.to_thread(slot.stop) for slot in self._slots))

    def _idle_slots(self) -> asyncio.Queue[_Slot]:
        if self._idle is None:  # created lazily: it must belong to the running loop
            self._idle = asyncio.Queue()
            for slot in self._slots:
                self._idle.put_nowait(slot)
        return self._idle
