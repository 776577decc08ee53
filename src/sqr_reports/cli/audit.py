"""`audit export|verify`: the audit trail as JSON Lines, and the proof that it is intact
(ADR 0021). Downloads through S3 presigned URLs never reach the service: S3 server access
logs or CloudTrail data events are the record of those.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.audit import service as audit
from sqr_reports.cli.command import Commands, add_command, emit, with_container
from sqr_reports.container import Container
from sqr_reports.errors import NotFound
from sqr_reports.orgs import service as orgs


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    actions = commands.add_parser("audit", help="the audit trail").add_subparsers(required=True)
    export = add_command(
        actions,
        "export",
        with_container(_export),
        "records in time order, as JSON Lines on stdout",
        common=common,
        with_json=False,
    )
    export.add_argument("--org", default=None, metavar="ORG", help="one org's (id or name)")
    export.add_argument("--since", type=_time, default=None, metavar="T", help="from T (ISO 8601)")
    export.add_argument("--until", type=_time, default=None, metavar="T", help="before T")
    add_command(
        actions,
        "verify",
        with_container(_verify),
        "walk the hash chain; exit 1 naming the first record that does not hold",
        common=common,
        with_json=True,
    )


def _time(text: str) -> datetime:
    """An ISO 8601 date or time; without a zone, UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("an ISO 8601 date or time, e.g. 2026-12-01") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def _export(container: Container, args: argparse.Namespace) -> int:
    async with container.read_sessions() as session:
        org_id = await _org_id(session, args.org) if args.org is not None else None
        records = audit.export(session, org_id=org_id, since=args.since, until=args.until)
        async for record in records:
            sys.stdout.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
    sys.stdout.flush()
    return 0


async def _org_id(session: AsyncSession, reference: str) -> str:
    """The org's id, named by id or name; an id no org has any more is still an id to look
    for (records outlive what they are about)."""
    try:
        return (await orgs.find_org(session, reference)).id
    except NotFound:
        return reference


async def _verify(container: Container, args: argparse.Namespace) -> int:
    async with container.read_sessions() as session:
        result = await audit.verify(session)
    broken = result.broken
    record = {
        "ok": result.ok,
        "checked": result.checked,
        "last_seq": result.last_seq,
        "broken_seq": broken.seq if broken else None,
        "reason": broken.reason if broken else None,
    }
    if broken is None:
        text = f"audit chain intact: {result.checked} record(s) checked, up to {result.last_seq}"
    else:
        text = f"audit chain BROKEN at record {broken.seq}: {broken.reason}"
    emit(args.json, record, text)
    return 0 if broken is None else 1
