"""Private files and directories: keys, the database, reports.

Files are created 0600 and directories 0700 whatever the process's umask, atomically where
processes may race, so that no other local account can read what the service keeps.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

#: The umask the service's entry points set (`sqr_reports.cli.main`): defence in depth, so that
#: a file some library creates (a journal, a temporary file) is private too.
PRIVATE_UMASK = 0o077


def write_private_file(path: Path, content: bytes) -> None:
    """Create a 0600 file atomically; if another process won the race, keep its file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(temporary, path)  # fails if the file exists: first writer wins
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


def make_private_dir(path: Path) -> None:
    """Create `path` and its missing parents 0700; an existing `path` of ours is narrowed to 0700.

    Narrowing fixes data directories made by earlier releases (0755); a directory we do not own
    (a mount point) is left as it is, since only its owner could change it.
    """
    missing = []
    for each in (path, *path.parents):  # `mkdir(parents=True)` would make parents 0777 - umask
        if each.exists():
            break
        missing.append(each)
    for each in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            each.mkdir(mode=0o700)
    _narrow(path, 0o700)


def make_private_files(path: Path, *companions: Path) -> None:
    """Create `path` empty and 0600 if it is missing; narrow it and any existing companions of
    ours to 0600.

    For the SQLite database: SQLite gives its -wal and -shm files the mode of the database
    file, so a database created here first stays private with its companions; narrowing fixes
    those an earlier release made 0644.
    """
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for each in (path, *companions):
        _narrow(each, 0o600)


def _narrow(path: Path, mode: int) -> None:
    with contextlib.suppress(PermissionError, FileNotFoundError):
        if path.stat().st_mode & 0o777 & ~mode:
            path.chmod(mode)
