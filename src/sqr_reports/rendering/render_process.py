"""One render process, as the render pool drives it: started with `subprocess` as
`python -P -m sqr_reports.rendering` (so it imports the rendering code and Typst, never the
service), greeted, asked for one render at a time over its pipe (`pipe`), retired or killed.

Nothing it sends is trusted but the framing: the greeting must name this code's protocol, and
an answer must name its request, and be a PDF with its page count or a failure's message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from sqr_reports.rendering import RenderCrashed, RenderTimeout, typst_process
from sqr_reports.rendering.pipe import Pipe, ProtocolError

log = logging.getLogger(__name__)
#: How long a new render process may take to load Typst and the fonts (about 0.1 s).
STARTUP_SECONDS = 60.0
#: How long a retired process gets to exit on its own (end of input) before it is killed.
RETIRE_SECONDS = 2.0


class RenderProcess:
    """One render process and the pool's end of its pipe (used by one thread at a time)."""

    def __init__(self, command: list[str]) -> None:
        self.started = time.monotonic()
        self.startup_seconds: float | None = None
        self.modules: tuple[str, ...] = ()
        self.renders = 0
        self.rss_mib: float | None = None
        self.broken = False  # killed, or out of step: never to be used again
        self.warm = False  # has rendered once as a spare, for Typst's cache
        self.readiness: asyncio.Future[Any] | None = None  # set by the pool
        self._lock = threading.Lock()
        child_input, to_child = os.pipe()
        from_child, child_output = os.pipe()
        self._pipe = Pipe(from_child, to_child, blocking=False)
        self._popen: subprocess.Popen[bytes] | None = None
        self._start_error: OSError | None = None
        try:
            self._popen = subprocess.Popen(  # noqa: S603 (our arguments only)
                command, stdin=child_input, stdout=child_output
            )
        except OSError as exc:  # no interpreter, no memory, no descriptors left
            self._start_error = exc
        finally:
            os.close(child_input)
            os.close(child_output)

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    def wait_ready(self) -> None:
        """Wait for the process to say it is limited, isolated and loaded."""
        try:
            spoken, modules = self._greeting()
        except BaseException as exc:
            self.kill()
            log.warning("render process %s did not start: %s", self.pid, exc)
            raise
        if spoken != typst_process.PROTOCOL:
            self.kill()
            raise RenderCrashed(
                f"the render process speaks {spoken!r}, not {typst_process.PROTOCOL!r}: "
                "its code changed under this worker; restart the worker"
            )
        self.modules = modules
        self.startup_seconds = time.monotonic() - self.started

    def _greeting(self) -> tuple[object, tuple[str, ...]]:
        """The protocol the process says it speaks, and the modules it has imported."""
        if self._popen is None:
            raise RenderCrashed(f"could not start a render process: {self._start_error}")
        try:
            greeting, _ = self._pipe.recv(self.started + STARTUP_SECONDS)
        except TimeoutError:
            raise RenderCrashed(
                f"the render process did not start in {STARTUP_SECONDS:g} s"
            ) from None
        except ProtocolError as exc:
            return str(exc), ()
        except (EOFError, OSError) as exc:
            raise RenderCrashed("the render process died while starting") from exc
        if not isinstance(greeting, dict):
            return greeting, ()
        modules = greeting.get("modules")
        listed = tuple(map(str, modules)) if isinstance(modules, list) else ()
        return greeting.get("ready"), listed

    def render(self, request: dict[str, Any], data: bytes, timeout: float) -> tuple[str, Any, int]:
        """Send one request and wait at most `timeout` seconds for its answer."""
        request_id = uuid.uuid4().hex
        deadline = time.monotonic() + timeout
        try:
            self._pipe.send(request | {"id": request_id}, data, deadline)
            answer, pdf = self._pipe.recv(deadline)
        except TimeoutError:
            self.kill()
            log.warning("render process %s killed: the render exceeded %g s", self.pid, timeout)
            raise RenderTimeout(f"render exceeded {timeout:g} s") from None
        except ProtocolError as exc:
            self.kill()
            log.warning("render process %s killed: it sent no answer (%s)", self.pid, exc)
            raise RenderCrashed(f"the render process sent {exc}, not an answer") from exc
        except (EOFError, OSError) as exc:
            stopped = self.broken  # killed on purpose meanwhile (the pool closing), not a crash
            self.kill()
            log.log(
                logging.INFO if stopped else logging.WARNING,
                "render process %s %s during a render",
                self.pid,
                "stopped" if stopped else "died",
            )
            raise RenderCrashed("the render process died") from exc
        self.renders += 1
        self.rss_mib = resident_mib(self.pid)
        return self._outcome(answer, pdf, request_id)

    def _outcome(self, answer: Any, pdf: bytes, request_id: str) -> tuple[str, Any, int]:
        if not isinstance(answer, dict) or answer.get("id") != request_id:
            self.kill()  # out of step: nothing more from this process can be trusted
            raise RenderCrashed("the render process answered another request")
        pages, message = answer.get("pages"), answer.get("message")
        if answer.get("outcome") == "ok" and type(pages) is int and pdf:
            return "ok", pdf, pages
        if answer.get("outcome") == "failed" and isinstance(message, str):
            return "failed", message[: typst_process.MAX_ERROR], 0
        self.kill()
        raise RenderCrashed("the render process sent an answer this worker cannot read")

    def gone(self) -> bool:
        """Whether the process has exited (or never started)."""
        with self._lock:
            return self._popen is None or self._popen.poll() is not None

    def kill(self) -> None:
        """Kill the process and reap it (from any thread, any number of times)."""
        self.broken = True
        with self._lock:
            if self._popen is not None and self._popen.poll() is None:
                self._popen.kill()
                self._popen.wait()

    def retire(self) -> None:
        """End its input so it exits on its own; kill it if it lingers. Only once no thread
        uses its pipe."""
        self._pipe.close()
        if self._popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(RETIRE_SECONDS)
        log.info("render process %s retired after %d render(s)", self.pid, self.renders)
        self.kill()

    def stop(self) -> None:
        """Kill it and close its pipe. Only once no thread uses its pipe."""
        self.kill()
        self._pipe.close()


def resident_mib(pid: int | None) -> float | None:
    """A process's resident memory in MiB (from /proc), or None where it cannot be read."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
