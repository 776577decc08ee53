"""Scale-out benchmark: API and worker processes on PostgreSQL and S3, under load from many orgs.

`--mode scale-out` (the default) starts 3 `sqr-reports api` processes and 4 `sqr-reports worker`
processes on one PostgreSQL database (dropped and recreated on every run) and one S3 bucket on
LocalStack (started with scripts/localstack.sh unless an S3 already answers at the endpoint, and
stopped again only if this script started it). `--mode embedded` runs the same load against one
`sqr-reports serve` (SQLite, local store, in-process worker) for comparison.

The load: --jobs report jobs (1,000) from --orgs orgs (120). The per-org limit of 10 creations per
600 s is kept, so 1,000 jobs need at least 100 orgs. Each org has one client and --users-per-org
users, imported with `sqr-reports user import`. POSTs go round-robin to the API processes, with at
most --in-flight jobs between their POST and a terminal status; every job is polled every 0.5 s
(on the next API process each time); a sample of COMPLETE jobs is downloaded through its URL.

It prints a table: jobs/s, POST latency, POST-to-COMPLETE latency (as polled, and as recorded by
the service), jobs processed twice, jobs not terminal at the end (from the database), FAILED jobs by
errorCode, and CPU and peak memory by process kind (the sizing in docs/deploy.md comes from them).
"Processed twice" is counted two ways: jobs claimed more than once (`attempts > 1`: any retry, after
a crash, a lost lease or a transient error) and jobs with more than one stored object (two renders
that both reached storage). It also checks that every stored report names its own job and user.
It exits 1 unless processed-twice, not-terminal and FAILED are all zero, every POST was accepted,
every report is its job's and every sampled download matched. Inherited SQR_REPORTS_* variables
are ignored: the benchmark sets every setting it depends on.

    .venv/bin/python bench/scale_out.py [--mode scale-out|embedded] [--jobs 1000] [--orgs 120]
        [--apis 3] [--workers 4] [--concurrency 1] [--in-flight 64] [--database sqr_bench]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import json
import math
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import localstack_s3
from fleet import (
    CLK_TCK,
    cli,
    create_orgs,
    fetch_tokens,
    parse_time,
    proc_stat,
    user_id,
    users_jsonl,
    write_signing_key,
)
from measure import free_port, pct, recreate_database
from processes import (
    Service,
    Services,
    base_env,
    group_members,
    interrupt_on_sigterm,
    step,
    wait_ready,
    wait_worker,
)
from pydantic import SecretStr
from pypdf import PdfReader
from sqlalchemy import func, select

from sqr_reports.config import AuthSettings, RateLimitSettings, Settings, StorageSettings
from sqr_reports.container import build_container
from sqr_reports.reports.models import TERMINAL, JobStatus, ReportJob

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: The documented advice is every 3-5 s; 0.5 s resolves latency without the polling itself taking
#: the CPU that rendering needs (2 cores are shared by the service, the databases and this client).
POLL_SECONDS = 0.5
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


# -- small helpers ---------------------------------------------------------------------------------


def latency(values: list[float]) -> str:
    """p50/p99/max of durations in seconds, in milliseconds."""
    ms = [v * 1000 for v in values]
    if not ms:
        return "n/a"
    return f"p50 {pct(ms, 0.5):7.1f} ms   p99 {pct(ms, 0.99):7.1f} ms   max {max(ms):7.1f} ms"


# -- processes -------------------------------------------------------------------------------------
def cpu_by_role(groups: dict[int, str]) -> dict[str, float]:
    """CPU seconds since start, by role: our process groups (pgid -> role), this benchmark,
    PostgreSQL and LocalStack. Reaped children count with their parent (cutime, cstime), so a
    recycled render process stays in its worker's role and an ended backend in PostgreSQL's."""
    ticks: dict[str, int] = {}
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or (stat := proc_stat(int(entry.name))) is None:
            continue
        pid, pgrp = int(entry.name), int(stat[2])
        if pgrp in groups:
            role = groups[pgrp]
        elif pid == me:
            role = "bench client"
        else:
            try:
                comm = (entry / "comm").read_text().strip()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if comm == "postgres":
                role = "PostgreSQL"
            elif b"localstack" in cmdline:
                role = "LocalStack"
            else:
                continue
        ticks[role] = ticks.get(role, 0) + sum(int(v) for v in stat[11:15])
    return {role: value / CLK_TCK for role, value in ticks.items()}


def rss_mib(pgid: int) -> float:
    """Resident memory of a process group we started (the process and its render processes)."""
    pages = 0
    for pid in group_members(pgid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            pages += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * PAGE_SIZE / 2**20


async def sample_peak_rss(groups: dict[int, str], peaks: dict[str, float]) -> None:
    """Until cancelled: the peak resident memory of each process group we started."""
    while True:
        for pgid, name in groups.items():
            peaks[name] = max(peaks.get(name, 0.0), rss_mib(pgid))
        await asyncio.sleep(2)


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, over all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    total = sum(values[:8])  # guest time is already counted in user
    return (total - idle) / CLK_TCK, total / CLK_TCK


# -- infrastructure --------------------------------------------------------------------------------
# -- test data -------------------------------------------------------------------------------------
# -- the load --------------------------------------------------------------------------------------
@dataclass
class Outcome:
    index: int
    org: int
    post_status: int = 0
    post_seconds: float = math.nan
    job_id: str = ""
    status: str = ""
    error_code: str | None = None
    sha256: str | None = None
    #: POST sent to the poll that saw COMPLETE (includes up to one poll interval).
    observed_seconds: float | None = None
    #: completedAt - createdAt, as the service recorded them.
    server_seconds: float | None = None
    org_token: str = ""


@dataclass
class Counters:
    polls: int = 0
    #: Polls that got no status, by what they got instead (retried at the next interval).
    poll_errors: Counter[str] = field(default_factory=Counter)


async def run_job(
    http: httpx.AsyncClient,
    apis: list[str],
    outcome: Outcome,
    user: str,
    limit: asyncio.Semaphore,
    counters: Counters,
    give_up_after: float,
) -> None:
    headers = {"Authorization": f"Bearer {outcome.org_token}"}
    async with limit:
        start = time.perf_counter()
        try:
            created = await http.post(
                f"{apis[outcome.index % len(apis)]}/v1/document/api",
                json={"userId": user},
                headers=headers,
            )
        except httpx.HTTPError as exc:
            outcome.status = f"POST error {type(exc).__name__}"
            return
        outcome.post_seconds = time.perf_counter() - start
        outcome.post_status = created.status_code
        if created.status_code != 202:
            outcome.status = f"POST {created.status_code}"
            return
        outcome.job_id = created.json()["jobId"]
        polls = 0
        while time.perf_counter() - start < give_up_after:
            await asyncio.sleep(POLL_SECONDS)
            polls += 1
            api = apis[(outcome.index + polls) % len(apis)]  # any API process can answer
            counters.polls += 1
            try:
                response = await http.get(
                    f"{api}/v1/document/api/{outcome.job_id}", headers=headers
                )
            except httpx.HTTPError as exc:
                counters.poll_errors[type(exc).__name__] += 1
                continue
            if response.status_code != 200:
                counters.poll_errors[f"HTTP {response.status_code}"] += 1
                continue
            job = response.json()
            if job["status"] in TERMINAL:
                outcome.status = job["status"]
                outcome.error_code = job["errorCode"]
                outcome.sha256 = job["sha256"]
                if job["status"] == JobStatus.COMPLETE:
                    outcome.observed_seconds = time.perf_counter() - start
                    outcome.server_seconds = (
                        parse_time(job["completedAt"]) - parse_time(job["createdAt"])
                    ).total_seconds()
                return
        outcome.status = "client timeout"


async def check_downloads(
    http: httpx.AsyncClient, apis: list[str], sample: list[Outcome]
) -> list[str]:
    """GET /url, then the URL itself without a token; the bytes must be the job's PDF."""
    problems = []
    for number, outcome in enumerate(sample):
        api = apis[number % len(apis)]
        headers = {"Authorization": f"Bearer {outcome.org_token}"}
        minted = await http.get(f"{api}/v1/document/api/{outcome.job_id}/url", headers=headers)
        if minted.status_code != 200:
            problems.append(f"{outcome.job_id}: /url answered {minted.status_code}")
            continue
        download = await http.get(minted.json()["url"])
        if download.status_code != 200:
            problems.append(f"{outcome.job_id}: download answered {download.status_code}")
        elif download.headers.get("content-type") != "application/pdf":
            problems.append(f"{outcome.job_id}: content-type {download.headers['content-type']}")
        elif not download.content.startswith(b"%PDF-"):
            problems.append(f"{outcome.job_id}: not a PDF")
        elif hashlib.sha256(download.content).hexdigest() != outcome.sha256:
            problems.append(f"{outcome.job_id}: sha256 differs from the job's")
    return problems


