"""Benchmark of the API's hot path: the job-status GET, driven by wrk against a real server.

Starts `sqr-reports serve --demo` (the embedded default: SQLite, on a free loopback port) or, with
--database-url, `sqr-reports api` on PostgreSQL (that database is dropped and recreated), gets a
token, creates one job and drives `GET /v1/document/api/{id}` with wrk in another process.
Prints requests/s, p50/p99 latency (wrk's), the server's CPU per request (from /proc/<pid>/stat;
on PostgreSQL also its backends' CPU) and how busy each core was: on a 2-core machine wrk itself
takes most of one.

The job stays PENDING (serve's embedded worker is switched off; `api` has none), so every answer
carries Retry-After: the costlier case of a poll, which reads the database clock on PostgreSQL.
Logging is at WARNING, as in the other benchmarks (no access log line per request).

The load generator is wrk, because one written in Python saturates before the server does:
    apt-get install -y wrk          (Debian, Ubuntu; `brew install wrk` on macOS)

    .venv/bin/python bench/api.py [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench_api]
        [--duration 10] [--connections 50] [--threads 1] [--runs 1] [--pin] [--src DIR]

--src DIR runs another checkout's code (PYTHONPATH=DIR/src) with this virtual environment, to
compare before and after a change on the same machine. --pin puts the server on core 0 and wrk on
core 1; on a machine others share, CPU ms per request is the steadier figure either way.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from measure import free_port, recreate_database
from sqlalchemy.engine import make_url

BIN = Path(sys.executable).parent / "sqr-reports"
CLK_TCK = os.sysconf("SC_CLK_TCK")
#: Databases this benchmark must never drop (`test` is the suite's, others' work lives there).
WARM_UP_SECONDS = 2
SERVER_CORE, LOAD_CORE = 0, 1


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    #: Non-2xx/3xx answers and socket errors: any of them makes the run worthless.
    bad: str


@dataclass(frozen=True)
class CpuSample:
    server_ticks: int
    cores: list[tuple[int, int]]  # (busy, total) ticks per core, since boot
    #: PostgreSQL's backends serving the benchmark's database, by pid (none on SQLite).
    backends: dict[int, int]


# -- processes and CPU ---------------------------------------------------------------------------
def process_ticks(pid: int) -> int:
    """utime + stime of one process, in clock ticks (fields 14 and 15 of /proc/<pid>/stat)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def core_ticks() -> list[tuple[int, int]]:
    cores = []
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            ticks = [int(v) for v in values[:8]]
            idle = ticks[3] + ticks[4]  # idle, iowait
            cores.append((sum(ticks) - idle, sum(ticks)))
    return cores


#: A backend's process title: "postgres: [cluster: ]user database host(port) state".
_BACKEND_TITLE = re.compile(r"^postgres: (?:\S+: )?\S+ (\S+) ")


