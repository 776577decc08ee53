"""Blob storage for rendered reports: a port and its adapters (the local directory store first)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

#: A download filename goes into a quoted Content-Disposition header (echoed by S3, or written by
#: the local store): only characters that cannot end the quote or the header.
SAFE_FILENAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


@dataclass(frozen=True, slots=True)
class SignedUrl:
    """A download URL for one object, and when it stops working."""

    url: str
    expires_at: datetime
    ttl_seconds: int


class StorageError(Exception):
    """The store failed (transient as far as the job queue is concerned)."""


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes, *, content_type: str) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def check(self) -> None:
        """Raise `StorageError` unless the store is reachable (readiness probes)."""

    def presign_get(self, key: str, *, filename: str, expires_at: datetime) -> str:
        """A URL for GETs of `key` until `expires_at`, as an attachment named `filename`.

        Absolute when the store serves downloads itself (S3); a path on this service when the
        service does (the local store), which the API makes absolute with its public URL.
        """