# -- verification ----------------------------------------------------------------------------------
@dataclass
class DatabaseFacts:
    total: int
    by_status: Counter[str]
    failed_by_code: Counter[str]
    attempts_over_one: int
    complete: dict[str, tuple[str, str]]  # job id -> (user id, storage key)


async def database_facts(settings: Settings) -> DatabaseFacts:
    container = build_container(settings)
    try:
        async with container.read_sessions() as session:
            rows = (
                await session.execute(
                    select(ReportJob.status, ReportJob.error_code, func.count()).group_by(
                        ReportJob.status, ReportJob.error_code
                    )
                )
            ).all()
            attempts = await session.scalar(
                select(func.count()).select_from(ReportJob).where(ReportJob.attempts > 1)
            )
            keys = (
                await session.execute(
                    select(ReportJob.id, ReportJob.user_id, ReportJob.storage_key).where(
                        ReportJob.status == JobStatus.COMPLETE
                    )
                )
            ).all()
    finally:
        await container.close()
    by_status: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for status, code, count in rows:
        by_status[status] += count
        if status == JobStatus.FAILED:
            failed[code or "?"] += count
    return DatabaseFacts(
        total=sum(by_status.values()),
        by_status=by_status,
        failed_by_code=failed,
        attempts_over_one=attempts or 0,
        complete={job_id: (user, key or "") for job_id, user, key in keys},
    )


