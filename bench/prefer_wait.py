"""Benchmark: POST to COMPLETE with `Prefer: wait` against polling, on a real server.

Jobs run one after another, the ways a client can learn that its report is ready interleaved
in rotated order, each round for another user:
- `create, Prefer: wait`: one request, held until the job is terminal;
- `create, then status with Prefer: wait`: two requests;
- `poll as Retry-After says`: the documented schedule (3-5 s at first), as a polite client does;
- `poll every 100 ms`: an impatient client, ignoring Retry-After.
For each: time from sending the POST to holding the COMPLETE job (p50, p99), requests per job,
and the server's CPU per job (API, worker and render processes, from /proc).

By default one `sqr-reports serve` (the embedded default: SQLite, worker in process). With
--database-url, `sqr-reports api` and `sqr-reports worker` run as separate processes on that
PostgreSQL database (dropped and recreated): the settlement reaches the held request by NOTIFY.

    .venv/bin/python bench/prefer_wait.py [--rounds 12]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench_wait]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from embedded_flow import wait_ready
from fleet import (
    BIN,
    OrgCredentials,
    cli,
    create_orgs,
    tree_cpu_seconds,
    user_id,
    users_jsonl,
)
from measure import free_port, pct, recreate_database

from sqr_reports.config import Settings

JOBS = "/v1/document/api"
WAIT = "wait=20"
IMPATIENT_SECONDS = 0.1


@dataclass
class Tally:
    seconds: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)


class Client:
    """One org's client: a token, and the requests it made for the job in hand."""

    def __init__(self, http: httpx.AsyncClient, token: str):
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"}
        self.requests = 0

    async def create(self, user: str, prefer: str | None = None) -> httpx.Response:
        headers = self.headers | ({"Prefer": prefer} if prefer else {})
        self.requests += 1
        response = await self.http.post(JOBS, json={"userId": user}, headers=headers)
        response.raise_for_status()
        return response

    async def status(self, job_id: str, prefer: str | None = None) -> httpx.Response:
        headers = self.headers | ({"Prefer": prefer} if prefer else {})
        self.requests += 1
        response = await self.http.get(f"{JOBS}/{job_id}", headers=headers)
        response.raise_for_status()
        return response


def done(response: httpx.Response) -> bool:
    status: str = response.json()["status"]
    if status == "FAILED":
        raise SystemExit(f"a job FAILED: {response.text}")
    return status == "COMPLETE"


async def held_create(client: Client, user: str) -> None:
    response = await client.create(user, WAIT)
    while not done(response):  # held for at most 20 s; ask again
        response = await client.status(response.json()["jobId"], WAIT)


async def create_then_held_status(client: Client, user: str) -> None:
    job_id = (await client.create(user)).json()["jobId"]
    while not done(response := await client.status(job_id, WAIT)):
        del response


async def polite_polling(client: Client, user: str) -> None:
    job_id = (await client.create(user)).json()["jobId"]
    await asyncio.sleep(3)  # the documented first wait, before the first poll
    while not done(response := await client.status(job_id)):  # noqa: ASYNC110 (polling is the point)
        await asyncio.sleep(int(response.headers["Retry-After"]))


async def impatient_polling(client: Client, user: str) -> None:
    job_id = (await client.create(user)).json()["jobId"]
    while not done(await client.status(job_id)):  # noqa: ASYNC110 (polling is the point)
        await asyncio.sleep(IMPATIENT_SECONDS)


WAYS: dict[str, Callable[[Client, str], Awaitable[None]]] = {
    "create, Prefer: wait": held_create,
    "create, then status with Prefer: wait": create_then_held_status,
    "poll as Retry-After says": polite_polling,
    f"poll every {IMPATIENT_SECONDS * 1000:.0f} ms": impatient_polling,
}


