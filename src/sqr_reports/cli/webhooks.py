"""`webhook set|show|disable|enable|rotate-secret|deliveries|redeliver`: each org's endpoint."""

from __future__ import annotations

import argparse
from urllib.parse import urlsplit

from sqr_reports.audit.models import AuditEvent
from sqr_reports.cli.command import (
    Command,
    Commands,
    add_command,
    admin_entry,
    emit,
    record_change,
    with_container,
)
from sqr_reports.container import Container
from sqr_reports.webhooks import service as webhooks


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    webhook = commands.add_parser("webhook", help="each org's webhook endpoint and deliveries")
    actions = webhook.add_subparsers(required=True)

    def command(name: str, handler: Command, help_text: str) -> argparse.ArgumentParser:
        return add_command(actions, name, with_container(handler), help_text,
                           common=common, with_json=False)  # fmt: skip

    def for_org(name: str, handler: Command, help_text: str) -> argparse.ArgumentParser:
        parser = command(name, handler, help_text)
        parser.add_argument("--org", required=True, dest="org_id")
        return parser

    set_ = for_org("set", _set, "register or replace the endpoint; prints a new secret")
    set_.add_argument("--url", required=True, help="https:// URL of the org's receiver")
    set_.add_argument("--json", action="store_true")
    for_org("show", _show, "the org's endpoint (never its secret)").add_argument(
        "--json", action="store_true"
    )
    disable = for_org("disable", _disable, "stop delivering to the endpoint")
    disable.add_argument("--reason", default=webhooks.DISABLED_BY_OPERATOR)
    for_org("enable", _enable, "deliver to the endpoint again")
    rotate = for_org("rotate-secret", _rotate, "a new secret; the old one signs on a while")
    rotate.add_argument("--json", action="store_true")
    deliveries = for_org("deliveries", _deliveries, "recent deliveries and attempts")
    deliveries.add_argument("--limit", type=int, default=20)
    deliveries.add_argument("--json", action="store_true")
    redeliver = command("redeliver", _redeliver, "deliver an event again, now")
    redeliver.add_argument("event_id")


async def _set(container: Container, args: argparse.Namespace) -> int:
    async with container.sessions.begin() as session:
        endpoint, secret = await webhooks.set_endpoint(
            session,
            args.org_id,
            args.url,
            clock=container.db_clock,
            settings=container.settings.webhooks,
        )
        # The host only: a receiver's URL may carry a token of its own in its path or query.
        details = {"host": urlsplit(endpoint.url).hostname or ""}
        entry = admin_entry(AuditEvent.WEBHOOK_SET, org_id=endpoint.org_id, details=details)
        await record_change(session, container, entry)
    printed = {"org_id": endpoint.org_id, "url": endpoint.url, "secret": secret}
    text = "\n".join(f"{k:<8}{v}" for k, v in printed.items())
    emit(args.json, printed, text + "\n(the secret is shown only once)")
    return 0


async def _show(container: Container, args: argparse.Namespace) -> int:
    async with container.read_sessions() as session:
        endpoint = await webhooks.get_endpoint(session, args.org_id)
    record = webhooks.describe_endpoint(endpoint)
    text = "\n".join(f"{k:<29}{v if v is not None else '-'}" for k, v in record.items())
    emit(args.json, record, text)
    return 0


async def _disable(container: Container, args: argparse.Namespace) -> int:
    async with container.sessions.begin() as session:
        await webhooks.disable(session, args.org_id, args.reason, clock=container.db_clock)
        entry = admin_entry(AuditEvent.WEBHOOK_DISABLED, org_id=args.org_id)
        await record_change(session, container, entry)
    print(f"webhook endpoint of org {args.org_id} disabled")
    return 0


async def _enable(container: Container, args: argparse.Namespace) -> int:
    async with container.sessions.begin() as session:
        await webhooks.enable(session, args.org_id, clock=container.db_clock)
        entry = admin_entry(AuditEvent.WEBHOOK_ENABLED, org_id=args.org_id)
        await record_change(session, container, entry)
    print(f"webhook endpoint of org {args.org_id} enabled")
    return 0


async def _rotate(container: Container, args: argparse.Namespace) -> int:
    settings = container.settings.webhooks
    async with container.sessions.begin() as session:
        secret = await webhooks.rotate_secret(
            session, args.org_id, clock=container.db_clock, settings=settings
        )
        entry = admin_entry(AuditEvent.WEBHOOK_SECRET_ROTATED, org_id=args.org_id)
        await record_change(session, container, entry)
    hours = f"{settings.secret_overlap_hours:g}"
    record = {"org_id": args.org_id, "secret": secret, "previous_secret_valid_hours": hours}
    text = f"secret  {secret}\n(shown only once; the previous secret also signs for {hours} h)"
    emit(args.json, record, text)
    return 0


async def _deliveries(container: Container, args: argparse.Namespace) -> int:
    async with container.read_sessions() as session:
        records = await webhooks.list_deliveries(session, args.org_id, args.limit)
    described = [webhooks.describe_delivery(record) for record in records]
    lines = [
        f"{d['created_at']}  {d['event_id']}  {d['event_type']:<16} {d['status']:<10} "
        f"attempts {len(d['attempts'])}  {d['last_error'] or ''}".rstrip()
        for d in described
    ]
    emit(args.json, {"org_id": args.org_id, "deliveries": described}, "\n".join(lines))
    return 0


async def _redeliver(container: Container, args: argparse.Namespace) -> int:
    async with container.sessions.begin() as session:
        queued = await webhooks.redeliver(
            session,
            args.event_id,
            org_id=None,
            clock=container.db_clock,
            settings=container.settings.webhooks,
        )
        details = {"event_id": args.event_id, "delivery_id": queued.delivery.id}
        entry = admin_entry(AuditEvent.WEBHOOK_REDELIVERED, org_id=queued.delivery.org_id,
                            details=details)  # fmt: skip
        await record_change(session, container, entry)
    print(f"event {args.event_id} queued for delivery (delivery {queued.delivery.id})")
    return 0
