"""`sqr-reports`: serve the API, and administer orgs, clients and users (a composition root)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from sqr_reports import __version__
from sqr_reports.auth import service as auth
from sqr_reports.config import Settings
from sqr_reports.container import Container, build_container
from sqr_reports.db.migrate import upgrade
from sqr_reports.demo import DemoCredentials, seed, walkthrough
from sqr_reports.errors import AppError, NotFound
from sqr_reports.http_limits import EnvelopeHttpToolsProtocol
from sqr_reports.logs import uvicorn_log_config
from sqr_reports.orgs import repository as orgs
from sqr_reports.orgs.service import create_org
from sqr_reports.policies import service as policies
from sqr_reports.users.service import import_users
from sqr_reports.webhooks import service as webhooks


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    if "data_dir" in args:
        settings.data_dir = args.data_dir
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        result: int = args.handler(settings, args)
    except AppError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return result


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir", type=Path, default=argparse.SUPPRESS,
        help="data directory (default: $SQR_REPORTS_DATA_DIR or ./data)",
    )  # fmt: skip
    # SUPPRESS: a subcommand's parser must not overwrite a --data-dir given before it.
    parser = argparse.ArgumentParser(prog="sqr-reports", description=__doc__, parents=[common])
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", parents=[common], help="run the API and the worker")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="seed demo data and print it")
    serve.set_defaults(handler=_serve)

    api = commands.add_parser("api", parents=[common], help="run the API only (scale-out)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--workers", type=int, default=1, help="API processes (default 1)")
    api.set_defaults(handler=_api)

    worker = commands.add_parser("worker", parents=[common], help="run a job worker (scale-out)")
    worker.add_argument("--concurrency", type=int, default=None, help="parallel jobs")
    worker.set_defaults(handler=_worker)

    migrate = commands.add_parser("migrate", parents=[common], help="upgrade the schema")
    migrate.set_defaults(handler=_sync(_migrate))

    org = commands.add_parser("org", help="organisations").add_subparsers(required=True)
    org_create = org.add_parser("create", parents=[common], help="register an org")
    org_create.add_argument("name")
    org_create.add_argument("--json", action="store_true")
    org_create.set_defaults(handler=_sync(_org_create))

    client = commands.add_parser("client", help="API clients").add_subparsers(required=True)
    client_create = client.add_parser("create", parents=[common], help="register a client")
    client_create.add_argument("--org", required=True, dest="org_id")
    client_create.add_argument("--scopes", default=None, help='e.g. "read:reports write:reports"')
    client_create.add_argument("--json", action="store_true")
    client_create.set_defaults(handler=_sync(_client_create))
    client_revoke = client.add_parser("revoke", parents=[common], help="revoke a client")
    client_revoke.add_argument("client_id")
    client_revoke.set_defaults(handler=_sync(_client_revoke))

    policy = commands.add_parser("policy", help="verdict policies").add_subparsers(required=True)
    policy_show = policy.add_parser("show", parents=[common], help="an org's verdict policy")
    policy_show.add_argument("--org", required=True, dest="org_id")
    policy_show.add_argument("--json", action="store_true")
    policy_show.set_defaults(handler=_sync(_policy_show))
    policy_set = policy.add_parser(
        "set", parents=[common], help="set an org's verdict policy (a new version)"
    )
    policy_set.add_argument("--org", required=True, dest="org_id")
    for name, (kind, help_text) in _POLICY_OPTIONS.items():
        choices = ("REFER", "FAIL") if name == "minor_outcome" else None
        policy_set.add_argument(
            "--" + name.replace("_", "-"), dest=name, type=kind, choices=choices, help=help_text
        )
    policy_set.add_argument("--json", action="store_true")
    policy_set.set_defaults(handler=_sync(_policy_set))
    _add_webhook_commands(commands, common)

    user = commands.add_parser("user", help="SQR users").add_subparsers(required=True)
    user_import = user.add_parser("import", parents=[common], help="import users (JSON Lines)")
    user_import.add_argument("file", type=Path)
    user_import.set_defaults(handler=_sync(_user_import))

    demo = commands.add_parser("demo", parents=[common], help="create demo org, client, users")
    demo.add_argument("--json", action="store_true")
    demo.add_argument("--base-url", default="http://127.0.0.1:8000")
    demo.set_defaults(handler=_sync(_demo))

    # The Python SDK's command: every word after `fetch` (`--help` too) goes to its own parser,
    # so this one recognises no options (no prefix character a command line can contain).
    fetch = commands.add_parser(
        "fetch", add_help=False, prefix_chars="\0",
        help="create one report, wait for it, download and verify it (needs the Python SDK)",
    )  # fmt: skip
    fetch.add_argument("argv", nargs="*")
    fetch.set_defaults(handler=_fetch)
    return parser


Command = Callable[[Container, argparse.Namespace], Awaitable[int]]


def _sync(
    command: Command, *, always_migrate: bool = False
) -> Callable[[Settings, argparse.Namespace], int]:
    """Run an admin command on its own event loop. SQLite (the embedded mode) is migrated
    first; PostgreSQL only when `always_migrate` (`serve`, which is the embedded mode on any
    database): the scale-out mode leaves migrations to `sqr-reports migrate`."""

    def run(settings: Settings, args: argparse.Namespace) -> int:
        async def go() -> int:
            container = build_container(settings)
            try:
                if always_migrate or container.embedded_database:
                    await upgrade(container.engine)
                return await command(container, args)
            finally:
                await container.close()

        return asyncio.run(go())

    return run


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from sqr_reports.app import create_app

    base_url = settings.public_url or f"http://{args.host}:{args.port}"
    if args.demo:
        demo_args = argparse.Namespace(json=False, base_url=base_url)
        _sync(_demo, always_migrate=True)(settings, demo_args)
    print(f"SQR PDF Report API on {base_url} (data in {settings.data_dir.resolve()})", flush=True)
    _run_http(settings, args, create_app(settings))
    return 0


def _api(settings: Settings, args: argparse.Namespace) -> int:
    """HTTP only; never migrates. Settings reach uvicorn's processes through the environment."""
    os.environ["SQR_REPORTS_DATA_DIR"] = str(settings.data_dir)
    _run_http(settings, args, "sqr_reports.app:create_api_app", factory=True, workers=args.workers)
    return 0


