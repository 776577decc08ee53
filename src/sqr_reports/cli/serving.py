"""`serve`, `api`, `worker`, `migrate` and `demo`: running the service and its demo data."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from typing import Any

from sqr_reports.cli.command import Commands, add_command, emit, with_container
from sqr_reports.cli.startup import DemoLock, refuse_busy_port
from sqr_reports.config import Settings
from sqr_reports.container import Container, build_container
from sqr_reports.db.migrate import upgrade
from sqr_reports.demo import DemoCredentials, seed, walkthrough
from sqr_reports.http_limits import EnvelopeHttpToolsProtocol
from sqr_reports.logs import uvicorn_log_config
from sqr_reports.metrics import exposition


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    serve = add_command(commands, "serve", _serve, "run the API and the worker",
                        common=common, with_json=False)  # fmt: skip
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="seed demo data and print it")

    api = add_command(commands, "api", _api, "run the API only (scale-out)",
                      common=common, with_json=False)  # fmt: skip
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--workers", type=int, default=1, help="API processes (default 1)")

    worker = add_command(commands, "worker", _worker, "run a job worker (scale-out)",
                         common=common, with_json=False)  # fmt: skip
    worker.add_argument("--concurrency", type=int, default=None, help="parallel jobs")

    add_command(commands, "migrate", with_container(_migrate), "upgrade the schema",
                common=common, with_json=False)  # fmt: skip

    demo = add_command(commands, "demo", with_container(_demo),
                       "create demo org, client, users", common=common, with_json=True)  # fmt: skip
    demo.add_argument("--base-url", default="http://127.0.0.1:8000")


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    """Before the demo data is touched: the port must be free, and no other `serve --demo` may
    run on this data directory, since seeding again gives the demo client a new secret and so
    breaks the walkthrough the running server printed."""
    from sqr_reports.app import create_app

    base_url = settings.public_url or f"http://{args.host}:{args.port}"
    refuse_busy_port(args.host, args.port)
    with contextlib.ExitStack() as held:
        if args.demo:
            held.enter_context(DemoLock(settings.data_dir))
            demo_args = argparse.Namespace(json=False, base_url=base_url)
            with_container(_demo, always_migrate=True)(settings, demo_args)
        print(f"SQR PDF Report API on {base_url} (data in {settings.data_dir.resolve()})",
              flush=True)  # fmt: skip
        _run_http(settings, args, create_app(settings))
    return 0


def _api(settings: Settings, args: argparse.Namespace) -> int:
    """HTTP only; never migrates. Settings reach uvicorn's processes through the environment."""
    os.environ["SQR_REPORTS_DATA_DIR"] = str(settings.data_dir)
    _run_http(settings, args, "sqr_reports.app:create_api_app", factory=True, workers=args.workers)
    return 0


#: How long uvicorn's supervisor waits for an API child process's ping before replacing it.
WORKER_HEALTHCHECK_SECONDS = 30


def _run_http(settings: Settings, args: argparse.Namespace, app: Any, **options: Any) -> None:
    """uvicorn with our log redaction and the same grace period the workers get on SIGTERM.

    On uvloop and httptools, the fastest event loop and HTTP parser uvicorn has: httptools
    (llhttp, in C) takes 0.08 ms less CPU per request than h11 (pure Python), a sixth of a
    status poll. Our protocol adds the head limit and the house envelope for what never
    reaches the app (`http_limits`).
    """
    import uvicorn

    # uvicorn's worker processes inherit the unit's metrics directory (`metrics.exposition`).
    with exposition.unit_directory(settings.resolved_metrics_dir()):
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_config=uvicorn_log_config(settings.log_level, settings.log.format),
            timeout_graceful_shutdown=int(settings.worker.shutdown_grace_seconds),
            timeout_keep_alive=settings.http_keep_alive_seconds,
            loop="auto",  # uvloop (a runtime dependency, except on Windows), else asyncio's
            http=EnvelopeHttpToolsProtocol,
            # With --workers, uvicorn's supervisor kills a child that misses a ping for this
            # long. Its 5 s default killed healthy children still starting, or busy, on a
            # saturated 2-core machine (a hung first request in the Compose stack, 4 runs in 25).
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
            **options,
        )


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    """Jobs only; never migrates. SIGTERM: stop claiming, finish or release, exit."""
    if args.concurrency is not None:
        settings.worker.concurrency = args.concurrency

    async def go() -> int:
        container = build_container(settings)
        try:
            await container.renderer.start()
            worker = container.new_worker()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, worker.stop)
            await worker.run()
        finally:
            await container.close()
        return 0

    metrics = settings.metrics  # a worker has no HTTP server: it serves its metrics itself
    with (
        exposition.unit_directory(settings.resolved_metrics_dir()),
        exposition.serving(metrics.worker_host, metrics.worker_port),
    ):
        return asyncio.run(go())


async def _migrate(container: Container, args: argparse.Namespace) -> int:
    await upgrade(container.engine)
    print("schema is up to date")
    return 0


async def _demo(container: Container, args: argparse.Namespace) -> int:
    async with container.sessions.begin() as session:
        credentials = await seed(session, container.hasher, container.db_clock)
    emit(args.json, _demo_json(credentials), walkthrough(credentials, args.base_url))
    return 0


def _demo_json(credentials: DemoCredentials) -> dict[str, Any]:
    return {
        "org_id": credentials.org_id,
        "client_id": credentials.client_id,
        "client_secret": credentials.client_secret,
        "users": [{"id": u.id, "name": u.name, "outcome": u.outcome} for u in credentials.users],
    }
