"""What every admin command shares: its own event loop and container, and how it prints.

A command prints text for a person, or with `--json` one JSON document for a script. It fails
by raising an `AppError` or a `CommandError`: `main` prints `error: <message>` on stderr and
exits 1, never a traceback and never a secret.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.audit import service as audit
from sqr_reports.config import Settings
from sqr_reports.container import Container, build_container
from sqr_reports.db.migrate import upgrade

Command = Callable[[Container, argparse.Namespace], Awaitable[int]]
Handler = Callable[[Settings, argparse.Namespace], int]
#: The `add_subparsers()` object each module adds its commands to.
Commands = Any


class CommandError(Exception):
    """A command cannot do what it was asked; the message says why and what to do instead."""


def with_container(command: Command, *, always_migrate: bool = False) -> Handler:
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


def add_command(
    actions: Commands, name: str, handler: Handler, help_text: str, *, common: Any, with_json: bool
) -> argparse.ArgumentParser:
    """A subcommand that takes `--data-dir` (from `common`) and, if `with_json`, `--json`."""
    parser: argparse.ArgumentParser = actions.add_parser(name, parents=[common], help=help_text)
    parser.set_defaults(handler=handler)
    if with_json:
        parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def emit(as_json: bool, record: dict[str, Any], text: str) -> None:
    print(json.dumps(record, ensure_ascii=False, indent=2) if as_json else text)


def fields(record: dict[str, Any], width: int) -> str:
    """`record` as lines of `name  value` ('-' for none), for `show` commands."""
    return "\n".join(f"{k:<{width}}{v if v is not None else '-'}" for k, v in record.items())


def columns(rows: Sequence[dict[str, Any]], names: Sequence[str], empty: str) -> str:
    """`rows` as an aligned table of the `names` columns, for `list` commands."""
    if not rows:
        return empty
    cells = [[str(row[n]) if row[n] is not None else "-" for n in names] for row in rows]
    widths = [max(len(n), *(len(line[i]) for line in cells)) for i, n in enumerate(names)]
    lines = [names, *cells]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                     for line in lines)  # fmt: skip


def operator() -> str:
    """Who runs this command, as the audit trail names an operator: login and machine."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no login name for this uid (a bare container)
        login = "unknown"
    return f"{login}@{socket.gethostname()}"


def admin_entry(
    event: str,
    *,
    org_id: str | None = None,
    job_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> audit.Entry:
    """An operator's action, as the audit trail records it: ids and small facts, no secret."""
    actor = audit.admin_actor(operator())
    return audit.Entry(event, actor, org_id=org_id, job_id=job_id, details=details or {})


async def record_change(session: AsyncSession, container: Container, entry: audit.Entry) -> None:
    """Record an operator's change in the transaction that makes it, as its last statement
    (the chain's lock is then held only until the commit): both happen, or neither."""
    await audit.record(session, container.db_clock, entry)


def record_alone(settings: Settings, entry: audit.Entry) -> None:
    """Record an action that changed files, not the database (the signing keys), in a
    transaction of its own, once the change is made; if this fails, the command fails saying
    so, though the change stays made."""

    async def append(container: Container, _: argparse.Namespace) -> int:
        async with container.sessions.begin() as session:
            await record_change(session, container, entry)
        return 0

    with_container(append)(settings, argparse.Namespace())
