"""`org retention` and `user erase`: how long an org's reports are kept, and the right to
erasure (ADR 0021). Both are recorded in the audit trail, naming the operator.
"""

from __future__ import annotations

import argparse

from sqr_reports.cli.command import Commands, add_command, emit, operator, with_container
from sqr_reports.container import Container
from sqr_reports.lifecycle import service as lifecycle
from sqr_reports.orgs import service as orgs
from sqr_reports.queue.store import SqlQueue
from sqr_reports.queue.worker import Worker


def add_org_commands(actions: Commands, common: argparse.ArgumentParser) -> None:
    """`org retention ORG DAYS|default`, added to `org`'s subcommands."""
    retention = add_command(
        actions,
        "retention",
        with_container(_retention),
        "how many days the org's reports are kept (or its default again)",
        common=common,
        with_json=True,
    )
    retention.add_argument("org", metavar="ORG", help="the org's id or name")
    retention.add_argument("days", metavar="DAYS|default", type=_days)


def add_user_commands(actions: Commands, common: argparse.ArgumentParser) -> None:
    """`user erase USER_ID [--org ORG]`, added to `user`'s subcommands."""
    erase = add_command(
        actions,
        "erase",
        with_container(_erase),
        "erase a user: their data, and every report about them",
        common=common,
        with_json=True,
    )
    erase.add_argument("user_id", metavar="USER_ID")
    erase.add_argument(
        "--org",
        default=None,
        metavar="ORG",
        help="only the user's connection to this org, and its reports about them",
    )


def _days(text: str) -> int | None:
    if text == "default":
        return None
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("a number of days, or 'default'") from None
    if not 1 <= days <= 3650:
        raise argparse.ArgumentTypeError("must be 1 to 3650 days, or 'default'")
    return days


async def _retention(container: Container, args: argparse.Namespace) -> int:
    retention = container.retention
    async with container.sessions.begin() as session:
        org = await orgs.find_org(session, args.org)
        rescheduled = await lifecycle.set_retention(
            session,
            org.id,
            args.days,
            operator=operator(),
            clock=container.db_clock,
            retention=retention,
        )
    days = args.days or retention.report_days
    record = {
        "org_id": org.id,
        "retention_days": days,
        "own": args.days is not None,
        "rescheduled_reports": rescheduled,
    }
    whose = "its own" if args.days is not None else "the deployment's default"
    text = (
        f"org {org.id} ({org.name}) keeps reports {days} day(s) after they end ({whose}); "
        f"{rescheduled} report(s) rescheduled, deleted by the workers when due"
    )
    emit(args.json, record, text)
    return 0


async def _erase(container: Container, args: argparse.Namespace) -> int:
    async with container.sessions.begin() as session:
        org_id = (await orgs.find_org(session, args.org)).id if args.org is not None else None
        erasure = await lifecycle.erase_user(
            session,
            args.user_id,
            org_id=org_id,
            operator=operator(),
            clock=container.db_clock,
            retention=container.retention,
        )
    purged = await _purge_now(container)
    record = {
        "user_id": args.user_id,
        "org_id": org_id,
        "reports": erasure.reports,
        "connections": erasure.connections,
        "profile_erased": erasure.profile,
        "pdf_purges_run": purged,
    }
    text = (
        f"user {args.user_id}: {erasure.reports} report(s) deleted, "
        f"{erasure.connections} connection(s) and "
        f"{'the profile' if erasure.profile else 'no profile'} erased; "
        f"{purged} report(s)' PDFs deleted now (the rest by the workers, when due)"
    )
    emit(args.json, record, text)
    return 0


async def _purge_now(container: Container) -> int:
    """Run the purges that are due here and now, through the queue as a worker would (a
    worker elsewhere may take some: each runs once). A PDF of a job that was rendering is
    purged later, by the workers, once that attempt cannot be writing any more."""
    work = container.new_purge_work()
    queue = SqlQueue(container.sessions, container.db_clock)
    worker = Worker(
        queue=queue,
        works=[work],
        wakeup=container.wakeup,
        poll_seconds=1.0,
        shutdown_grace_seconds=0.0,
    )
    done = 0
    while (claim := await queue.claim(work, worker.owner)) is not None:
        await worker.process(work, claim)
        done += 1
    return done