def _run_http(settings: Settings, args: argparse.Namespace, app: Any, **options: Any) -> None:
    """uvicorn with our log redaction and the same grace period the workers get on SIGTERM.

    On uvloop and httptools, the fastest event loop and HTTP parser uvicorn has: httptools
    (llhttp, in C) takes 0.08 ms less CPU per request than h11 (pure Python), a sixth of a
    status poll. Our protocol adds the head limit and the house envelope for what never
    reaches the app (`http_limits`).
    """
    import uvicorn

    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=uvicorn_log_config(settings.log_level),
        timeout_graceful_shutdown=int(settings.worker.shutdown_grace_seconds),
        loop="auto",  # uvloop (a runtime dependency, except on Windows), else asyncio's
        http=EnvelopeHttpToolsProtocol,
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

    return asyncio.run(go())


async def _migrate(container: Container, args: argparse.Namespace) -> int:
    await upgrade(container.engine)
    print("schema is up to date")
    return 0


async def _org_create(container: Container, args: argparse.Namespace) -> int:
    async with container.sessions.begin() as session:
        org = await create_org(session, container.db_clock, args.name)
    _emit(args.json, {"org_id": org.id, "name": org.name}, f"org_id {org.id}")
    return 0


async def _client_create(container: Container, args: argparse.Namespace) -> int:
    requested = args.scopes.split() if args.scopes is not None else None
    async with container.sessions.begin() as session:
        client, secret = await auth.create_client(
            session, args.org_id, requested, hasher=container.hasher, clock=container.db_clock
        )
    record = {
        "client_id": client.client_id,
        "client_secret": secret,
        "org_id": client.org_id,
        "scopes": client.scopes,
    }
    text = "\n".join(f"{k:<14}{v}" for k, v in record.items())
    _emit(args.json, record, text + "\n(the secret is shown only once)")
    return 0


async def _client_revoke(container: Container, args: argparse.Namespace) -> int:
    async with container.sessions.begin() as session:
        client = await auth.revoke_client(session, container.db_clock, args.client_id)
    print(f"client {client.client_id} revoked")
    return 0


