"""What request ids and HTTP metrics cost the status poll, paired in one process.

`bench/api.py` measures the whole server, but on a shared 2-core machine its runs differ by more
than the few microseconds this middleware costs. Here the real app, container and SQLite answer
the same status poll through ASGI (no network, each request in a task of its own, as uvicorn
runs them), in turns: without the middleware, with only the request id and its context, and
with everything (id, context, header, counters and the latency histogram, in prometheus-client's
multiprocess mode as `serve` runs). Each turn is CPU time per request; the difference with the
turn without is paired, so the machine's load cancels out.

    .venv/bin/python bench/request_telemetry.py [--requests 2000] [--turns 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from sqr_reports import correlation, http_telemetry
from sqr_reports.app import create_app
from sqr_reports.config import AuthSettings, Settings, WorkerSettings
from sqr_reports.container import Container, build_container
from sqr_reports.db.migrate import upgrade
from sqr_reports.demo import seed
from sqr_reports.metrics import exposition

Message = MutableMapping[str, Any]
USER = "US7K2M9Q4X8B1N5C"


class IdOnly(http_telemetry.RequestTelemetry):
    """The request id and its context, without the header or the metrics."""

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        request_id, _ = http_telemetry.read_headers(scope["headers"])
        token = correlation.begin_request(request_id)
        try:
            await self.app(scope, receive, send)
        finally:
            correlation.end_request(token)


def variants(container: Container) -> dict[str, FastAPI]:
    """The same app three times: as shipped, and with less of the middleware."""
    shipped = create_app(container=container, embedded=False)
    bare = create_app(container=container, embedded=False)
    bare.build_middleware_stack = lambda: FastAPI.build_middleware_stack(bare)  # type: ignore[method-assign]
    id_only = create_app(container=container, embedded=False)
    id_only.build_middleware_stack = lambda: IdOnly(FastAPI.build_middleware_stack(id_only))  # type: ignore[method-assign]
    return {"without": bare, "request id only": id_only, "as shipped": shipped}


async def prepare(data_dir: Path) -> tuple[Container, list[tuple[bytes, bytes]], str]:
    settings = Settings(
        data_dir=data_dir,
        worker=WorkerSettings(embedded=False),
        auth=AuthSettings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1),
    )
    container = build_container(settings)
    await upgrade(container.engine)
    async with container.sessions.begin() as session:
        credentials = await seed(session, container.hasher, container.db_clock)
    app = create_app(container=container, embedded=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        body = {"client_id": credentials.client_id, "client_secret": credentials.client_secret,
                "grant_type": "client_credentials"}  # fmt: skip
        token = (await http.post("/oauth2/token", json=body)).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        job = (await http.post("/v1/document/api", json={"userId": USER}, headers=bearer)).json()
    headers = [(b"host", b"t"), (b"authorization", f"Bearer {token}".encode())]
    return container, headers, f"/v1/document/api/{job['jobId']}"


async def poll(app: FastAPI, headers: list[tuple[bytes, bytes]], path: str) -> None:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000), "state": {},
    }  # fmt: skip

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200

    await asyncio.create_task(app(scope, receive, send))


async def measure(args: argparse.Namespace, data_dir: Path) -> dict[str, list[float]]:
    container, headers, path = await prepare(data_dir)
    apps = variants(container)
    for app in apps.values():  # warm: caches, the token's verification, the metric children
        for _ in range(500):
            await poll(app, headers, path)
    cpu: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(args.turns):
        for name, app in apps.items():
            started = time.process_time()
            for _ in range(args.requests):
                await poll(app, headers, path)
            cpu[name].append((time.process_time() - started) / args.requests * 1e6)
    await container.close()
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000, help="polls per turn")
    parser.add_argument("--turns", type=int, default=10, help="turns of each variant")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sqr-bench-telemetry-") as tmp:
        (Path(tmp) / "metrics").mkdir()
        exposition.use_directory(Path(tmp) / "metrics")
        cpu = asyncio.run(measure(args, Path(tmp) / "data"))
    print(f"GET /v1/document/api/{{id}} in process, CPU per poll, {args.turns} turns of "
          f"{args.requests}")  # fmt: skip
    for name, values in cpu.items():
        paired = [a - b for a, b in zip(values, cpu["without"], strict=True)]
        print(f"  {name:16s} median {statistics.median(values):6.1f} us   "
              f"paired difference median {statistics.median(paired):5.1f} us")  # fmt: skip


if __name__ == "__main__":
    main()
