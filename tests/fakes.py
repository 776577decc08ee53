"""In-memory stand-ins for the storage and rendering ports, shared by the tests (a render process
that misbehaves is `tests/scripted_render_process.py`).

The stand-ins record what they are given, so a test asserts on what the code under test did; the
typed assignments at the end make mypy (strict) prove that they satisfy the ports.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from sqr_reports.rendering import RenderedReport, Renderer, RenderFailed
from sqr_reports.storage import SAFE_FILENAME, BlobStore, StorageError


@dataclass(frozen=True, slots=True)
class StoredObject:
    data: bytes
    content_type: str


class MemoryStore:
    """A `BlobStore` in a dict, whose first `failures` puts fail as an unreachable bucket would."""

    def __init__(self, *, failures: int = 0) -> None:
        self.failures = failures
        self.objects: dict[str, StoredObject] = {}
        #: The key of every `put`, in order, failed ones included.
        self.put_keys: list[str] = []
        self.deleted_keys: list[str] = []

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        self.put_keys.append(key)
        if len(self.put_keys) <= self.failures:
            raise StorageError("bucket unreachable")
        self.objects[key] = StoredObject(data, content_type)

    async def delete(self, key: str) -> None:
        self.deleted_keys.append(key)
        self.objects.pop(key, None)

    async def check(self) -> None:
        return None

    def presign_get(self, key: str, *, filename: str, expires_at: datetime) -> str:
        if not SAFE_FILENAME.match(filename):
            raise ValueError("unsafe download filename")
        query = urlencode({"filename": filename, "expires": int(expires_at.timestamp())})
        return f"/memory/{quote(key)}?{query}"


@dataclass(frozen=True, slots=True)
class RenderRequest:
    template_version: str
    data: Mapping[str, Any]
    generated_at: datetime


class FakeRenderer:
    """A `Renderer` that answers at once with a small stand-in PDF, recording every request.

    `started` is set when a render begins. With `hold=True` each render then waits for
    `release()`: a job in flight for as long as a test needs one.
    """

    def __init__(self, *, versions: tuple[str, ...] = ("v1", "v2"), hold: bool = False) -> None:
        self.versions = list(versions)
        self.requests: list[RenderRequest] = []
        self.started = asyncio.Event()
        self.closed = False
        self._released = asyncio.Event()
        if not hold:
            self._released.set()

    async def start(self) -> None:
        return None

    async def render(
        self, template_version: str, data: Mapping[str, Any], generated_at: datetime
    ) -> RenderedReport:
        if template_version not in self.versions:
            raise RenderFailed(f"unknown template version {template_version!r}")
        self.requests.append(RenderRequest(template_version, data, generated_at))
        self.started.set()
        await self._released.wait()
        return RenderedReport(stand_in_pdf(template_version, data), 1, template_version)

    def release(self) -> None:
        """Let held renders (and every later one) finish."""
        self._released.set()

    def template_versions(self) -> list[str]:
        return list(self.versions)

    async def close(self) -> None:
        self.closed = True


def stand_in_pdf(template_version: str, data: Mapping[str, Any]) -> bytes:
    """What `FakeRenderer` returns: PDF-shaped, and different for different data."""
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
    return f"%PDF-1.7\n% stand-in {template_version} {digest}\n%%EOF\n".encode()


_STORE_SATISFIES_THE_PORT: BlobStore = MemoryStore()
_RENDERER_SATISFIES_THE_PORT: Renderer = FakeRenderer()
