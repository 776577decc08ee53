"""The renderer and the store as a report job uses them, observed: each render timed and counted
(`sqr_reports_render_duration_seconds`), each render and each stored PDF a log line.

Decorators at the ports rather than lines in `service.render_and_store`: what is measured is
exactly the port's call. The lines carry the job's ids from the context the worker binds for
its claim, and say nothing of the report's content.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqr_reports.metrics.instruments import instruments
from sqr_reports.rendering import RenderCrashed, RenderedReport, Renderer, RenderTimeout
from sqr_reports.storage import BlobStore

log = logging.getLogger(__name__)


class ObservedRenderer:
    def __init__(self, renderer: Renderer) -> None:
        self._renderer = renderer

    async def start(self) -> None:
        await self._renderer.start()

    def template_versions(self) -> list[str]:
        return self._renderer.template_versions()

    async def close(self) -> None:
        await self._renderer.close()

    async def render(
        self, template_version: str, data: Mapping[str, Any], generated_at: datetime
    ) -> RenderedReport:
        started = time.monotonic()
        try:
            rendered = await self._renderer.render(template_version, data, generated_at)
        except Exception as exc:
            _observe(template_version, _outcome(exc), started)
            raise
        milliseconds = _observe(template_version, "ok", started) * 1000
        log.info(
            "report rendered: %d page(s) in %.0f ms", rendered.page_count, milliseconds,
            extra={"event": "report.rendered", "duration_ms": round(milliseconds, 1),
                   "pages": rendered.page_count, "template_version": template_version},
        )  # fmt: skip
        return rendered


def _outcome(exc: Exception) -> str:
    if isinstance(exc, RenderTimeout):
        return "timeout"
    return "crashed" if isinstance(exc, RenderCrashed) else "failed"


def _observe(template_version: str, outcome: str, started: float) -> float:
    seconds = time.monotonic() - started
    instruments().render_duration.labels(template_version, outcome).observe(seconds)
    return seconds


class ObservedStore:
    def __init__(self, store: BlobStore) -> None:
        self._store = store

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        started = time.monotonic()
        await self._store.put(key, data, content_type=content_type)
        milliseconds = (time.monotonic() - started) * 1000
        log.info(
            "report stored: %d bytes in %.0f ms", len(data), milliseconds,
            extra={"event": "report.stored", "bytes": len(data),
                   "duration_ms": round(milliseconds, 1)},
        )  # fmt: skip

    async def delete(self, key: str) -> None:
        await self._store.delete(key)

    async def check(self) -> None:
        await self._store.check()

    def presign_get(self, key: str, *, filename: str, expires_at: datetime) -> str:
        return self._store.presign_get(key, filename=filename, expires_at=expires_at)


def _conforms(renderer: ObservedRenderer, store: ObservedStore) -> tuple[Renderer, BlobStore]:
    return renderer, store  # mypy proves they are the ports they wrap