def backend_ticks(database: str) -> dict[int, int]:
    """CPU ticks of each PostgreSQL backend connected to `database` (its title names it)."""
    ticks = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            found = _BACKEND_TITLE.match(title)
            if found and found[1] == database:
                ticks[int(entry.name)] = process_ticks(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return ticks


def sample(pid: int, database: str) -> CpuSample:
    backends = backend_ticks(database) if database else {}
    return CpuSample(process_ticks(pid), core_ticks(), backends)


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pin_to(core: int) -> list[str]:
    """A command prefix that runs a program on one core (nothing if there is no such core)."""
    return ["taskset", "-c", str(core)] if core < (os.cpu_count() or 1) else []


# -- the server ------------------------------------------------------------------------------------
def base_env(data_dir: Path, src: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQR_REPORTS_")}
    env |= {
        "SQR_REPORTS_DATA_DIR": str(data_dir),
        "SQR_REPORTS_LOG_LEVEL": "WARNING",
        # Polling a job that stays PENDING: nobody works on it.
        "SQR_REPORTS_WORKER__EMBEDDED": "false",
    }
    if src is not None:
        env["PYTHONPATH"] = str(src / "src")
    return env


def cli(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"sqr-reports {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def start(command: list[str], env: dict[str, str], log: Path, pin: bool) -> Server:
    port = free_port()
    prefix = pin_to(SERVER_CORE) if pin else []
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [*prefix, str(BIN), *command, "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited during start-up:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.base_url}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop(server)
    raise SystemExit(f"the server did not get ready:\n{log.read_text()[-3000:]}")


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()


@contextmanager
def embedded(work: Path, src: Path | None, pin: bool) -> Iterator[tuple[Server, dict[str, str]]]:
    """`serve --demo`: the demo client's fresh secret is in the walkthrough it prints."""
    env = base_env(work / "data", src)
    server = start(["serve", "--demo"], env, work / "server.log", pin)
    try:
        found = re.search(r"^Client secret (\S+)", server.log.read_text(), re.MULTILINE)
        if found is None:
            raise SystemExit("no client secret in the output of serve --demo")
        yield server, {"client_id": "sqr_demo_client", "client_secret": found[1]}
    finally:
        stop(server)


@contextmanager
def scale_out(
    work: Path, src: Path | None, pin: bool, database_url: str
) -> Iterator[tuple[Server, dict[str, str]]]:
    """`sqr-reports api` on PostgreSQL, after `migrate` and a client made with the CLI."""
    recreate_database(database_url)
    env = base_env(work / "data", src) | {"SQR_REPORTS_DATABASE_URL": database_url}
    cli(["migrate"], env)
    org = json.loads(cli(["org", "create", "Bench API Ltd", "--json"], env))
    client = json.loads(cli(["client", "create", "--org", org["org_id"], "--json"], env))
    server = start(["api"], env, work / "server.log", pin)
    try:
        yield server, {"client_id": client["client_id"], "client_secret": client["client_secret"]}
    finally:
        stop(server)


def prepare(base_url: str, credentials: dict[str, str]) -> tuple[str, str]:
    """A token and the URL of a new job's status."""
    with httpx.Client(base_url=base_url, timeout=30) as http:
        body = credentials | {"grant_type": "client_credentials"}
        granted = http.post("/oauth2/token", json=body)
        granted.raise_for_status()
        token = str(granted.json()["access_token"])
        headers = {"Authorization": f"Bearer {token}"}
        created = http.post(
            "/v1/document/api", json={"userId": "US7K2M9Q4X8B1N5C"}, headers=headers
        )
        created.raise_for_status()
        status_url = f"{base_url}/v1/document/api/{created.json()['jobId']}"
        polled = http.get(status_url, headers=headers)
        if polled.status_code != 200 or "Retry-After" not in polled.headers:
            raise SystemExit(f"unexpected status answer: {polled.status_code} {polled.text}")
    return token, status_url


# -- the load --------------------------------------------------------------------------------------
_DURATION_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _milliseconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * _DURATION_UNITS[unit]


def parse_wrk(output: str) -> WrkResult:
    def find(pattern: str) -> re.Match[str]:
        found = re.search(pattern, output, re.MULTILINE)
        if found is None:
            raise SystemExit(f"unexpected wrk output (no {pattern!r}):\n{output}")
        return found

    bad = [
        m.group(0).strip() for m in re.finditer(r"^\s*(Non-2xx.*|Socket errors.*)$", output, re.M)
    ]
    return WrkResult(
        requests_per_second=float(find(r"^Requests/sec:\s+([\d.]+)")[1]),
        p50_ms=_milliseconds(find(r"^\s+50%\s+(\S+)")[1]),
        p99_ms=_milliseconds(find(r"^\s+99%\s+(\S+)")[1]),
        requests=int(find(r"^\s+(\d+) requests in")[1]),
        bad="; ".join(bad),
    )


def wrk(args: argparse.Namespace, token: str, url: str, seconds: float) -> WrkResult:
    command = [
        *(pin_to(LOAD_CORE) if args.pin else []), "wrk", f"-t{args.threads}",
        f"-c{args.connections}", f"-d{seconds:g}s", "--latency", "--timeout", "10s",
        "-H", f"Authorization: Bearer {token}", url,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed:\n{done.stdout}{done.stderr}")
    return parse_wrk(done.stdout)


@dataclass(frozen=True)
class Run:
    result: WrkResult
    server_cpu_seconds: float
    database_cpu_seconds: float
    wrk_cpu_seconds: float
    core_busy: list[float]  # per core, share of the run
    elapsed: float


def measured_run(args: argparse.Namespace, server: Server, token: str, url: str) -> Run:
    database = make_url(args.database_url).database or "" if args.database_url else ""
    wrk(args, token, url, WARM_UP_SECONDS)  # pools, prepared statements, caches
    pid = server.process.pid
    before, wrk_before, started = sample(pid, database), children_cpu_seconds(), time.time()
    result = wrk(args, token, url, args.duration)
    after, elapsed = sample(pid, database), time.time() - started
    busy = [
        (b1 - b0) / max(1, t1 - t0)
        for (b0, t0), (b1, t1) in zip(before.cores, after.cores, strict=True)
    ]
    backends = sum(t - before.backends.get(p, 0) for p, t in after.backends.items())
    return Run(
        result=result,
        server_cpu_seconds=(after.server_ticks - before.server_ticks) / CLK_TCK,
        database_cpu_seconds=backends / CLK_TCK,
        wrk_cpu_seconds=children_cpu_seconds() - wrk_before,
        core_busy=busy,
        elapsed=elapsed,
    )


def report(title: str, runs: list[Run]) -> None:
    print(f"\n{title}, {os.cpu_count()} cores")
    for number, run in enumerate(runs, 1):
        r = run.result
        cpu_ms = run.server_cpu_seconds / max(1, r.requests) * 1000
        cores = ", ".join(f"core {i} {100 * b:.0f}%" for i, b in enumerate(run.core_busy))
        print(
            f"  run {number}: {r.requests_per_second:8.0f} req/s   p50 {r.p50_ms:6.2f} ms   "
            f"p99 {r.p99_ms:6.2f} ms   server CPU {cpu_ms:.3f} ms/request"
        )
        database = ""
        if run.database_cpu_seconds:
            per_request = run.database_cpu_seconds / max(1, r.requests) * 1000
            database = f", PostgreSQL {per_request:.3f} ms/request"
        print(
            f"         server {100 * run.server_cpu_seconds / run.elapsed:.0f}% of a core, "
            f"wrk {100 * run.wrk_cpu_seconds / run.elapsed:.0f}%{database}; machine: {cores}"
        )
        if r.bad:
            print(f"  FAIL: {r.bad}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="", help="PostgreSQL (dropped and recreated)")
    parser.add_argument("--duration", type=float, default=10, help="seconds of load per run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--runs", type=int, default=1, help="measured runs on one server")
    parser.add_argument("--pin", action="store_true", help="server on core 0, wrk on core 1")
    parser.add_argument("--src", type=Path, default=None, help="run this checkout's code")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (or brew install wrk)")
    code = f"code from {args.src}" if args.src else "this checkout"
    with tempfile.TemporaryDirectory(prefix="sqr-bench-api-") as tmp:
        work = Path(tmp)
        if args.database_url:
            started = scale_out(work, args.src, args.pin, args.database_url)
            title = f"GET /v1/document/api/{{id}}: sqr-reports api on PostgreSQL ({code})"
        else:
            started = embedded(work, args.src, args.pin)
            title = f"GET /v1/document/api/{{id}}: sqr-reports serve on SQLite ({code})"
        with started as (server, credentials):
            token, url = prepare(server.base_url, credentials)
            runs = [measured_run(args, server, token, url) for _ in range(args.runs)]
    title += f", wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s"
    report(title + (", pinned" if args.pin else ""), runs)
    if any(run.result.bad for run in runs):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
