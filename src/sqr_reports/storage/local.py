"""The embedded store: files under the data directory, downloaded through URLs we sign.

A local download URL has the properties of an S3 presigned GET: it names one object, it expires,
any change to it (key, expiry, filename) breaks its HMAC-SHA256 signature, and it is GET only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import re
import secrets
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlencode

from sqr_reports.keyfiles import make_private_dir, write_private_file
from sqr_reports.storage import SAFE_FILENAME, StorageError

_SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")
DOWNLOAD_PATH = "/v1/downloads/"
#: Milliseconds since the epoch, in the one form `presign_get` writes.
_EXPIRES = re.compile(r"^[1-9][0-9]{0,15}$", re.ASCII)
#: The query parameters of a download URL, each exactly once.
SIGNED_PARAMETERS = ("expires", "filename", "signature")


class LocalBlobStore:
    def __init__(self, root: Path, signing_key: bytes):
        self._root = root.resolve()
        self._signing_key = signing_key

    # -- writing ------------------------------------------------------------------------------
    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        path = self._path(key)
        try:
            await asyncio.to_thread(_write_atomically, path, data)
        except OSError as exc:
            raise StorageError(f"could not write report: {exc.strerror}") from exc

    async def delete(self, key: str) -> None:
        """Idempotent; the object's directory goes too once empty (a deleted report's)."""
        await asyncio.to_thread(_unlink, self._path(key), self._root)

    async def check(self) -> None:
        def writable() -> bool:
            make_private_dir(self._root)
            return os.access(self._root, os.W_OK)

        if not await asyncio.to_thread(writable):
            raise StorageError("the report directory is not writable")

    # -- signed URLs ----------------------------------------------------------------------------
    def presign_get(self, key: str, *, filename: str, expires_at: datetime) -> str:
        """A path on this service (`DOWNLOAD_PATH`...), served by `storage.router`."""
        self._path(key)  # validates the key
        if not SAFE_FILENAME.match(filename):
            raise ValueError("unsafe download filename")
        expires = str(int(expires_at.timestamp() * 1000))
        query = urlencode(
            {
                "expires": expires,
                "filename": filename,
                "signature": self._sign(key, expires, filename),
            }
        )
        return f"{DOWNLOAD_PATH}{quote(key)}?{query}"

    def open_signed(
        self, key: str, *, expires: str, filename: str, signature: str, now: datetime
    ) -> Path | None:
        """The file a signed URL names, or None if the URL is altered, expired or unknown.

        The signature covers the text of `expires`, not its value, and only the canonical form
        (ASCII digits, no leading zero) is read: `0…`, `²` or fullwidth digits are altered URLs.
        """
        if not (_SAFE_KEY.match(key) and _EXPIRES.match(expires) and SAFE_FILENAME.match(filename)):
            return None
        expected = self._sign(key, expires, filename)
        if not hmac.compare_digest(expected, signature):
            return None
        if now.timestamp() * 1000 > int(expires):
            return None
        path = self._path(key)
        return path if path.is_file() else None

    def _sign(self, key: str, expires: str, filename: str) -> str:
        message = f"GET\n{key}\n{expires}\n{filename}".encode()
        return hmac.new(self._signing_key, message, hashlib.sha256).hexdigest()

    def _path(self, key: str) -> Path:
        if not _SAFE_KEY.match(key) or ".." in key:
            raise ValueError("unsafe storage key")
        return self._root / key


def _unlink(path: Path, root: Path) -> None:
    path.unlink(missing_ok=True)
    if path.parent != root:
        with contextlib.suppress(OSError):  # not empty (another attempt's file), or gone
            path.parent.rmdir()


def _write_atomically(path: Path, data: bytes) -> None:
    """The report appears whole or not at all, 0600 in 0700 directories (personal data)."""
    make_private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def load_or_create_signing_key(path: Path) -> bytes:
    """A random 256-bit key kept in the data directory (mode 0600)."""
    if not path.exists():
        make_private_dir(path.parent)
        write_private_file(path, secrets.token_bytes(32))
    return path.read_bytes()