@dataclass
class StorageFacts:
    jobs_with_objects: int
    jobs_with_several: int
    complete_without_object: int
    objects_of_unfinished_jobs: int


def storage_facts(keys: list[str], complete_keys: dict[str, str]) -> StorageFacts:
    """Objects are `reports/<org>/<job>/<attempt>.pdf`: more than one per job = rendered twice."""
    per_job: Counter[str] = Counter()
    for key in keys:
        parts = key.split("/")
        if len(parts) == 4 and parts[0] == "reports":
            per_job[parts[2]] += 1
    present = set(keys)
    return StorageFacts(
        jobs_with_objects=len(per_job),
        jobs_with_several=sum(1 for n in per_job.values() if n > 1),
        complete_without_object=sum(1 for k in complete_keys.values() if k not in present),
        objects_of_unfinished_jobs=sum(1 for job in per_job if job not in complete_keys),
    )


def check_contents(
    complete: dict[str, tuple[str, str]], read_object: Callable[[str], bytes]
) -> list[str]:
    """Every stored report must be its own job's: page 1 names the report (job) id and the user.

    A sha256 check cannot see a report rendered for one job and stored under another; this can.
    """

    def wrong(item: tuple[str, tuple[str, str]]) -> str | None:
        job_id, (user, key) = item
        try:
            text = PdfReader(io.BytesIO(read_object(key))).pages[0].extract_text()
        except Exception as exc:
            return f"{job_id}: unreadable report ({type(exc).__name__})"
        return None if job_id in text and user in text else f"{job_id}: another job's report"

    with ThreadPoolExecutor(4) as pool:
        return [problem for problem in pool.map(wrong, complete.items()) if problem]


