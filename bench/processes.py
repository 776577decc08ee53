"""The service processes a benchmark starts: each in a session of its own, logging to a file of
its own, and stopped in order at the end (SIGTERM, then SIGKILL to the group of any that hangs).

Shared by bench/scale_out.py and bench/chaos.py, which start `sqr-reports api` and
`sqr-reports worker` processes on one PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fleet import BIN, proc_stat

#: What a worker logs once its loop runs ("worker <owner> started (report x1, ...)"), in any
#: log format (console or JSON).
_WORKER_STARTED = re.compile(r"worker \S+ started \(")


def step(message: str) -> None:
    """A progress line, with the time of day."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def base_env(workdir: Path) -> dict[str, str]:
    """The environment of the service processes: inherited SQR_REPORTS_* variables are dropped,
    so that a benchmark sets every setting it depends on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQR_REPORTS_")}
    return env | {"SQR_REPORTS_DATA_DIR": str(workdir / "data"), "SQR_REPORTS_LOG_LEVEL": "WARNING"}


def group_members(pgid: int) -> list[int]:
    """The processes of a process group (a service and its render processes)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := proc_stat(int(entry.name))) and int(stat[2]) == pgid:
            members.append(int(entry.name))
    return members


def interrupt_on_sigterm() -> None:
    """Outside the event loop, SIGTERM raises KeyboardInterrupt: clean up as on Ctrl-C."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


@dataclass
class Service:
    name: str
    kind: str  # "api", "worker" or "serve"
    process: subprocess.Popen[bytes]
    log: Path
    url: str = ""

    @property
    def pid(self) -> int:
        """Also its process group id: it was started in a session of its own."""
        return self.process.pid

    def running(self) -> bool:
        """Whether the process still runs, without reaping it: an exited process stays a zombie
        until `Services.stop`, so its pid, which is also its process group id, stays ours."""
        if self.process.returncode is not None:
            return False
        try:
            flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
            return os.waitid(os.P_PID, self.process.pid, flags) is None
        except ChildProcessError:
            return False

    def signal_group(self, signum: int) -> None:
        """Send `signum` to the process and its render processes, while it is ours."""
        if self.running():
            os.killpg(self.process.pid, signum)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


@dataclass
class Services:
    """The processes a benchmark started: each in its own session (so a Ctrl-C reaches only
    the benchmark, which then stops them in order), logging to a file of its own."""

    log_dir: Path
    started: list[Service] = field(default_factory=list)
    exit_codes: dict[str, int] = field(default_factory=dict)
    killed: list[str] = field(default_factory=list)

    def start(
        self, name: str, kind: str, args: list[str], env: dict[str, str], cwd: Path, url: str = ""
    ) -> Service:
        log = self.log_dir / f"{name}.log"
        with log.open("wb") as handle:
            process = subprocess.Popen(
                [str(BIN), *args], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        service = Service(name, kind, process, log, url)
        self.started.append(service)
        return service

    def dead(self) -> list[Service]:
        return [s for s in self.started if not s.running()]

    def stop(self, timeout: float = 45.0) -> None:
        """SIGTERM to each (a graceful shutdown), SIGKILL to the group of any that hangs.

        A stopped (SIGSTOP) process would never see the SIGTERM, so each group is continued
        first. Nothing is reaped before its group is checked: while the leader is an unreaped
        process, its pid (the group id) cannot be reused, so every member found is one of ours.
        """
        for service in self.started:
            if service.running():
                os.killpg(service.pid, signal.SIGCONT)
                os.kill(service.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for service in self.started:
            while service.running() and time.monotonic() < deadline:
                time.sleep(0.1)
            if service.running():
                self.killed.append(service.name)
                os.killpg(service.pid, signal.SIGKILL)
                while service.running():
                    time.sleep(0.05)
            for pid in group_members(service.pid):  # e.g. an orphaned render process
                if pid != service.pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            self.exit_codes[service.name] = service.process.wait()
        self.started.clear()


async def wait_ready(http: httpx.AsyncClient, service: Service, deadline: float) -> None:
    """Until the API process answers /readyz with 200 (or exit if it dies or takes too long)."""
    while time.monotonic() < deadline:
        if not service.running():
            raise SystemExit(f"{service.name} exited during start-up:\n{service.tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if (await http.get(f"{service.url}/readyz")).status_code == 200:
                return
        await asyncio.sleep(0.2)
    raise SystemExit(f"{service.name} not ready in time:\n{service.tail()}")


async def wait_worker(service: Service, deadline: float) -> None:
    """Until the worker logged that its loop runs (it needs SQR_REPORTS_LOG_LEVEL=INFO)."""
    while time.monotonic() < deadline:
        if not service.running():
            raise SystemExit(f"{service.name} exited during start-up:\n{service.tail()}")
        if _WORKER_STARTED.search(service.log_text()):
            return
        await asyncio.sleep(0.2)
    raise SystemExit(f"{service.name} did not start in time:\n{service.tail()}")
