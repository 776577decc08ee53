"""`policy show|set`: each org's verdict policy, versioned."""

from __future__ import annotations

import argparse

from sqr_reports.audit.models import AuditEvent
from sqr_reports.cli.command import (
    Commands,
    add_command,
    admin_entry,
    emit,
    fields,
    record_change,
    with_container,
)
from sqr_reports.container import Container
from sqr_reports.errors import NotFound
from sqr_reports.orgs import repository as orgs
from sqr_reports.policies import service as policies

#: `policy set`'s options: each policy field with the type its value parses to, and its help.
_POLICY_OPTIONS: dict[str, tuple[type, str]] = {
    "liveness_threshold": (float, "selfie liveness score that passes (0-100)"),
    "face_match_threshold": (float, "face-match score that passes (0-100)"),
    "refer_floor": (float, "scores from here up to a threshold are referred, below fail (0-100)"),
    "max_verification_age_days": (int, "days a verification stays current before it is referred"),
    "minimum_age": (int, "youngest age the org onboards"),
    "minor_outcome": (str, "what a subject under the minimum age gets"),
}


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    actions = commands.add_parser("policy", help="verdict policies").add_subparsers(required=True)
    show = add_command(actions, "show", with_container(_show), "an org's verdict policy",
                       common=common, with_json=False)  # fmt: skip
    show.add_argument("--org", required=True, dest="org_id")
    show.add_argument("--json", action="store_true")
    set_ = add_command(actions, "set", with_container(_set),
                       "set an org's verdict policy (a new version)", common=common,
                       with_json=False)  # fmt: skip
    set_.add_argument("--org", required=True, dest="org_id")
    for name, (kind, help_text) in _POLICY_OPTIONS.items():
        choices = ("REFER", "FAIL") if name == "minor_outcome" else None
        set_.add_argument(
            "--" + name.replace("_", "-"), dest=name, type=kind, choices=choices, help=help_text
        )
    set_.add_argument("--json", action="store_true")


async def _show(container: Container, args: argparse.Namespace) -> int:
    async with container.read_sessions() as session:
        if await orgs.get(session, args.org_id) is None:
            raise NotFound(f"No org with id {args.org_id}")
        applied = await policies.current(session, args.org_id, container.settings.verdict)
    _emit_policy(args, applied)
    return 0


async def _set(container: Container, args: argparse.Namespace) -> int:
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
        if changed:  # an unchanged policy adds no version, and no record
            details = {"version": applied.version, "options": " ".join(sorted(changes))}
            entry = admin_entry(AuditEvent.POLICY_SET, org_id=args.org_id, details=details)
            await record_change(session, container, entry)
    if not changed and not args.json:
        print("unchanged: the policy already has these values")
    _emit_policy(args, applied)
    return 0


def _emit_policy(args: argparse.Namespace, applied: policies.AppliedPolicy) -> None:
    record = {"org_id": args.org_id, **policies.describe(applied)}
    emit(args.json, record, fields(record, 27))