#: `policy set`'s options: each policy field with the type its value parses to, and its help.
_POLICY_OPTIONS: dict[str, tuple[type, str]] = {
    "liveness_threshold": (float, "selfie liveness score that passes (0-100)"),
    "face_match_threshold": (float, "face-match score that passes (0-100)"),
    "refer_floor": (float, "scores from here up to a threshold are referred, below fail (0-100)"),
    "max_verification_age_days": (int, "days a verification stays current before it is referred"),
    "minimum_age": (int, "youngest age the org onboards"),
    "minor_outcome": (str, "what a subject under the minimum age gets"),
}


async def _policy_show(container: Container, args: argparse.Namespace) -> int:
    async with container.read_sessions() as session:
        if await orgs.get(session, args.org_id) is None:
            raise NotFound(f"No org with id {args.org_id}")
        applied = await policies.current(session, args.org_id, container.settings.verdict)
    _emit_policy(args, applied)
    return 0


async def _policy_set(container: Container, args: argparse.Namespace) -> int:
    changes = {name: getattr(args, name) for name in _POLICY_OPTIONS}
    changes = {name: value for name, value in changes.items() if value is not None}
    async with container.sessions.begin() as session:
        applied, changed = await policies.set_policy(
            session,
            args.org_id,
            changes,
            clock=container.db_clock,
            default=container.settings.verdict,
        )
    if not changed and not args.json:
        print("unchanged: the policy already has these values")
    _emit_policy(args, applied)
    return 0


def _emit_policy(args: argparse.Namespace, applied: policies.AppliedPolicy) -> None:
    record = {"org_id": args.org_id, **policies.describe(applied)}
    text = "\n".join(f"{k:<27}{v if v is not None else '-'}" for k, v in record.items())
    _emit(args.json, record, text)


async def _user_import(container: Container, args: argparse.Namespace) -> int:
    try:
        lines = args.file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {args.file}: {exc}", file=sys.stderr)
        return 1
    async with container.sessions.begin() as session:
        result = await import_users(session, container.db_clock, lines)
    for number, reason in result.errors:
        print(f"line {number}: {reason}", file=sys.stderr)
    print(f"imported {result.imported} user(s), rejected {len(result.errors)} line(s)")
    return 1 if result.errors else 0


async def _demo(container: Container, args: argparse.Namespace) -> int:
    async with container.sessions.begin() as session:
        credentials = await seed(session, container.hasher, container.db_clock)
    _emit(args.json, _demo_json(credentials), walkthrough(credentials, args.base_url))
    return 0


def _demo_json(credentials: DemoCredentials) -> dict[str, Any]:
    return {
        "org_id": credentials.org_id,
        "client_id": credentials.client_id,
        "client_secret": credentials.client_secret,
        "users": [{"id": u.id, "name": u.name, "outcome": u.outcome} for u in credentials.users],
    }


def _fetch(settings: Settings, args: argparse.Namespace) -> int:
    """`sqr-reports fetch`, which lives in the SDK (`sqr_reports_client.fetch`): a separate
    distribution, imported only here, so that every other command works without it."""
    try:
        from sqr_reports_client import fetch
    except ImportError:
        print("error: `sqr-reports fetch` needs the Python SDK: pip install sqr-reports-client "
              "(from this repository: pip install ./clients/python)", file=sys.stderr)  # fmt: skip
        return 2
    return fetch.main(args.argv, prog="sqr-reports fetch")


def _emit(as_json: bool, record: dict[str, Any], text: str) -> None:
    print(json.dumps(record, ensure_ascii=False, indent=2) if as_json else text)


# -- webhook ------------------------------------------------------------------------------------


