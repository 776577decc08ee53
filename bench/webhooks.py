"""Webhook delivery latency: from a job's terminal state to the receiver holding the event.

Runs one `sqr-reports serve` (the embedded default: SQLite, in-process worker), registers a
receiver on loopback for the demo org (`sqr-reports webhook set`, with private targets allowed
as for local testing), creates --jobs jobs one after another (each once the previous event has
arrived), then --burst jobs at once, and prints, for each, the time from the event's
`occurred_at` (stamped in the transaction that made the job COMPLETE) to its receipt, plus the
POST-to-receipt time that an integrator sees. Server and receiver share this machine's clock.

    .venv/bin/python bench/webhooks.py [--jobs 30] [--burst 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
from measure import free_port, pct

BIN = Path(sys.executable).parent / "sqr-reports"


class Receiver:
    """A minimal HTTP/1.1 receiver: records (event, wall-clock receipt time), answers 204."""

    def __init__(self) -> None:
        self.events: dict[str, tuple[dict[str, object], float]] = {}
        self.arrived = asyncio.Condition()
        self.port = 0

    async def start(self) -> None:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        length = int(head.split("content-length:")[1].split("\r\n")[0])
        event = json.loads(await reader.readexactly(length))
        received = time.time()
        writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()
        async with self.arrived:
            self.events[event["data"]["job_id"]] = (event, received)
            self.arrived.notify_all()

    async def wait_for(self, job_ids: set[str]) -> None:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: job_ids <= set(self.events)), 120)


def row(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return f"  {name:<30} n={len(ms):<4} p50={pct(ms, 0.5):8.1f} ms  p99={pct(ms, 0.99):8.1f} ms"


async def create(http: httpx.AsyncClient, headers: dict[str, str], user: str) -> tuple[str, float]:
    posted = time.time()
    response = await http.post("/v1/document/api", json={"userId": user}, headers=headers)
    return str(response.json()["jobId"]), posted


def latencies(receiver: Receiver, posts: dict[str, float]) -> tuple[list[float], list[float]]:
    after_state, after_post = [], []
    for job_id, posted in posts.items():
        event, received = receiver.events[job_id]
        occurred = datetime.fromisoformat(str(event["occurred_at"]).replace("Z", "+00:00"))
        after_state.append(received - occurred.timestamp())
        after_post.append(received - posted)
    return after_state, after_post


async def measure(base_url: str, demo: dict[str, object], receiver: Receiver, jobs: int,
                  burst: int) -> None:  # fmt: skip
    creds = {"client_id": str(demo["client_id"]), "client_secret": str(demo["client_secret"]),
             "grant_type": "client_credentials"}  # fmt: skip
    user = str(demo["users"][0]["id"])  # type: ignore[index]
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        for _ in range(200):
            try:
                token = (await http.post("/oauth2/token", json=creds)).json()["access_token"]
                break
            except httpx.TransportError:
                await asyncio.sleep(0.1)
        headers = {"Authorization": f"Bearer {token}"}
        warm, _ = await create(http, headers, user)
        await receiver.wait_for({warm})
        sequential = {}
        for _ in range(jobs):
            job_id, posted = await create(http, headers, user)
            await receiver.wait_for({job_id})
            sequential[job_id] = posted
        together = dict(await asyncio.gather(*(create(http, headers, user) for _ in range(burst))))
        await receiver.wait_for(set(together))

    print(f"\nWebhook delivery, embedded default, {os.cpu_count()} cores")
    state, post = latencies(receiver, sequential)
    print(f"{jobs} jobs one after another:")
    print(row("terminal state to receipt", state))
    print(row("POST to receipt", post))
    state, post = latencies(receiver, together)
    print(f"Burst of {burst} jobs at once:")
    print(row("terminal state to receipt", state))
    print(row("POST to receipt", post))


async def command(env: dict[str, str], *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        BIN, *args, env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"sqr-reports {args[0]} failed")
    return out.decode()


async def run(args: argparse.Namespace, data_dir: str) -> None:
    receiver = Receiver()
    await receiver.start()
    env = {**os.environ, "SQR_REPORTS_DATA_DIR": data_dir, "SQR_REPORTS_LOG_LEVEL": "WARNING",
           "SQR_REPORTS_RATE_LIMIT__CREATIONS_PER_WINDOW": "1000000",
           "SQR_REPORTS_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true"}  # fmt: skip
    demo = json.loads(await command(env, "demo", "--json"))
    url = f"http://127.0.0.1:{receiver.port}/hook"
    await command(env, "webhook", "set", "--org", str(demo["org_id"]), "--url", url, "--json")
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        BIN, "serve", "--port", str(port), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await measure(f"http://127.0.0.1:{port}", demo, receiver, args.jobs, args.burst)
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--burst", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        asyncio.run(run(args, data_dir))


if __name__ == "__main__":
    main()
