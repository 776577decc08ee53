"""What `sqr-reports fetch` shows while it waits: each status change as a line on stderr and,
only when stderr is a terminal, a spinner with the time waited so far (a log file gets lines)."""

from __future__ import annotations

import threading
import time
from typing import TextIO

from sqr_reports_client.models import Job, JobStatus

_FRAMES = "|/-\\"
_FRAME_SECONDS = 0.1


class Progress:
    """Call `update` with every status seen and `close` when done."""

    def __init__(self, stream: TextIO, *, enabled: bool = True) -> None:
        self._stream = stream
        self._enabled = enabled
        self._status: JobStatus | None = None
        self._job_id = ""
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._spinner: threading.Thread | None = None
        if enabled and stream.isatty():
            self._spinner = threading.Thread(target=self._spin, name="progress", daemon=True)
            self._spinner.start()

    def update(self, job: Job) -> None:
        if not self._enabled or job.status == self._status:
            return
        with self._lock:
            self._status, self._job_id = job.status, job.job_id
            self._clear_line()
            self._stream.write(f"job {job.job_id}: {job.status.value}\n")
            self._stream.flush()

    def close(self) -> None:
        self._stop.set()
        if self._spinner is not None:
            self._spinner.join()
            with self._lock:
                self._clear_line()
                self._stream.flush()

    def _spin(self) -> None:
        frame = 0
        while not self._stop.wait(_FRAME_SECONDS):
            with self._lock:
                if self._status is None:
                    continue
                waited = time.monotonic() - self._started
                self._stream.write(
                    f"\r{_FRAMES[frame % len(_FRAMES)]} {self._status.value.lower()}, "
                    f"{waited:.0f} s"
                )
                self._stream.flush()
            frame += 1

    def _clear_line(self) -> None:
        if self._spinner is not None:
            self._stream.write("\r\x1b[K")
