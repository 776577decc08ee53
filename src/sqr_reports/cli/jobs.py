"""`jobs list|show|retry`: report jobs across orgs, as an operator sees them.

What is printed of a job stops at the user's id: no personal field of the report.
"""

from __future__ import annotations

import argparse
from typing import Any

from sqr_reports.audit.models import AuditEvent
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
from sqr_reports.container import Container
from sqr_reports.orgs import service as orgs
from sqr_reports.reports import admin
from sqr_reports.reports.models import JobStatus

_LISTED = ["created_at", "id", "org_id", "status", "attempts", "error_code", "user_id"]


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    actions = commands.add_parser("jobs", help="report jobs").add_subparsers(required=True)

    def command(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        return add_command(actions, name, with_container(handler), help_text,
                           common=common, with_json=True)  # fmt: skip

    listing = command("list", _list, "jobs, newest first, of one org (--org) or of all")
    listing.add_argument("--org", default=None, metavar="ORG", help="an org's id or name")
    listing.add_argument("--status", type=JobStatus, choices=list(JobStatus), default=None)
    listing.add_argument("--limit", type=_limit, default=20, help="at most this many (1-1000)")
    command("show", _show, "a job's state and outcome").add_argument("job_id")
    retry = command("retry", _retry, "put a FAILED job back in the queue with fresh attempts")
    retry.add_argument("job_id")


def _limit(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError("must be 1 to 1000")
    return value


async def _list(container: Container, args: argparse.Namespace) -> int:
    async with container.read_sessions() as session:
        org_id = (await orgs.find_org(session, args.org)).id if args.org is not None else None
        jobs = await admin.list_jobs(session, org_id=org_id, status=args.status, limit=args.limit)
        records = [admin.describe(job) for job in jobs]
    rows = [{**r, "attempts": f"{r['attempts']}/{r['max_attempts']}"} for r in records]
    emit(args.json, {"jobs": records}, columns(rows, _LISTED, "no jobs"))
    return 0


async def _show(container: Container, args: argparse.Namespace) -> int:
    async with container.read_sessions() as session:
        record = admin.describe(await admin.get_job(session, args.job_id))
    emit(args.json, record, fields(record, 18))
    return 0


async def _retry(container: Container, args: argparse.Namespace) -> int:
    budget = container.settings.worker.max_attempts
    async with container.sessions.begin() as session:
        job = await admin.retry_job(session, args.job_id, attempts=budget,
                                    clock=container.db_clock)  # fmt: skip
        retried = admin_entry(AuditEvent.JOB_RETRIED, org_id=job.org_id, job_id=job.id,
                              details={"attempts": budget})  # fmt: skip
        await record_change(session, container, retried)
        described = admin.describe(job)
    text = f"job {job.id} is PENDING again, with {budget} more attempt(s)"
    emit(args.json, described, text)
    return 0
