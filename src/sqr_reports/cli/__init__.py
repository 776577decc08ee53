"""`sqr-reports`: serve the API, and administer orgs, clients, keys, jobs and users.

A composition root. One module per reason to change: `serving` (serve, api, worker, migrate,
demo), `orgs`, `clients`, `policies`, `keys`, `jobs`, `users`, `webhooks`, `lifecycle` (org
retention, user erase), `audit`, and `fetch` (the SDK's); `command` is what they share.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from sqr_reports import __version__, logs
from sqr_reports.cli import (
    audit,
    clients,
    fetch,
    jobs,
    keys,
    orgs,
    policies,
    serving,
    users,
    webhooks,
)
from sqr_reports.cli.command import CommandError
from sqr_reports.config import Settings
from sqr_reports.errors import AppError
from sqr_reports.keyfiles import PRIVATE_UMASK

_MODULES = (serving, orgs, clients, policies, webhooks, users, keys, jobs, audit, fetch)
_DESCRIPTION = "serve the API, and administer orgs, clients, keys, jobs and users"


def main(argv: Sequence[str] | None = None) -> int:
    # Before anything is created: every file and directory this process or its children
    # (uvicorn's workers, render processes) make is private even if no code asked for it.
    os.umask(PRIVATE_UMASK)
    args = _parser().parse_args(argv)
    settings = Settings()
    if "data_dir" in args:
        settings.data_dir = args.data_dir
    logs.configure(settings.log_level, settings.log.format)
    try:
        result: int = args.handler(settings, args)
    except AppError as exc:
        return _failed(exc.message)
    except CommandError as exc:
        return _failed(str(exc))
    except OSError as exc:  # a key or data file that cannot be read or written
        return _failed(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
    except DBAPIError as exc:  # the database is down, or refused: say so, without a traceback
        return _failed(f"the database refused the command: {_first_line(exc.orig)}")
    return result


def _first_line(error: BaseException | None) -> str:
    """The driver's own message (never the statement or its parameters, which SQLAlchemy's
    message would add), on one line."""
    lines = str(error).strip().splitlines()
    return lines[0][:300] if lines else type(error).__name__


def _failed(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir", type=Path, default=argparse.SUPPRESS,
        help="data directory (default: $SQR_REPORTS_DATA_DIR or ./data)",
    )  # fmt: skip
    # SUPPRESS: a subcommand's parser must not overwrite a --data-dir given before it.
    parser = argparse.ArgumentParser(prog="sqr-reports", description=_DESCRIPTION, parents=[common])
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    for module in _MODULES:
        module.add_commands(commands, common)
    return parser
