"""`keys list|rotate|retire`: the RS256 keys that sign and verify access tokens.

In the embedded mode the keys are files in `<data_dir>/keys` (`auth.key_directory`), and
running processes follow changes within a second. With `SQR_REPORTS_AUTH__PRIVATE_KEY_FILES`
(scale-out) the keys are the operator's files, read at start: these commands list them and
make a new one, and the operator rolls it out (README, "Rotating the signing key").
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqr_reports.audit.models import AuditEvent
from sqr_reports.auth.key_directory import (
    PUBLISH_AHEAD_SECONDS,
    RETIRE_MARGIN_SECONDS,
    KeyDirectory,
    KeyState,
)
from sqr_reports.auth.keys import KeyRing, load_pem, new_pem
from sqr_reports.cli.command import (
    CommandError,
    Commands,
    add_command,
    admin_entry,
    columns,
    emit,
    fields,
    record_alone,
)
from sqr_reports.clock import isoformat_ms
from sqr_reports.config import Settings
from sqr_reports.keyfiles import write_private_file

_LISTED = ["kid", "role", "signs_from", "retirable_at", "file"]


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    actions = commands.add_parser("keys", help="token signing keys").add_subparsers(required=True)
    add_command(actions, "list", _list, "the signing keys and what each does now",
                common=common, with_json=True)  # fmt: skip
    rotate = add_command(actions, "rotate", _rotate, "a new signing key; the old one verifies on",
                         common=common, with_json=True)  # fmt: skip
    rotate.add_argument("--signs-in", type=float, default=PUBLISH_AHEAD_SECONDS, metavar="S",
                        help="seconds it is published before it signs (default: the JWKS's "
                        f"cache lifetime, {PUBLISH_AHEAD_SECONDS})")  # fmt: skip
    rotate.add_argument("--out", type=Path, default=None,
                        help="with PRIVATE_KEY_FILES: where to write the new key")  # fmt: skip
    retire = add_command(actions, "retire", _retire, "stop publishing and accepting a key",
                         common=common, with_json=True)  # fmt: skip
    retire.add_argument(
        "key", metavar="KEY",
        help="its kid, or its file name (as listed); put -- before a kid that begins with -",
    )  # fmt: skip
    retire.add_argument(
        "--force",
        action="store_true",
        help="even while tokens it signed may be live (they stop working)",
    )


def _lifetime(settings: Settings) -> float:
    """How long a token may be accepted after it was signed."""
    return settings.auth.token_ttl_seconds + settings.auth.clock_leeway_seconds


def _when(seconds: float | None) -> str | None:
    return isoformat_ms(datetime.fromtimestamp(seconds, UTC)) if seconds else None


def _state_record(state: KeyState) -> dict[str, Any]:
    return {
        "kid": state.kid,
        "role": state.role,
        "signs_from": _when(state.key.since),
        "retirable_at": _when(state.retirable_at),
        "file": str(state.key.path),
    }


def _list(settings: Settings, args: argparse.Namespace) -> int:
    configured = settings.auth.private_key_files
    if configured:
        keys = zip(KeyRing.from_pem_files(configured).keys, configured, strict=True)
        records = [{"kid": key.kid, "role": "signing" if i == 0 else "previous",
                    "signs_from": None, "retirable_at": None, "file": str(path)}
                   for i, (key, path) in enumerate(keys)]  # fmt: skip
    else:
        directory = KeyDirectory(settings.data_dir / "keys")
        states = directory.states(now=time.time(), token_lifetime=_lifetime(settings))
        records = [_state_record(state) for state in states]
    source = "settings" if configured else "data_dir"
    emit(args.json, {"source": source, "keys": records}, columns(records, _LISTED, "no keys yet"))
    return 0


def _rotate(settings: Settings, args: argparse.Namespace) -> int:
    if args.signs_in < 0:
        raise CommandError("--signs-in must be 0 or more seconds")
    if settings.auth.private_key_files:
        return _rotate_configured(settings, args)
    if args.out is not None:
        raise CommandError("--out is for keys listed in SQR_REPORTS_AUTH__PRIVATE_KEY_FILES; "
                           "the data directory's keys are rotated in place")  # fmt: skip
    made = KeyDirectory(settings.data_dir / "keys").rotate(now=time.time(), signs_in=args.signs_in)
    kid = made.load().kid
    record_alone(settings, admin_entry(AuditEvent.KEY_ROTATED, details={"kid": kid}))
    retirable = made.since + _lifetime(settings) + RETIRE_MARGIN_SECONDS
    record = {"kid": kid, "file": str(made.path), "signs_from": _when(made.since),
              "previous_keys_retirable_at": _when(retirable)}  # fmt: skip
    text = (
        f"{fields(record, 28)}\nPublished now; it signs from {record['signs_from']}. Retire "
        "the previous key after that time with `sqr-reports keys retire KEY` (`keys list`)"
    )
    emit(args.json, record, text)
    return 0


def _rotate_configured(settings: Settings, args: argparse.Namespace) -> int:
    """The operator's files: write the new key where they say; they roll it out."""
    if args.out is None:
        raise CommandError("keys come from SQR_REPORTS_AUTH__PRIVATE_KEY_FILES: give --out FILE "
                           "for the new key, then roll it out as the README says")  # fmt: skip
    if args.out.exists():
        raise CommandError(f"{args.out} exists already; choose a new file")
    pem = new_pem()
    write_private_file(args.out, pem)
    kid = load_pem(pem).kid
    # Made, not yet in use: the operator rolls it out; the record says who made which key.
    record_alone(settings, admin_entry(AuditEvent.KEY_ROTATED,
                                       details={"kid": kid, "rollout": "operator"}))  # fmt: skip
    record = {"kid": kid, "file": str(args.out)}
    text = (
        f"{fields(record, 6)}\nNow add it LAST to SQR_REPORTS_AUTH__PRIVATE_KEY_FILES and roll "
        "out (published, not signing); then move it FIRST and roll out again (it signs); "
        "remove the old key once the tokens it signed have expired."
    )
    emit(args.json, record, text)
    return 0


def _retire(settings: Settings, args: argparse.Namespace) -> int:
    if settings.auth.private_key_files:
        raise CommandError(
            "keys come from SQR_REPORTS_AUTH__PRIVATE_KEY_FILES: remove the file from that "
            "list and roll out, once the tokens it signed have expired"
        )
    directory = KeyDirectory(settings.data_dir / "keys")
    state = directory.retire(args.key, now=time.time(), token_lifetime=_lifetime(settings),
                             force=args.force)  # fmt: skip
    details = {"kid": state.kid, "forced": int(args.force)}
    record_alone(settings, admin_entry(AuditEvent.KEY_RETIRED, details=details))
    record = {"kid": state.kid, "file": str(state.key.path), "retired": True}
    emit(args.json, record, f"key {state.kid} retired ({state.key.path.name} deleted); running "
         "processes stop publishing and accepting it within a second")  # fmt: skip
    return 0
