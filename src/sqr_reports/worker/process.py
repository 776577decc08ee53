"""A worker process's life: the claim loop, plus the PostgreSQL listener that wakes it."""

from __future__ import annotations

import asyncio
import contextlib

from sqr_reports.worker.listener import JobListener
from sqr_reports.worker.runner import Worker


async def run_worker(worker: Worker, listener: JobListener | None) -> None:
    """Run until `worker.stop()`; the listener (PostgreSQL only) lives exactly as long."""
    listening = asyncio.create_task(listener.run()) if listener is not None else None
    try:
        await worker.run()
    finally:
        if listening is not None:
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening
