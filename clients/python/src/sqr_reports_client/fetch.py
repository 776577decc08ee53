"""`sqr-reports fetch USER_ID -o report.pdf`: one report, from request to a verified file.

Creates the job, waits for it (status changes on stderr), downloads the PDF, checks its
SHA-256 and prints where it is. The output path never holds a partial or stale report: an
existing file there is removed before anything else, and the new one only appears, whole and
verified, at the end. The same command is installed as `sqr-reports-fetch` with this package,
and `sqr-reports fetch` (the service's command line) delegates to `main` here.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from sqr_reports_client._config import (
    CLIENT_ID_VARIABLE,
    CLIENT_SECRET_VARIABLE,
    DEFAULT_URL,
    URL_VARIABLE,
    environment_value,
)
from sqr_reports_client._progress import Progress
from sqr_reports_client.client import Client
from sqr_reports_client.errors import ConfigurationError, SqrReportsError, WaitTimeout
from sqr_reports_client.models import Job, JobStatus

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_USAGE = 2
EXIT_ERROR = 3
EXIT_TIMEOUT = 4
EXIT_INTERRUPTED = 130
DEFAULT_TIMEOUT_SECONDS = 600.0

_EPILOG = f"""\
credentials: ${URL_VARIABLE} (default {DEFAULT_URL}), ${CLIENT_ID_VARIABLE} and
${CLIENT_SECRET_VARIABLE}, or --url, --client-id and --client-secret-file; without any secret,
it is asked for at the terminal (never echoed). The secret is never taken as an argument, where
other users and the shell history would see it.

exit status: 0 the report is saved and verified; 1 the job FAILED (its errorCode is printed);
2 usage or missing credentials; 3 an API, network or verification error; 4 --timeout passed;
130 interrupted. On any failure nothing is left at the output path."""


def main(argv: Sequence[str] | None = None, *, prog: str = "sqr-reports-fetch") -> int:
    args = _parser(prog).parse_args(argv)
    try:
        _remove_stale(args.output)
        url, client_id, secret = _credentials(args)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # httpx logs each request's URL at INFO: a download URL is a credential until it expires.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    progress = Progress(sys.stderr, enabled=not args.quiet)
    key = args.idempotency_key or str(uuid.uuid4())
    try:
        with Client(url, client_id, secret) as client:
            return _fetch(client, args, key, progress)
    except WaitTimeout as exc:
        progress.close()
        print(f"error: {exc}; to wait for this same job, run again with "
              f"--idempotency-key {key}", file=sys.stderr)  # fmt: skip
        return EXIT_TIMEOUT
    except (SqrReportsError, OSError) as exc:
        progress.close()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        progress.close()
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def console_main() -> None:
    """The `sqr-reports-fetch` console script."""
    sys.exit(main())


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Create an identity report for USER_ID, wait for it, download and verify it.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("user_id", metavar="USER_ID", help="the SQR user id, e.g. US7K2M9Q4X8B1N5C")
    parser.add_argument("-o", "--output", type=Path, required=True, help="where to save the PDF")
    parser.add_argument("--url", help=f"the service's base URL (default ${URL_VARIABLE})")
    parser.add_argument("--client-id", help=f"the API client id (default ${CLIENT_ID_VARIABLE})")
    parser.add_argument(
        "--client-secret-file", type=Path, help="read the client secret from this file ('-': stdin)"
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS,
        help=f"seconds to wait for the report (default {DEFAULT_TIMEOUT_SECONDS:g})",
    )  # fmt: skip
    parser.add_argument(
        "--idempotency-key", help="repeat a fetch without a second job (default: a random key)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    return parser


def _remove_stale(output: Path) -> None:
    """Clear the output path first: whatever happens next, an old report must not be mistaken
    for this one."""
    if output.is_dir():
        raise ConfigurationError(f"{output} is a directory; name the file to write")
    if not output.parent.is_dir():
        raise ConfigurationError(f"the directory {output.parent} does not exist")
    output.unlink(missing_ok=True)


def _credentials(args: argparse.Namespace) -> tuple[str, str, str]:
    url = args.url or environment_value(URL_VARIABLE) or DEFAULT_URL
    client_id = args.client_id or environment_value(CLIENT_ID_VARIABLE)
    if not client_id:
        raise ConfigurationError(f"set {CLIENT_ID_VARIABLE} or pass --client-id")
    return url, client_id, _secret(args.client_secret_file)


def _secret(path: Path | None) -> str:
    if path is not None:
        try:
            text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"cannot read the client secret file: {exc}") from None
        secret = text.strip()
    elif environment_value(CLIENT_SECRET_VARIABLE):
        secret = environment_value(CLIENT_SECRET_VARIABLE)
    elif sys.stdin.isatty():
        secret = getpass.getpass("client secret: ").strip()
    else:
        secret = ""
    if not secret:
        raise ConfigurationError(
            f"no client secret: set {CLIENT_SECRET_VARIABLE} or pass --client-secret-file"
        )
    return secret


def _fetch(client: Client, args: argparse.Namespace, key: str, progress: Progress) -> int:
    deadline = time.monotonic() + args.timeout
    job = client.create(args.user_id, idempotency_key=key)
    progress.update(job)
    remaining = max(0.0, deadline - time.monotonic())
    job = client.wait(job.job_id, timeout=remaining, on_progress=progress.update)
    progress.close()
    if job.status == JobStatus.FAILED:
        code = job.error_code.value if job.error_code else "no error code"
        print(f"error: report job {job.job_id} FAILED: {code}: {job.error_message or ''}",
              file=sys.stderr)  # fmt: skip
        return EXIT_JOB_FAILED
    path = client.download(job, args.output)
    _print_result(path, job, as_json=args.json)
    return EXIT_OK


def _print_result(path: Path, job: Job, *, as_json: bool) -> None:
    record = {
        "path": str(path.resolve()),
        "job_id": job.job_id,
        "user_id": job.user_id,
        "pages": job.page_count,
        "size_bytes": job.size_bytes,
        "sha256": job.sha256,
    }
    if as_json:
        print(json.dumps(record, indent=2))
    else:
        print("\n".join(f"{name:<11}{value}" for name, value in record.items()))


if __name__ == "__main__":
    console_main()
