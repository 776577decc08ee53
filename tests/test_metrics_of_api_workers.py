"""`sqr-reports api --workers 2`, for real: whichever of uvicorn's processes answers a scrape,
it counts the requests both answered, and the command leaves no metrics directory behind."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.scrape import parse, value
from tests.support import SQR_REPORTS, command_environment, free_port

HEALTH = {"route": "/healthz", "method": "GET", "status": "200"}


def _environment(data_dir: Path) -> dict[str, str]:
    return command_environment(data_dir, LOG__FORMAT="json")


def _ready(log: Path, processes: int) -> None:
    """Until `processes` of uvicorn's workers have started (a slow machine starts them late)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        started = {
            line["pid"]
            for line in _lines(log)
            if line["message"].startswith("Application startup complete")
        }
        if len(started) >= processes:
            return
        time.sleep(0.2)
    raise AssertionError("the API processes did not start")


def _lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def test_every_api_process_answers_for_all_of_them(tmp_path: Path) -> None:
    env = _environment(tmp_path)
    subprocess.run([SQR_REPORTS, "migrate"], env=env, cwd=tmp_path, check=True, timeout=60)
    port = free_port()
    log = (tmp_path / "api.log").open("wb")
    api = subprocess.Popen(
        [SQR_REPORTS, "api", "--port", str(port), "--workers", "2"],
        env=env, cwd=tmp_path, stderr=log,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _ready(tmp_path / "api.log", processes=2)
        answered = asyncio.run(_burst(base, "/healthz", 40))
        scrapes = _until_both_scraped(base, tmp_path / "api.log")
    finally:
        api.send_signal(signal.SIGTERM)
        api.wait(timeout=60)
        log.close()

    assert {r.status_code for r in answered} == {200}
    counts = {value(parse(r.text), "sqr_reports_http_requests_total", **HEALTH) for r in scrapes}
    assert len(counts) == 1  # every scrape, whichever process took it, counts the same
    assert counts.pop() >= 40  # and all of them (the readiness probe's too)
    assert len(_scraped_by(tmp_path / "api.log")) == 2
    assert not list((tmp_path / "metrics").iterdir())


def _until_both_scraped(base: str, log: Path) -> list[httpx.Response]:
    """Scrapes in bursts until each process has answered one: the kernel hands connections to
    either process as it likes, and on a busy machine one may take a whole burst."""
    scrapes: list[httpx.Response] = []
    for _ in range(10):
        scrapes += asyncio.run(_burst(base, "/metrics", 20))
        if len(_scraped_by(log)) == 2:
            break
    return scrapes


async def _burst(base: str, path: str, count: int) -> list[httpx.Response]:
    """`count` requests at once, each on a connection of its own."""
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        return list(await asyncio.gather(*(http.get(path) for _ in range(count))))


def _scraped_by(log: Path) -> set[int]:
    """The processes whose access lines show a scrape."""
    return {line["pid"] for line in _lines(log) if line.get("path") == "/metrics"}
