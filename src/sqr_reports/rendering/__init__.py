"""Rendering report data to PDF: a port and the Typst adapter (an isolated process pool)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class RenderedReport:
    pdf: bytes
    page_count: int
    template_version: str


class RenderFailed(Exception):
    """The template could not render this data (deterministic: retrying will not help)."""


class RenderTimeout(Exception):
    """The render exceeded its time limit; its process was killed."""


class RenderCrashed(Exception):
    """The render process died (for example it hit its memory limit); may succeed on retry."""


class Renderer(Protocol):
    async def start(self) -> None:
        """Start what rendering needs ahead of the first job (a cold start costs time)."""

    async def render(
        self, template_version: str, data: Mapping[str, Any], generated_at: datetime
    ) -> RenderedReport: ...

    def template_versions(self) -> list[str]: ...

    async def close(self) -> None: ...
