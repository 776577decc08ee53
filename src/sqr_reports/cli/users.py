"""`user import`: SQR users (data subjects) and their connections, from JSON Lines."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqr_reports.audit.models import AuditEvent
from sqr_reports.cli import lifecycle
from sqr_reports.cli.command import (
    Commands,
    add_command,
    admin_entry,
    record_change,
    with_container,
)
from sqr_reports.container import Container
from sqr_reports.users.service import import_users


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    actions = commands.add_parser("user", help="SQR users").add_subparsers(required=True)
    import_ = add_command(actions, "import", with_container(_import),
                          "import users (JSON Lines)", common=common, with_json=False)  # fmt: skip
    import_.add_argument("file", type=Path)
    lifecycle.add_user_commands(actions, common)


async def _import(container: Container, args: argparse.Namespace) -> int:
    try:
        lines = args.file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {args.file}: {exc}", file=sys.stderr)
        return 1
    async with container.sessions.begin() as session:
        result = await import_users(session, container.db_clock, lines)
        # One record per import, with counts: the users' ids are personal data, and the
        # trail outlives an erasure.
        details = {"file": args.file.name, "imported": result.imported,
                   "rejected": len(result.errors)}  # fmt: skip
        await record_change(
            session, container, admin_entry(AuditEvent.USERS_IMPORTED, details=details)
        )
    for number, reason in result.errors:
        print(f"line {number}: {reason}", file=sys.stderr)
    print(f"imported {result.imported} user(s), rejected {len(result.errors)} line(s)")
    return 1 if result.errors else 0