async def measure(base_url: str, tokens: list[str], rounds: int, pids: list[int]) -> None:
    tallies = {name: Tally() for name in WAYS}
    names = list(WAYS)
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        clients = [Client(http, token) for token in tokens]
        await impatient_polling(clients[0], user_id(0, 0))  # warm: render processes, caches
        for round_ in range(rounds):
            for offset in range(len(names)):
                name = names[(round_ + offset) % len(names)]
                org = (round_ * len(names) + offset) % len(clients)
                client = clients[org]
                client.requests = 0
                cpu = sum(tree_cpu_seconds(pid) for pid in pids)
                started = time.perf_counter()
                await WAYS[name](client, user_id(org, round_ % 2))
                tally = tallies[name]
                tally.seconds.append(time.perf_counter() - started)
                tally.requests.append(client.requests)
                tally.cpu_seconds.append(sum(tree_cpu_seconds(pid) for pid in pids) - cpu)
    print(f"{rounds} jobs each way, one after another ({base_url}):")
    print(f"  {'':40} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'CPU ms/job':>11}")
    for name, tally in tallies.items():
        requests = sum(tally.requests) / len(tally.requests)
        cpu_ms = 1000 * sum(tally.cpu_seconds) / len(tally.cpu_seconds)
        p50, p99 = (1000 * pct(tally.seconds, q) for q in (0.5, 0.99))
        print(f"  {name:40} {p50:8.0f} {p99:8.0f} {requests:9.1f} {cpu_ms:11.1f}")


@contextmanager
def processes(commands: list[list[str]], env: dict[str, str], log: Path) -> Iterator[list[int]]:
    with log.open("wb") as sink:
        running = [
            subprocess.Popen(command, env=env, stdout=sink, stderr=sink) for command in commands
        ]
    try:
        yield [process.pid for process in running]
    except BaseException:
        tail = log.read_text(errors="replace").splitlines()[-30:]
        print("The servers' log ends:", *tail, sep="\n  ")
        raise
    finally:
        for process in running:
            process.terminate()
        for process in running:
            process.wait(timeout=60)


async def tokens_for(base_url: str, orgs: list[OrgCredentials]) -> list[str]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        tokens = []
        for org in orgs:
            response = await http.post("/oauth2/token", json=org.token_request())
            response.raise_for_status()
            tokens.append(response.json()["access_token"])
        return tokens


async def _until_ready(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as http:
        await wait_ready(http)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=12, help="jobs per way")
    parser.add_argument("--orgs", type=int, default=4, help="orgs the jobs come from")
    parser.add_argument("--database-url", help="PostgreSQL: api and worker processes apart")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        workdir = Path(data_dir)
        env = {**os.environ, "SQR_REPORTS_DATA_DIR": data_dir, "SQR_REPORTS_LOG_LEVEL": "WARNING",
               "SQR_REPORTS_RATE_LIMIT__CREATIONS_PER_WINDOW": "1000000"}  # fmt: skip
        settings = Settings(data_dir=workdir)
        if args.database_url:
            recreate_database(args.database_url)
            env["SQR_REPORTS_DATABASE_URL"] = args.database_url
            settings = Settings(data_dir=workdir, database_url=args.database_url)
        cli(["migrate"], env, workdir)
        orgs = asyncio.run(create_orgs(settings, args.orgs))
        users = workdir / "users.jsonl"
        users.write_text(users_jsonl(orgs, 2), encoding="utf-8")
        cli(["user", "import", str(users)], env, workdir)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        commands = (
            [[str(BIN), "api", "--port", str(port)], [str(BIN), "worker"]]
            if args.database_url
            else [[str(BIN), "serve", "--port", str(port)]]
        )
        with processes(commands, env, workdir / "servers.log") as pids:
            asyncio.run(_until_ready(base_url))
            tokens = asyncio.run(tokens_for(base_url, orgs))
            asyncio.run(measure(base_url, tokens, args.rounds, pids))
    print(json.dumps({"load_average": os.getloadavg()}))


if __name__ == "__main__":
    main()
