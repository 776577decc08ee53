"""`client create|list|show|rotate-secret|revoke`: orgs' API clients and their secrets.

A secret is printed once, by the command that makes it (`create`, `rotate-secret`), and never
stored: only its Argon2id hash is.
"""

from __future__ import annotations

import argparse
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.audit import service as audit
from sqr_reports.audit.models import AuditEvent
from sqr_reports.auth import service as auth
from sqr_reports.auth.models import ApiClient, ClientStatus
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


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    actions = commands.add_parser("client", help="API clients").add_subparsers(required=True)

    def command(name: str, handler: Any, help_text: str, json: bool) -> argparse.ArgumentParser:
        return add_command(actions, name, with_container(handler), help_text,
                           common=common, with_json=json)  # fmt: skip

    create = command("create", _create, "register a client", True)
    create.add_argument("--org", required=True, dest="org_id")
    create.add_argument("--scopes", default=None, help='e.g. "read:reports write:reports"')
    listing = command("list", _list, "clients of one org (--org: id or name) or of all", True)
    listing.add_argument("--org", default=None, metavar="ORG")
    command("show", _show, "a client (never its secret)", True).add_argument("client_id")
    rotate = command("rotate-secret", _rotate, "a new secret, printed once; the old one stops "
                     "working at once", True)  # fmt: skip
    rotate.add_argument("client_id")
    command("revoke", _revoke, "revoke a client", False).add_argument("client_id")


def client_record(client: ApiClient) -> dict[str, Any]:
    """A client as the commands print it: never its secret or the secret's hash."""
    return {
        "client_id": client.client_id,
        "org_id": client.org_id,
        "status": client.status,
        "scopes": client.scopes,
        "created_at": isoformat_ms(client.created_at),
        "revoked_at": isoformat_ms(client.revoked_at) if client.revoked_at else None,
    }


async def _create(container: Container, args: argparse.Namespace) -> int:
    requested = args.scopes.split() if args.scopes is not None else None
    async with container.sessions.begin() as session:
        client, secret = await auth.create_client(
            session, args.org_id, requested, hasher=container.hasher, clock=container.db_clock
        )
        details = {"client_id": client.client_id, "scope": client.scopes}
        created = admin_entry(AuditEvent.CLIENT_CREATED, org_id=client.org_id, details=details)
        await record_change(session, container, created)
    record = {
        "client_id": client.client_id,
        "client_secret": secret,
        "org_id": client.org_id,
        "scopes": client.scopes,
    }
    emit(args.json, record, fields(record, 14) + "\n(the secret is shown only once)")
    return 0


async def _list(container: Container, args: argparse.Namespace) -> int:
    async with container.read_sessions() as session:
        org_id = (await orgs.find_org(session, args.org)).id if args.org is not None else None
        records = [client_record(c) for c in await auth.list_clients(session, org_id)]
    text = columns(records, ["client_id", "org_id", "status", "scopes"], "no clients")
    emit(args.json, {"clients": records}, text)
    return 0


async def _show(container: Container, args: argparse.Namespace) -> int:
    async with container.read_sessions() as session:
        record = client_record(await auth.get_client(session, args.client_id))
    emit(args.json, record, fields(record, 12))
    return 0


async def _rotate(container: Container, args: argparse.Namespace) -> int:
    async with container.sessions.begin() as session:
        secret = await auth.rotate_secret(session, container.hasher, args.client_id)
        entry = await _client_entry(session, AuditEvent.CLIENT_SECRET_ROTATED, args.client_id)
        await record_change(session, container, entry)
    record = {"client_id": args.client_id, "client_secret": secret}
    text = (f"{fields(record, 14)}\n(the secret is shown only once; the previous one no longer "
            "works; tokens issued with it stay valid until they expire: `client revoke` stops "
            "them)")  # fmt: skip
    emit(args.json, record, text)
    return 0


async def _revoke(container: Container, args: argparse.Namespace) -> int:
    async with container.sessions.begin() as session:
        already = (await auth.get_client(session, args.client_id)).status == ClientStatus.REVOKED
        client = await auth.revoke_client(session, container.db_clock, args.client_id)
        if not already:  # the trail records changes: a repeated command changed nothing
            entry = await _client_entry(session, AuditEvent.CLIENT_REVOKED, client.client_id)
            await record_change(session, container, entry)
    print(f"client {client.client_id} revoked")
    return 0


async def _client_entry(session: AsyncSession, event: str, client_id: str) -> audit.Entry:
    """An action on a client, under its org (so the org's export shows it); never a secret."""
    client = await auth.get_client(session, client_id)
    return admin_entry(event, org_id=client.org_id, details={"client_id": client.client_id})
