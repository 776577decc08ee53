"""Checks `serve` makes before it touches anything: is the port free, is the demo data in use.

`make run` twice used to re-seed the demo client (a new secret, breaking the walkthrough the
first server had printed) and only then fail on the busy port.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from pathlib import Path
from types import TracebackType

from sqr_reports.cli.command import CommandError
from sqr_reports.keyfiles import make_private_dir

if sys.platform != "win32":
    import fcntl

#: Held by a running `serve --demo`, in the data directory (the lock dies with the process).
DEMO_LOCK = "serve-demo.lock"


def refuse_busy_port(host: str, port: int) -> None:
    """Bind the address as uvicorn will (SO_REUSEADDR) and let go: fails if a server listens."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
            raise CommandError(
                f"port {port} on {host} is already in use (another `sqr-reports serve` or "
                f"`make run`?); nothing was changed. Stop it or pick another port: "
                f"`sqr-reports serve --port {port + 1}` (`make run PORT={port + 1}`)"
            ) from None


class DemoLock:
    """An exclusive lock on `<data_dir>/serve-demo.lock` while `serve --demo` runs."""

    def __init__(self, data_dir: Path):
        self._data_dir = data_dir
        self._fd: int | None = None

    def __enter__(self) -> DemoLock:
        make_private_dir(self._data_dir)
        path = self._data_dir / DEMO_LOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if not _try_lock(fd):
            os.close(fd)
            raise CommandError(
                f"another `sqr-reports serve --demo` is running on the data directory "
                f"{self._data_dir.resolve()}; its demo secret stays valid (nothing was "
                "changed). Use that server, or give this one another `--data-dir`"
            )
        self._fd = fd
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # no flock: the port check alone guards `make run` there
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