def log_findings(services: list[Service]) -> tuple[Counter[str], list[str]]:
    """WARNING and ERROR lines in the service logs: a count by process kind, and the first few."""
    found: Counter[str] = Counter()
    first: list[str] = []
    for service in services:
        for line in service.log_text().splitlines():
            if " WARNING " in line or " ERROR " in line or " CRITICAL " in line:
                found[service.kind] += 1
                if len(first) < 8:
                    first.append(f"{service.name}: {line[:160]}")
    return found, first


# -- the run ---------------------------------------------------------------------------------------
@dataclass
class Setup:
    mode: str
    settings: Settings
    env: dict[str, str]
    workdir: Path
    title: str
    processes: str
    read_objects: Callable[[], list[str]]
    read_object: Callable[[str], bytes]


async def start_services(
    args: argparse.Namespace, setup: Setup, services: Services, http: httpx.AsyncClient
) -> list[str]:
    deadline = time.monotonic() + 120
    apis: list[Service] = []
    if setup.mode == "embedded":
        port = free_port()
        serve = services.start(
            "serve", "serve", ["serve", "--port", str(port)], setup.env, setup.workdir,
            url=f"http://127.0.0.1:{port}",
        )  # fmt: skip
        apis.append(serve)
    else:
        for number in range(args.apis):
            port = free_port()
            apis.append(
                services.start(
                    f"api-{number + 1}",
                    "api",
                    ["api", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                    setup.env,
                    setup.workdir,
                    url=f"http://127.0.0.1:{port}",
                )
            )
        worker_env = setup.env | {"SQR_REPORTS_LOG_LEVEL": "INFO"}  # for "worker ... started"
        workers = [
            services.start(
                f"worker-{number + 1}",
                "worker",
                ["worker", "--concurrency", str(args.concurrency)],
                worker_env,
                setup.workdir,
            )
            for number in range(args.workers)
        ]
        await asyncio.gather(*(wait_worker(w, deadline) for w in workers))
    await asyncio.gather(*(wait_ready(http, api, deadline) for api in apis))
    return [api.url for api in apis]


async def run(args: argparse.Namespace, setup: Setup, services: Services) -> int:
    main_task = asyncio.current_task()
    assert main_task is not None
    # SIGTERM cancels the run as Ctrl-C does, so every `finally` on the way out runs.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    step(f"creating {args.orgs} orgs and clients")
    cli(["migrate"], setup.env, setup.workdir)
    orgs = await create_orgs(setup.settings, args.orgs)
    users_file = setup.workdir / "users.jsonl"
    users_file.write_text(users_jsonl(orgs, args.users_per_org), encoding="utf-8")
    step(cli(["user", "import", str(users_file)], setup.env, setup.workdir).strip())

    limits = httpx.Limits(max_connections=args.in_flight + 16, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        step("starting the service processes")
        apis = await start_services(args, setup, services, http)
        step(f"fetching {len(orgs)} tokens")
        tokens = await fetch_tokens(http, apis, orgs)

        outcomes = [Outcome(i, i % args.orgs) for i in range(args.jobs)]
        for outcome in outcomes:
            outcome.org_token = tokens[outcome.org]
        counters = Counters()
        limit = asyncio.Semaphore(args.in_flight)
        step(f"running {args.jobs} jobs, at most {args.in_flight} in flight")
        groups = {s.process.pid: s.kind for s in services.started}
        cpu_before, machine_before = cpu_by_role(groups), machine_cpu_seconds()
        peak_rss: dict[str, float] = {}
        sampler = asyncio.create_task(
            sample_peak_rss({s.process.pid: s.name for s in services.started}, peak_rss)
        )
        start = time.perf_counter()
        await asyncio.gather(
            *(
                run_job(
                    http,
                    apis,
                    outcome,
                    user_id(outcome.org, (outcome.index // args.orgs) % args.users_per_org),
                    limit,
                    counters,
                    args.job_timeout,
                )
                for outcome in outcomes
            )
        )
        elapsed = time.perf_counter() - start
        cpu_after, machine_after = cpu_by_role(groups), machine_cpu_seconds()
        sampler.cancel()
        dead = [s.name for s in services.dead()]

        complete = [o for o in outcomes if o.status == JobStatus.COMPLETE]
        every = max(1, len(complete) // max(1, args.downloads))
        sample = complete[::every][: args.downloads]
        step(f"downloading {len(sample)} reports through their signed URLs")
        download_problems = await check_downloads(http, apis, sample)

    facts = await database_facts(setup.settings)
    objects = storage_facts(setup.read_objects(), {j: k for j, (_, k) in facts.complete.items()})
    step(f"checking that each of the {len(facts.complete)} stored reports is its own job's")
    content_problems = check_contents(facts.complete, setup.read_object)
    logged, first_logged = log_findings(services.started)

    # -- the report -----------------------------------------------------------------------------
    accepted = [o for o in outcomes if o.post_status == 202]
    rejected = Counter(o.status for o in outcomes if o.post_status != 202)
    not_terminal = facts.total - sum(facts.by_status[s] for s in TERMINAL)
    client_unfinished = sum(1 for o in accepted if o.status not in TERMINAL)
    twice = max(facts.attempts_over_one, objects.jobs_with_several)
    busy = machine_after[0] - machine_before[0]
    capacity = machine_after[1] - machine_before[1]
    cpu = {role: cpu_after[role] - cpu_before.get(role, 0.0) for role in cpu_after}
    cpu["anything else"] = busy - sum(cpu.values())
    service_cpu = {role: cpu.get(role, 0.0) for role in sorted(set(groups.values()))}
    requests = len(outcomes) + counters.polls
    failed = ", ".join(f"{code} {n}" for code, n in sorted(facts.failed_by_code.items()))
    refused = f", refused: {dict(rejected)}" if rejected else ""
    statuses = ", ".join(f"{s} {n}" for s, n in sorted(facts.by_status.items()))
    order = [*service_cpu, "bench client", "PostgreSQL", "LocalStack", "anything else"]
    roles = ", ".join(f"{role} {cpu[role]:.1f} s" for role in order if role in cpu)
    logs = ", ".join(f"{k} {n}" for k, n in sorted(logged.items())) or "none"

    table = [
        ("jobs", f"{len(outcomes)} posted, {len(accepted)} accepted{refused}"),
        ("orgs", f"{args.orgs} (one client and {args.users_per_org} users each)"),
        ("processes", setup.processes),
        ("elapsed", f"{elapsed:.1f} s (first POST to last job seen terminal)"),
        ("jobs/s (completed)", f"{len(complete) / elapsed:.1f}"),
        ("POST latency", latency([o.post_seconds for o in accepted])),
        (
            "POST to COMPLETE, seen",
            f"{latency([o.observed_seconds or 0 for o in complete])}"
            f"   (polled every {POLL_SECONDS} s)",
        ),
        (
            "POST to COMPLETE, server",
            f"{latency([o.server_seconds or 0 for o in complete])}   (completedAt - createdAt)",
        ),
        (
            "jobs processed twice",
            f"{twice}   (attempts > 1 in the database: {facts.attempts_over_one}; "
            f"jobs with > 1 stored object: {objects.jobs_with_several})",
        ),
        (
            "jobs not terminal",
            f"{not_terminal}   (in the database; the client gave up on {client_unfinished})",
        ),
        ("FAILED by errorCode", failed or "none"),
        ("database", f"{facts.total} jobs: {statuses}"),
        (
            "stored objects",
            f"{objects.jobs_with_objects} jobs with objects; COMPLETE without an object: "
            f"{objects.complete_without_object}; objects of jobs not COMPLETE: "
            f"{objects.objects_of_unfinished_jobs}",
        ),
        (
            "report contents",
            f"{len(facts.complete) - len(content_problems)}/{len(facts.complete)} stored reports "
            "name their own job id and user id",
        ),
        ("downloads checked", f"{len(sample) - len(download_problems)}/{len(sample)} OK"),
        (
            "API requests",
            f"{requests} ({requests / elapsed:.0f}/s, POSTs and polls; "
            f"poll errors: {dict(counters.poll_errors) or 0})",
        ),
        ("CPU busy", f"{busy:.0f} of {capacity:.0f} core-seconds ({100 * busy / capacity:.0f}%)"),
        (
            "CPU by process kind",
            roles,
        ),
    ]
    if complete:
        per_job = ", ".join(
            f"{role} {seconds / len(complete) * 1000:.0f} ms"
            for role, seconds in service_cpu.items()
        )
        table.append(("CPU per COMPLETE job", per_job))
    if setup.mode == "scale-out":  # (the embedded serve process also renders)
        per_request = service_cpu.get("api", 0.0) / requests * 1000
        table.append(("API CPU per request", f"{per_request:.1f} ms (POSTs and polls)"))
    kinds = {kind: [peak_rss.get(s.name, 0.0) for s in services.started if s.kind == kind]
             for kind in service_cpu}  # fmt: skip
    memory = ", ".join(f"{kind} {max(values):.0f} MiB" for kind, values in kinds.items() if values)
    table.append(("peak RSS per process", f"{memory} (with its render processes)"))
    table.append(("log lines WARNING+", logs))
    print(f"\n{setup.title}, {os.cpu_count()} cores")
    for name, value in table:
        print(f"  {name:<26} {value}")
    for line in first_logged:
        print(f"    {line}")

    problems = []
    if twice:
        problems.append(f"{twice} job(s) processed twice")
    if not_terminal or client_unfinished:
        problems.append(f"{not_terminal} job(s) not terminal ({client_unfinished} for the client)")
    if facts.failed_by_code:
        problems.append(f"FAILED jobs: {failed}")
    if rejected:
        problems.append(f"POSTs not accepted: {dict(rejected)}")
    if objects.complete_without_object:
        problems.append(f"{objects.complete_without_object} COMPLETE job(s) without an object")
    if dead:
        problems.append(f"processes that died during the run: {', '.join(dead)}")
    problems.extend(download_problems[:10])
    problems.extend(content_problems[:10])
    if len(content_problems) > 10:
        problems.append(f"... {len(content_problems)} reports that are not their job's")
    for problem in problems:
        print(f"FAIL: {problem}")
    return 1 if problems else 0


def run_and_stop(args: argparse.Namespace, setup: Setup, services: Services) -> int:
    try:
        return asyncio.run(run(args, setup, services))
    finally:
        interrupt_on_sigterm()  # closing the event loop restored the default action
        services.stop()


@contextlib.contextmanager
def bucket(endpoint: str, region: str) -> Iterator[tuple[S3Client, str]]:
    client = localstack_s3.s3_client(endpoint, region)
    name = f"sqr-bench-{secrets.token_hex(6)}"
    client.create_bucket(Bucket=name)
    try:
        yield client, name
    finally:
        with contextlib.suppress(Exception):
            localstack_s3.remove_bucket(client, name)


def scale_out(args: argparse.Namespace, workdir: Path, services: Services) -> int:
    database_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{args.database}"
    step(f"recreating the database {args.database}")
    recreate_database(f"postgresql://postgres@127.0.0.1:5432/{args.database}")
    key_file = workdir / "signing-key.pem"
    write_signing_key(key_file)
    with (
        localstack_s3.shared(args.s3_endpoint),
        bucket(args.s3_endpoint, args.s3_region) as (s3, name),
    ):
        storage = StorageSettings(
            backend="s3", s3_bucket=name, s3_region=args.s3_region,
            s3_endpoint_url=args.s3_endpoint, s3_access_key_id=localstack_s3.KEY,
            s3_secret_access_key=SecretStr(localstack_s3.KEY), s3_addressing_style="path",
        )  # fmt: skip
        settings = Settings(
            _env_file=None, data_dir=workdir / "data", database_url=database_url,
            auth=AuthSettings(private_key_files=[key_file]), storage=storage,
        )  # fmt: skip
        env = base_env(workdir) | {
            "SQR_REPORTS_DATABASE_URL": database_url,
            "SQR_REPORTS_AUTH__PRIVATE_KEY_FILES": json.dumps([str(key_file)]),
            "SQR_REPORTS_WORKER__EMBEDDED": "false",
            "SQR_REPORTS_STORAGE__BACKEND": "s3",
            "SQR_REPORTS_STORAGE__S3_BUCKET": name,
            "SQR_REPORTS_STORAGE__S3_REGION": args.s3_region,
            "SQR_REPORTS_STORAGE__S3_ENDPOINT_URL": args.s3_endpoint,
            "SQR_REPORTS_STORAGE__S3_ACCESS_KEY_ID": localstack_s3.KEY,
            "SQR_REPORTS_STORAGE__S3_SECRET_ACCESS_KEY": localstack_s3.KEY,
            "SQR_REPORTS_STORAGE__S3_ADDRESSING_STYLE": "path",
        }
        processes = (
            f"{args.apis} api (one uvicorn process each) + {args.workers} worker "
            f"(concurrency {args.concurrency}, one render process per slot)"
        )
        title = "Scale-out: PostgreSQL, S3 on LocalStack"
        setup = Setup(
            "scale-out", settings, env, workdir, title, processes,
            lambda: localstack_s3.s3_objects(s3, name),
            lambda key: s3.get_object(Bucket=name, Key=key)["Body"].read(),
        )  # fmt: skip
        return run_and_stop(args, setup, services)


def embedded(args: argparse.Namespace, workdir: Path, services: Services) -> int:
    data = workdir / "data"
    settings = Settings(_env_file=None, data_dir=data)

    def local_objects() -> list[str]:
        root = data / "blobs"
        return [str(p.relative_to(root)) for p in root.glob("reports/*/*/*")]

    processes = f"1 serve (API + in-process worker, concurrency {settings.worker.concurrency})"
    title = "Embedded default: SQLite, local store"
    setup = Setup(
        "embedded", settings, base_env(workdir), workdir, title, processes, local_objects,
        lambda key: (data / "blobs" / key).read_bytes(),
    )  # fmt: skip
    return run_and_stop(args, setup, services)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=["scale-out", "embedded"], default="scale-out")
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--orgs", type=int, default=120)
    parser.add_argument("--users-per-org", type=int, default=3)
    parser.add_argument("--apis", type=int, default=3, help="API processes (scale-out)")
    parser.add_argument("--workers", type=int, default=4, help="worker processes (scale-out)")
    parser.add_argument("--concurrency", type=int, default=1, help="jobs per worker process")
    parser.add_argument("--in-flight", type=int, default=64, help="jobs between POST and end")
    parser.add_argument("--downloads", type=int, default=50, help="COMPLETE jobs to download")
    parser.add_argument("--job-timeout", type=float, default=600, help="seconds per job")
    parser.add_argument("--database", default="sqr_bench", help="dropped and recreated")
    parser.add_argument("--s3-endpoint", default="http://127.0.0.1:4566")
    parser.add_argument("--s3-region", default="us-east-1")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, data)")
    args = parser.parse_args()
    interrupt_on_sigterm()
    per_window = RateLimitSettings().creations_per_window
    if math.ceil(args.jobs / args.orgs) > per_window:
        parser.error(f"{args.jobs} jobs need at least {math.ceil(args.jobs / per_window)} orgs "
                     f"(at most {per_window} creations per org and window)")  # fmt: skip
    if args.users_per_org < 1 or args.orgs > 99999 or args.users_per_org > 99:
        parser.error("1-99 users per org and at most 99999 orgs")

    workdir = Path(tempfile.mkdtemp(prefix="sqr-bench-"))
    services = Services(workdir)
    status = 1
    try:
        status = (scale_out if args.mode == "scale-out" else embedded)(args, workdir, services)
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; every process this benchmark started has been stopped")
    finally:
        services.stop()  # a no-op unless start-up failed half-way
        if services.killed:
            print(f"had to SIGKILL: {', '.join(services.killed)}")
        unclean = {n: c for n, c in services.exit_codes.items() if c not in (0, -signal.SIGTERM)}
        if unclean:
            print(f"exit codes other than 0 at shutdown: {unclean}")
        if args.keep or status != 0:
            print(f"logs and data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
