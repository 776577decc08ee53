"""Metrics add up across the processes of a unit (prometheus-client's multiprocess mode), a
unit's directory is its own and goes when it ends, a worker serves its metrics on its own
port, and a scrape still answers when the database does not."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from sqr_reports.app import create_app
from sqr_reports.container import Container
from sqr_reports.metrics import exposition
from sqr_reports.metrics.instruments import instruments
from tests.scrape import parse, process_samples, scrape, value
from tests.support import free_port

ISSUED = {"outcome": "issued"}
TOKENS = "sqr_reports_token_requests_total"


def _python(code: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout


def test_counters_add_up_across_the_processes_of_a_unit(metrics_directory: Path) -> None:
    before = value(process_samples(), TOKENS, **ISSUED)

    instruments().token_requests.labels("issued").inc(2)
    _python(  # another process of the unit (as uvicorn's workers are): it inherits the variable
        "from sqr_reports.metrics.instruments import instruments;"
        "instruments().token_requests.labels('issued').inc(5)"
    )

    assert os.environ[exposition.DIRECTORY_VARIABLE] == str(metrics_directory)
    assert value(process_samples(), TOKENS, **ISSUED) == before + 7


def test_a_unit_directory_is_made_afresh_and_removed_with_its_unit(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"{socket.gethostname()}-{dead.pid}"
    stale.mkdir()
    (stale / "counter_1.db").write_bytes(b"")
    code = (
        "import sys, os; from pathlib import Path\n"
        "from sqr_reports.metrics import exposition\n"
        "from sqr_reports.metrics.instruments import instruments\n"
        "with exposition.unit_directory(Path(sys.argv[1])) as own:\n"
        "    instruments().worker_slots.labels('report').inc(3)\n"
        "    files = ','.join(sorted(p.name for p in own.iterdir()))\n"
        "    print(own, files, os.environ['PROMETHEUS_MULTIPROC_DIR'], sep='|')\n"
    )

    own, files, variable = _python(code, str(tmp_path)).strip().split("|")

    assert not stale.exists()  # its unit is dead
    assert Path(own).parent == tmp_path
    assert Path(own).name.startswith(socket.gethostname() + "-")
    assert variable == own
    assert "gauge_livesum" in files
    assert not Path(own).exists()  # removed as its unit ended


def test_a_worker_serves_its_units_metrics_on_its_own_port() -> None:
    instruments().queue_claims.labels("report").inc()
    port = free_port()

    with exposition.serving("127.0.0.1", port):
        scraped = parse(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)

    assert value(scraped, "sqr_reports_queue_claims_total", kind="report") >= 1


async def test_a_scrape_answers_without_the_database(container: Container, tmp_path: Path) -> None:
    gone = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    broken = dataclasses.replace(container, read_sessions=async_sessionmaker(gone))
    transport = httpx.ASGITransport(app=create_app(container=broken))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await client.get("/healthz")
        samples = await scrape(client)
    await gone.dispose()

    assert value(samples, "sqr_reports_queue_stats_up") == 0
    assert not any(name == "sqr_reports_queue_depth" for name, _ in samples)
    assert any(name == "sqr_reports_http_requests_total" for name, _ in samples)
