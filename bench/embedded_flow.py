"""Benchmark of the embedded default: one `sqr-reports serve` process on loopback.

Prints token-endpoint timings (valid, wrong secret, unknown client: they should match),
POST latency, POST-to-COMPLETE latency on an idle machine, and throughput of a burst.

    .venv/bin/python bench/embedded_flow.py [--jobs 30] [--burst 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from measure import free_port, pct

BIN = Path(sys.executable).parent / "sqr-reports"
#: Polling far tighter than the documented 3-5 s, to resolve latency. The idle run polls every
#: 10 ms; the burst polls every 500 ms, since 100 clients polling every 10 ms would take the
#: CPU that rendering needs on a 2-core machine and measure the benchmark, not the service.
IDLE_POLL_SECONDS = 0.01
BURST_POLL_SECONDS = 0.5


def row(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"  {name:<34} n={len(ms):<4} p50={pct(ms, 0.5):8.1f} ms  "
        f"p99={pct(ms, 0.99):8.1f} ms  max={max(ms):8.1f} ms"
    )


async def wait_ready(http: httpx.AsyncClient) -> None:
    for _ in range(200):
        try:
            if (await http.get("/.well-known/jwks.json")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("server did not start")


async def timed_token(http: httpx.AsyncClient, body: dict[str, str]) -> float:
    start = time.perf_counter()
    await http.post("/oauth2/token", json=body)
    return time.perf_counter() - start


async def run_job(
    http: httpx.AsyncClient, headers: dict[str, str], user: str, poll: float
) -> tuple[float, float]:
    start = time.perf_counter()
    created = await http.post("/v1/document/api", json={"userId": user}, headers=headers)
    posted = time.perf_counter() - start
    job_id = created.json()["jobId"]
    while True:
        status = (await http.get(f"/v1/document/api/{job_id}", headers=headers)).json()
        if status["status"] in ("COMPLETE", "FAILED"):
            assert status["status"] == "COMPLETE", status
            return posted, time.perf_counter() - start
        await asyncio.sleep(poll)


async def measure(base_url: str, demo: dict[str, object], jobs: int, burst: int) -> None:
    creds = {"client_id": str(demo["client_id"]), "client_secret": str(demo["client_secret"]),
             "grant_type": "client_credentials"}  # fmt: skip
    users = [str(u["id"]) for u in demo["users"]][:4]  # type: ignore[attr-defined]
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        await wait_ready(http)
        valid = [await timed_token(http, creds) for _ in range(20)]
        wrong = [await timed_token(http, creds | {"client_secret": "x"}) for _ in range(20)]
        unknown = [await timed_token(http, creds | {"client_id": "sqr_nobody"}) for _ in range(20)]
        token = (await http.post("/oauth2/token", json=creds)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        await run_job(http, headers, users[0], IDLE_POLL_SECONDS)  # warm-up
        sequential = [
            await run_job(http, headers, users[i % len(users)], IDLE_POLL_SECONDS)
            for i in range(jobs)
        ]

        start = time.perf_counter()
        results = await asyncio.gather(
            *(
                run_job(http, headers, users[i % len(users)], BURST_POLL_SECONDS)
                for i in range(burst)
            )
        )
        elapsed = time.perf_counter() - start

    print(f"\nEmbedded default (SQLite, local store, in-process worker), {os.cpu_count()} cores")
    print("Token endpoint (Argon2id at production cost):")
    print(row("valid secret", valid))
    print(row("wrong secret", wrong))
    print(row("unknown client", unknown))
    print(f"Idle machine, {jobs} jobs one after another:")
    print(row("POST /v1/document/api", [p for p, _ in sequential]))
    print(row("POST to COMPLETE", [c for _, c in sequential]))
    print(f"Burst of {burst} jobs at once:")
    print(row("POST /v1/document/api", [p for p, _ in results]))
    print(row("POST to COMPLETE", [c for _, c in results]))
    print(f"  throughput: {burst / elapsed:.1f} jobs/s ({elapsed:.2f} s for {burst} jobs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--burst", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "SQR_REPORTS_DATA_DIR": data_dir, "SQR_REPORTS_LOG_LEVEL": "WARNING",
               "SQR_REPORTS_RATE_LIMIT__CREATIONS_PER_WINDOW": "1000000",
               # The wrong-secret timings must be real verifications, not throttled 429s.
               "SQR_REPORTS_AUTH__FAILED_ATTEMPTS_PER_CLIENT": "1000000",
               "SQR_REPORTS_AUTH__FAILED_ATTEMPTS_PER_ADDRESS": "1000000"}  # fmt: skip
        demo_out = subprocess.run(
            [BIN, "demo", "--json"], env=env, check=True, capture_output=True, text=True
        ).stdout
        demo = json.loads(demo_out)
        port = free_port()
        server = subprocess.Popen(
            [BIN, "serve", "--port", str(port)], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            asyncio.run(measure(f"http://127.0.0.1:{port}", demo, args.jobs, args.burst))
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
