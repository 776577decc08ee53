"""Chaos: API and worker processes on PostgreSQL and S3 process a few hundred jobs through faults,
then a history checker says whether any job was lost, stuck or wrongly overwritten.

The fleet: --apis `sqr-reports api` and --workers `sqr-reports worker` processes on a scratch
PostgreSQL database (--database, dropped and recreated; never `test`) and a bucket on a
LocalStack of the run's own (its own port and run directory, started and stopped through
scripts/localstack.sh, so that freezing it hits nobody else). Every service reaches PostgreSQL
and S3 through a TCP proxy the run can cut. Leases are shortened (--lease, heartbeat a fifth of
it) so that a frozen worker loses its claim within the run.

The load: --jobs jobs at an even pace over --duration seconds, from enough orgs to stay under
the per-org rate limit, each POSTed until answered 202 (with an Idempotency-Key) and polled
until terminal (bench/chaos_load.py). The faults, during the load (bench/chaos_faults.py):
--kills workers SIGKILLed (and replaced) at even intervals; at 15% of the duration a worker
holding a claim is frozen (SIGSTOP) until another worker has reaped it, then continued; at 40%
the database is cut for --outage seconds; at 60% S3 refuses connections for --outage seconds;
at 80% LocalStack itself is frozen (SIGSTOP) for --outage seconds.

The verdict: after every job is terminal (or --settle seconds after the load, whatever comes
first) the services are stopped and the checker (bench/chaos_check.py) reads every job's full
history, recorded by triggers in the scratch database and by the bucket's versioning
(bench/chaos_history.py), and the clients' observations. It prints: accepted, terminal, lost,
stuck, wrongly overwritten, rendered twice, stale writes refused, the longest time to terminal;
and exits 1 on any lost, stuck or wrongly overwritten job, a service that died unbidden, or a
freeze whose late write was not seen refused.

    .venv/bin/python bench/chaos.py                          # make chaos: 300 jobs, 240 s
    .venv/bin/python bench/chaos.py --jobs 120 --duration 90 --kills 3 --outage 6   # CI
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

import chaos_check
import chaos_history
import httpx
import localstack_s3
from chaos_faults import Fault, Fleet, now, outage, proxy, send_signal
from chaos_load import ClientJob, Clients
from chaos_setup import (
    REGION,
    Setup,
    admin_settings,
    client_jobs,
    environments,
    prepare,
    start_fleet,
    versioned_bucket,
)
from fleet import fetch_tokens
from measure import drop_database, free_port, recreate_database
from processes import Services, interrupt_on_sigterm, step
from sqlalchemy.ext.asyncio import create_async_engine


# -- the faults ----------------------------------------------------------------------------------
async def at(moment: float, action: Callable[[], Awaitable[None]]) -> None:
    """Run `action` at `moment` (event-loop time)."""
    await asyncio.sleep(max(0.0, moment - asyncio.get_running_loop().time()))
    await action()


async def inject_faults(setup: Setup, fleet: Fleet, start: float) -> None:
    """Every fault at its moment of the load (see the module's docstring)."""
    args, engine, faults = setup.args, setup.engine, fleet.faults
    moment = [start + args.duration * share for share in (0.15, 0.40, 0.60, 0.80)]
    pid = setup.localstack_pid
    await asyncio.gather(
        *(
            at(start + args.duration * (k + 1) / (args.kills + 1), lambda: fleet.kill_one(engine))
            for k in range(args.kills)
        ),
        at(moment[0], lambda: fleet.freeze_one(engine, args.lease)),
        at(moment[1], lambda: outage(faults, "database cut (proxy)", args.outage,
                                     setup.db_proxy.cut, setup.db_proxy.restore)),
        at(moment[2], lambda: outage(faults, "S3 refuses connections (proxy)", args.outage,
                                     setup.s3_proxy.cut, setup.s3_proxy.restore)),
        at(moment[3], lambda: outage(faults, "S3 frozen (LocalStack SIGSTOP)", args.outage,
                                     lambda: send_signal(pid, signal.SIGSTOP),
                                     lambda: send_signal(pid, signal.SIGCONT))),
    )  # fmt: skip


# -- the run -------------------------------------------------------------------------------------
async def load(setup: Setup, fleet: Fleet) -> tuple[list[ClientJob], Clients, datetime]:
    """Start the services, create and follow every job through the faults, then take the API's
    final answer on each."""
    args = setup.args
    orgs = await prepare(setup)
    limits = httpx.Limits(max_connections=args.jobs + 16, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=15, limits=limits) as http:
        step(f"starting {args.apis} API and {args.workers} worker processes")
        apis = await start_fleet(setup, fleet, http)
        step(f"fetching {len(orgs)} tokens")
        jobs = client_jobs(args, await fetch_tokens(http, apis, orgs))
        clients = Clients(http, apis)
        start = asyncio.get_running_loop().time() + 1
        started = now() + timedelta(seconds=1)
        deadline = start + args.duration + args.settle
        step(f"{args.jobs} jobs over {args.duration:g} s, with faults; then up to "
             f"{args.settle:g} s for every job to end")  # fmt: skip
        faults = asyncio.create_task(inject_faults(setup, fleet, start))
        pace = args.duration / args.jobs
        await asyncio.gather(
            *(clients.run(job, start + i * pace, deadline) for i, job in enumerate(jobs))
        )
        await faults
        step("asking the API once more about every job")
        await asyncio.gather(*(clients.final_view(job) for job in jobs if job.accepted))
    return jobs, clients, started


async def run(setup: Setup) -> int:
    fleet = Fleet(setup.services, setup.service_env, setup.workdir, setup.args.concurrency,
                  random.Random(setup.args.seed))  # fmt: skip
    began = time.time()
    jobs, clients, started = await load(setup, fleet)
    unbidden = [s.name for s in setup.services.dead() if s.name not in fleet.killed]
    step("stopping the services")
    setup.services.stop(timeout=30)
    unclean = {
        name: code for name, code in setup.services.exit_codes.items()
        if name not in fleet.killed and code not in (0, -signal.SIGTERM)
    }  # fmt: skip
    step("reading every job's history")
    s3 = localstack_s3.s3_client(setup.s3_endpoint, REGION)
    evidence = await chaos_history.gather(setup.engine, s3, setup.bucket)
    verdict = chaos_check.check(jobs, evidence, fleet.frozen)
    verdict.problems += [f"{name} died without being killed" for name in unbidden]
    verdict.problems += [f"{name} exited with {code} at shutdown" for name, code in unclean.items()]
    print_report(setup, fleet.faults, clients, verdict, (began, started))
    failed = verdict.lost or verdict.stuck or verdict.overwritten or verdict.problems
    return 1 if failed else 0


def print_report(
    setup: Setup,
    faults: list[Fault],
    clients: Clients,
    verdict: chaos_check.Verdict,
    times: tuple[float, datetime],
) -> None:
    """The fault timeline, the API's answers, the figures, and every failure."""
    began, origin = times
    args = setup.args
    print(f"\nChaos: {args.apis} api + {args.workers} worker processes (concurrency "
          f"{args.concurrency}) on PostgreSQL and S3 (LocalStack), lease {args.lease:g} s, "
          f"{time.time() - began:.0f} s")  # fmt: skip
    print("  faults (seconds from the start of the load):")
    for fault in sorted(faults, key=lambda f: f.started):
        offset = (fault.started - origin).total_seconds()
        until = f" until +{(fault.ended - origin).total_seconds():.1f}" if fault.ended else ""
        print(f"    +{offset:6.1f}{until:<13} {fault.name}: {fault.detail}")
    answers = ", ".join(f"{k} x{n}" for k, n in sorted(clients.answers.items()))
    print(f"  API answers: {answers}")
    for name, value in chaos_check.figures(verdict):
        print(f"  {name:<26} {value}")
    for kind, ids in (("lost", verdict.lost), ("stuck", verdict.stuck)):
        for job_id in ids[:10]:
            print(f"FAIL: {kind}: {job_id}")
    for job_id, reasons in list(verdict.overwritten.items())[:10]:
        print(f"FAIL: wrongly overwritten: {job_id}: {'; '.join(reasons)}")
    for problem in verdict.problems:
        print(f"FAIL: {problem}")


def chaos(args: argparse.Namespace, workdir: Path, services: Services) -> int:
    """Scratch database, the run's own LocalStack and bucket, the proxies; then the run."""
    step(f"recreating the database {args.database}")
    recreate_database(database_url(args))
    with (
        localstack_s3.own(workdir / "localstack", free_port()) as localstack,
        proxy("127.0.0.1", 5432) as db_proxy,
        proxy("127.0.0.1", localstack.port) as s3_proxy,
    ):
        bucket = versioned_bucket(localstack.endpoint)
        s3_endpoint = f"http://127.0.0.1:{s3_proxy.port}"
        admin_env, service_env = environments(args, workdir, db_proxy.port, s3_endpoint, bucket)

        async def go() -> int:
            engine = create_async_engine(admin_env["SQR_REPORTS_DATABASE_URL"], pool_size=4)
            setup = Setup(args, workdir, services, admin_env, service_env,
                          admin_settings(admin_env, workdir), engine, db_proxy, s3_proxy,
                          localstack.pid, bucket, localstack.endpoint)  # fmt: skip
            task = asyncio.current_task()
            assert task is not None
            # SIGTERM cancels the run as Ctrl-C does, so every `finally` on the way out runs.
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
            try:
                return await run(setup)
            finally:
                await engine.dispose()

        try:
            return asyncio.run(go())
        finally:
            interrupt_on_sigterm()  # closing the event loop restored the default action
            services.stop(timeout=30)
            continue_process(localstack.pid)


def continue_process(pid: int) -> None:
    """SIGCONT, in case the run was interrupted while the process was frozen: a stopped
    LocalStack would not hear the SIGTERM that stops it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)


def database_url(args: argparse.Namespace) -> str:
    """The scratch database, as PostgreSQL's own tools take it."""
    return f"postgresql://postgres@127.0.0.1:5432/{args.database}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--duration", type=float, default=240, help="seconds of load")
    parser.add_argument("--apis", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=1, help="jobs per worker process")
    parser.add_argument("--users-per-org", type=int, default=3)
    parser.add_argument("--kills", type=int, default=6, help="workers SIGKILLed")
    parser.add_argument("--lease", type=float, default=5, help="lease seconds of the workers")
    parser.add_argument("--outage", type=float, default=10, help="seconds of each outage")
    parser.add_argument("--settle", type=float, default=180, help="seconds to wait after the load")
    parser.add_argument("--database", default="chaos", help="dropped and recreated")
    parser.add_argument("--seed", type=int, default=None, help="which workers are struck")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, data)")
    args = parser.parse_args()
    if args.jobs < 1 or args.duration < 10 or args.workers < 2:
        parser.error("at least 1 job, 10 s and 2 workers (one is frozen, one reaps)")
    return args


def main() -> None:
    args = parse_args()
    interrupt_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="sqr-chaos-"))
    services = Services(workdir)
    status = 1
    try:
        status = chaos(args, workdir, services)
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; every process this run started has been stopped")
    finally:
        services.stop(timeout=30)  # a no-op unless start-up failed half-way
        if args.keep or status != 0:
            print(f"logs and data kept in {workdir}, the history in the database {args.database}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            drop_database(database_url(args))
    sys.exit(status)


if __name__ == "__main__":
    main()
