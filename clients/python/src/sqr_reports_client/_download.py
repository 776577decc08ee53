"""A report on its way to disk: written beside its destination, checked, then renamed over it.

The destination only ever holds a complete, verified report: the bytes go to a temporary file
in the same directory (so the final rename is atomic: same file system), the size and SHA-256
are compared with what the job recorded, and only then does `os.replace` put the file in place.
On any failure the temporary file is removed and the destination is left exactly as it was.
The file is created readable by its owner only (0600): a report is personal data.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from types import TracebackType

from sqr_reports_client.errors import IntegrityError


class PartialFile:
    """Receives a download's chunks; `commit` verifies and renames, `discard` cleans up."""

    def __init__(self, destination: Path) -> None:
        self.destination = destination
        descriptor, name = tempfile.mkstemp(
            dir=destination.parent, prefix=f".{destination.name}.", suffix=".part"
        )
        self.temporary = Path(name)
        self._file = os.fdopen(descriptor, "wb")
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)

    def restart(self) -> None:
        """Forget what was written, for another attempt at the same download."""
        self._file.seek(0)
        self._file.truncate()
        self._hash = hashlib.sha256()
        self.size = 0

    def commit(self, *, size: int | None, sha256: str | None) -> Path:
        """Check the bytes against the job's record, then move them into place atomically."""
        if size is not None and self.size != size:
            raise IntegrityError(
                f"the download has {self.size} bytes where the job recorded {size}",
                expected=str(size),
                actual=str(self.size),
            )
        digest = self._hash.hexdigest()
        if sha256 is not None and digest != sha256.lower():
            raise IntegrityError(
                "the download's SHA-256 is not the one the job recorded",
                expected=sha256,
                actual=digest,
            )
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.temporary, self.destination)
        return self.destination

    def discard(self) -> None:
        self._file.close()
        self.temporary.unlink(missing_ok=True)

    def __enter__(self) -> PartialFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Also on KeyboardInterrupt and cancellation: never leave a .part file behind.
        if kind is not None:
            self.discard()
