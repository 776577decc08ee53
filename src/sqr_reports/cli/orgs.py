"""`org create|list|show|suspend|resume`: the orgs (relying parties) and their state.

ORG is an org's id or its name (unique, ignoring case: migration 0006).
"""

from __future__ import annotations

import argparse
from typing import Any

from sqr_reports.audit.models import AuditEvent
from sqr_reports.auth import service as auth
from sqr_reports.cli import lifecycle
from sqr_reports.cli.clients import client_record
from sqr_reports.cli.command import (
    Commands,
    add_command,
    admin_entry,
    columns,
    emit,
    fields,
    record_change,
    with_container,
)
from sqr_reports.clock import isoformat_ms
from sqr_reports.container import Container
from sqr_reports.orgs import service as orgs
from sqr_reports.orgs.models import Org, OrgStatus


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    actions = commands.add_parser("org", help="organisations").add_subparsers(required=True)

    def command(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        return add_command(actions, name, with_container(handler), help_text,
                           common=common, with_json=True)  # fmt: skip

    command("create", _create, "register an org (its name must be new)").add_argument("name")
    command("list", _list, "every org, oldest first")
    command("show", _show, "an org and its clients").add_argument("org", metavar="ORG")
    suspend = command("suspend", _suspend, "refuse the org's tokens and calls from the next call")
    suspend.add_argument("org", metavar="ORG")
    command("resume", _resume, "let a suspended org call again").add_argument("org", metavar="ORG")
    lifecycle.add_org_commands(actions, common)


def org_record(org: Org) -> dict[str, Any]:
    return {
        "org_id": org.id,
        "name": org.name,
        "status": org.status,
        "created_at": isoformat_ms(org.created_at),
    }


async def _create(container: Container, args: argparse.Namespace) -> int:
    async with container.sessions.begin() as session:
        org = await orgs.create_org(session, container.db_clock, args.name)
        await record_change(session, container, admin_entry(AuditEvent.ORG_CREATED, org_id=org.id))
    emit(args.json, {"org_id": org.id, "name": org.name}, f"org_id {org.id}")
    return 0


async def _list(container: Container, args: argparse.Namespace) -> int:
    async with container.read_sessions() as session:
        records = [org_record(org) for org in await orgs.list_orgs(session)]
    text = columns(records, ["org_id", "status", "created_at", "name"], "no orgs")
    emit(args.json, {"orgs": records}, text)
    return 0


async def _show(container: Container, args: argparse.Namespace) -> int:
    async with container.read_sessions() as session:
        org = await orgs.find_org(session, args.org)
        clients = [client_record(c) for c in await auth.list_clients(session, org.id)]
    listed = columns(clients, ["client_id", "status", "scopes"], "(no clients)")
    emit(args.json, {**org_record(org), "clients": clients}, f"{fields(org_record(org), 12)}\n"
         f"clients\n{listed}")  # fmt: skip
    return 0


async def _suspend(container: Container, args: argparse.Namespace) -> int:
    return await _set_status(container, args, OrgStatus.SUSPENDED)


async def _resume(container: Container, args: argparse.Namespace) -> int:
    return await _set_status(container, args, OrgStatus.ACTIVE)


_STATUS_EVENTS = {
    OrgStatus.SUSPENDED: AuditEvent.ORG_SUSPENDED,
    OrgStatus.ACTIVE: AuditEvent.ORG_RESUMED,
}


async def _set_status(container: Container, args: argparse.Namespace, status: OrgStatus) -> int:
    async with container.sessions.begin() as session:
        org, changed = await orgs.set_status(session, args.org, status)
        if changed:  # the trail records changes: a repeated command changed nothing
            await record_change(
                session, container, admin_entry(_STATUS_EVENTS[status], org_id=org.id)
            )
    word = "suspended" if status == OrgStatus.SUSPENDED else "active"
    text = f"org {org.id} ({org.name}) {'is now' if changed else 'was already'} {word}"
    if changed and status == OrgStatus.SUSPENDED:
        text += ": its clients get no tokens, and its tokens are refused from their next call"
    emit(args.json, {**org_record(org), "changed": changed}, text)
    return 0
