"""`fetch`: an API client's round trip, which lives in the Python SDK (`sqr_reports_client`)."""

from __future__ import annotations

import argparse
import sys

from sqr_reports.cli.command import Commands
from sqr_reports.config import Settings


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    # Every word after `fetch` (`--help` too) goes to the SDK's own parser, so this one
    # recognises no options (no prefix character a command line can contain).
    fetch = commands.add_parser(
        "fetch", add_help=False, prefix_chars="\0",
        help="create one report, wait for it, download and verify it (needs the Python SDK)",
    )  # fmt: skip
    fetch.add_argument("argv", nargs="*")
    fetch.set_defaults(handler=_fetch)


def _fetch(settings: Settings, args: argparse.Namespace) -> int:
    """A separate distribution, imported only here, so that every other command works
    without it."""
    try:
        from sqr_reports_client import fetch
    except ImportError:
        print("error: `sqr-reports fetch` needs the Python SDK: pip install sqr-reports-client "
              "(from this repository: pip install ./clients/python)", file=sys.stderr)  # fmt: skip
        return 2
    return fetch.main(args.argv, prog="sqr-reports fetch")