def _add_webhook_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    webhook = commands.add_parser("webhook", help="each org's webhook endpoint and deliveries")
    actions = webhook.add_subparsers(required=True)

    def command(name: str, handler: Command, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, parents=[common], help=help_text)
        parser.set_defaults(handler=_sync(handler))
        return parser

    def for_org(name: str, handler: Command, help_text: str) -> argparse.ArgumentParser:
        parser = command(name, handler, help_text)
        parser.add_argument("--org", required=True, dest="org_id")
        return parser

    set_ = for_org("set", _webhook_set, "register or replace the endpoint; prints a new secret")
    set_.add_argument("--url", required=True, help="https:// URL of the org's receiver")
    set_.add_argument("--json", action="store_true")
    for_org("show", _webhook_show, "the org's endpoint (never its secret)").add_argument(
        "--json", action="store_true"
    )
    disable = for_org("disable", _webhook_disable, "stop delivering to the endpoint")
    disable.add_argument("--reason", default=webhooks.DISABLED_BY_OPERATOR)
    for_org("enable", _webhook_enable, "deliver to the endpoint again")
    rotate = for_org("rotate-secret", _webhook_rotate, "a new secret; the old one signs on a while")
    rotate.add_argument("--json", action="store_true")
    deliveries = for_org("deliveries", _webhook_deliveries, "recent deliveries and attempts")
    deliveries.add_argument("--limit", type=int, default=20)
    deliveries.add_argument("--json", action="store_true")
    redeliver = command("redeliver", _webhook_redeliver, "deliver an event again, now")
    redeliver.add_argument("event_id")


async def _webhook_set(container: Container, args: argparse.Namespace) -> int:
    async with container.sessions.begin() as session:
        endpoint, secret = await webhooks.set_endpoint(
            session,
            args.org_id,
            args.url,
            clock=container.db_clock,
            settings=container.settings.webhooks,
        )
    record = {"org_id": endpoint.org_id, "url": endpoint.url, "secret": secret}
    text = "\n".join(f"{k:<8}{v}" for k, v in record.items())
    _emit(args.json, record, text + "\n(the secret is shown only once)")
    return 0


async def _webhook_show(container: Container, args: argparse.Namespace) -> int:
    async with container.read_sessions() as session:
        endpoint = await webhooks.get_endpoint(session, args.org_id)
    record = webhooks.describe_endpoint(endpoint)
    text = "\n".join(f"{k:<29}{v if v is not None else '-'}" for k, v in record.items())
    _emit(args.json, record, text)
    return 0


async def _webhook_disable(container: Container, args: argparse.Namespace) -> int:
    async with container.sessions.begin() as session:
        await webhooks.disable(session, args.org_id, args.reason, clock=container.db_clock)
    print(f"webhook endpoint of org {args.org_id} disabled")
    return 0


async def _webhook_enable(container: Container, args: argparse.Namespace) -> int:
    async with container.sessions.begin() as session:
        await webhooks.enable(session, args.org_id, clock=container.db_clock)
    print(f"webhook endpoint of org {args.org_id} enabled")
    return 0


async def _webhook_rotate(container: Container, args: argparse.Namespace) -> int:
    settings = container.settings.webhooks
    async with container.sessions.begin() as session:
        secret = await webhooks.rotate_secret(
            session, args.org_id, clock=container.db_clock, settings=settings
        )
    hours = f"{settings.secret_overlap_hours:g}"
    record = {"org_id": args.org_id, "secret": secret, "previous_secret_valid_hours": hours}
    text = f"secret  {secret}\n(shown only once; the previous secret also signs for {hours} h)"
    _emit(args.json, record, text)
    return 0


async def _webhook_deliveries(container: Container, args: argparse.Namespace) -> int:
    async with container.read_sessions() as session:
        records = await webhooks.list_deliveries(session, args.org_id, args.limit)
    described = [webhooks.describe_delivery(record) for record in records]
    lines = [
        f"{d['created_at']}  {d['event_id']}  {d['event_type']:<16} {d['status']:<10} "
        f"attempts {len(d['attempts'])}  {d['last_error'] or ''}".rstrip()
        for d in described
    ]
    _emit(args.json, {"org_id": args.org_id, "deliveries": described}, "\n".join(lines))
    return 0


async def _webhook_redeliver(container: Container, args: argparse.Namespace) -> int:
    async with container.sessions.begin() as session:
        record = await webhooks.redeliver(
            session,
            args.event_id,
            org_id=None,
            clock=container.db_clock,
            settings=container.settings.webhooks,
        )
    print(f"event {args.event_id} queued for delivery (delivery {record.delivery.id})")
    return 0
