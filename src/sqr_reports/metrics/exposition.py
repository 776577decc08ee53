"""Metrics that add up across the processes of one deployment unit: prometheus-client's
multiprocess mode, with a directory the service sets up for itself (ADR 0018).

A unit is what one `sqr-reports` command runs: `serve` (one process), `api --workers N`
(uvicorn's N processes) or `worker`. Each process writes its values to its own files in the
unit's directory, and a scrape of any process of the unit adds up all of them, so a counter
never depends on which `api` process answered the scrape. Units never share a directory: each
is `<metrics dir>/<host>-<pid of the command>`, made afresh when the command starts and removed
when it ends; one left behind by a unit that was killed goes at the next start on its host.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest, multiprocess, values
from prometheus_client.exposition import start_http_server
from prometheus_client.registry import Collector

from sqr_reports.metrics import instruments

#: prometheus-client's own variable: where a process of the unit writes its values. Set for the
#: command's process and inherited by those it starts (uvicorn's workers).
DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def use_directory(directory: Path) -> None:
    """Record this process's metrics in `directory` (multiprocess mode) from now on.

    prometheus-client chooses its mode when it is imported, from the environment; this
    process imported it before its settings were read, so the choice is made again here, and
    the metrics are built anew on their next use (`instruments.rebuild`).
    """
    os.environ[DIRECTORY_VARIABLE] = str(directory)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    instruments.rebuild()


@contextlib.contextmanager
def unit_directory(base: Path) -> Iterator[Path]:
    """The directory of the unit this process starts, under `base`, for the block's duration."""
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    prefix = f"{socket.gethostname()}-"
    for stale in base.glob(prefix + "*"):
        pid = stale.name.removeprefix(prefix)
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    own = base / f"{prefix}{os.getpid()}"
    shutil.rmtree(own, ignore_errors=True)  # a dead unit's that had this pid
    own.mkdir(mode=0o700)
    use_directory(own)
    try:
        yield own
    finally:
        multiprocess.mark_process_dead(os.getpid(), str(own))  # type: ignore[no-untyped-call]
        shutil.rmtree(own, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: not ours to judge
        return True
    return True


def registry() -> CollectorRegistry:
    """What a scrape reads: every process of the unit in multiprocess mode, else this one."""
    directory = os.environ.get(DIRECTORY_VARIABLE)
    if directory and Path(directory).is_dir():
        collecting = CollectorRegistry()
        multiprocess.MultiProcessCollector(collecting, directory)  # type: ignore[no-untyped-call]
        return collecting
    return instruments.instruments().registry


def render(*more: Collector) -> bytes:
    """The text exposition of the unit's metrics, followed by `more` (read at scrape time)."""
    text = generate_latest(registry())
    if more:
        extra = CollectorRegistry(auto_describe=False)
        for collector in more:
            extra.register(collector)
        text += generate_latest(extra)
    return text


@contextlib.contextmanager
def serving(host: str, port: int) -> Iterator[None]:
    """Serve the unit's metrics on `host:port` (a thread of prometheus-client's own) for the
    block's duration: how a `worker`, which has no HTTP server, is scraped. Port 0: not at all."""
    if not port:
        yield
        return
    server, thread = start_http_server(port, host, registry=registry())
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
