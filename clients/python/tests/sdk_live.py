"""A live service for the SDK's tests: a real `sqr-reports` process on a free loopback port,
with its own data directory, administered through the real command line.

Each org has a quota of 10 creations per 600 s, so tests that create jobs take an org of
their own (`Service.new_org`) rather than share the demo org's.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from sdk_doubles import RequestLog
from sqr_reports_client import Client

#: The service's command, from the environment these tests run in.
SQR_REPORTS = str(Path(sys.executable).with_name("sqr-reports"))
if not Path(SQR_REPORTS).exists():  # pragma: no cover (an unusual installation)
    SQR_REPORTS = shutil.which("sqr-reports") or "sqr-reports"
STARTUP_SECONDS = 90
#: What every process of the service gets: fast Argon2 (the tests log in often), one render
#: process, quiet logs, 60-second tokens (so refreshing is exercised), loopback webhooks.
SERVICE_ENVIRONMENT = {
    "SQR_REPORTS_LOG_LEVEL": "WARNING",
    "SQR_REPORTS_AUTH__ARGON2_TIME_COST": "1",
    "SQR_REPORTS_AUTH__ARGON2_MEMORY_KIB": "1024",
    "SQR_REPORTS_AUTH__ARGON2_PARALLELISM": "1",
    "SQR_REPORTS_AUTH__TOKEN_TTL_SECONDS": "60",
    "SQR_REPORTS_WORKER__CONCURRENCY": "1",
    "SQR_REPORTS_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true",
}
TOKEN_TTL_SECONDS = 60


@dataclass(frozen=True)
class Org:
    org_id: str
    client_id: str
    client_secret: str = field(repr=False)
    #: A user connected to this org (their reports complete), if one was imported.
    user_id: str | None = None


@dataclass
class Service:
    url: str
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path
    demo: Org
    #: The demo users' ids by their outcome ("Clean pass: every check passes", ...).
    demo_users: dict[str, str]

    def cli(self, *args: str) -> str:
        """Run `sqr-reports --data-dir ... ARGS` and return its standard output."""
        return run_cli(self.data_dir, self.env, *args)

    def new_org(self, *, scopes: str | None = None, connected_user: bool = True) -> Org:
        """A new org with one API client and, unless told otherwise, one connected user."""
        org_id = json.loads(self.cli("org", "create", f"sdk-{uuid.uuid4().hex[:8]}", "--json"))[
            "org_id"
        ]
        client_id, secret = self.new_client(org_id, scopes=scopes)
        user_id = self.import_user(org_id) if connected_user else None
        return Org(org_id, client_id, secret, user_id)

    def new_client(self, org_id: str, *, scopes: str | None = None) -> tuple[str, str]:
        extra = ["--scopes", scopes] if scopes is not None else []
        record = json.loads(self.cli("client", "create", "--org", org_id, "--json", *extra))
        return record["client_id"], record["client_secret"]

    def import_user(self, org_id: str) -> str:
        user_id = unknown_user_id()
        record = {
            "id": user_id, "first_name": "Ada", "last_name": "Lovelace", "dob": "1990-12-10",
            "country": "GB", "document_overall_validation": "PASSED", "id3_match_status": "MATCH",
            "id3_pep_sanction_result": "CLEAR", "selfie_liveness_score": 97.0, "fmc_score": 95.0,
            "registration_status": "active", "created_at": "2026-01-05T10:00:00Z",
            "connections": [{"org_id": org_id, "connection_status": "CONNECTED",
                             "data_sharing_agreed": True, "connected_at": "2026-01-06T10:00:00Z"}],
        }  # fmt: skip
        lines = self.data_dir / f"users-{user_id}.jsonl"
        lines.write_text(json.dumps(record) + "\n", encoding="utf-8")
        self.cli("user", "import", str(lines))
        return user_id

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@contextmanager
def open_client(
    service: Service, org: Org, log: RequestLog | None = None, *, scope: str | None = None
) -> Iterator[Client]:
    """A client of `org` (with a narrower `scope` if given) whose requests go to `log`."""
    with httpx.Client(event_hooks=log.hooks() if log else None, timeout=30) as http:
        yield Client(service.url, org.client_id, org.client_secret, scope=scope, http_client=http)


def unknown_user_id() -> str:
    """A fresh, valid user id (16 upper-case alphanumerics) that no org is connected to."""
    return "SDK" + uuid.uuid4().hex[:13].upper()


def service_environment() -> dict[str, str]:
    """This process's environment without any SQR_REPORTS_* setting, plus the tests' own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQR_REPORTS_")}
    return {**env, **SERVICE_ENVIRONMENT}


def run_cli(data_dir: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [SQR_REPORTS, "--data-dir", str(data_dir), *args],
        env=env,
        cwd=data_dir,  # no developer's .env is read
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"sqr-reports {' '.join(args)}: {done.stderr}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(data_dir: Path, command: str) -> Service:
    """Seed the demo data (which also migrates the database), then start `sqr-reports COMMAND`
    (`serve`: the API and the worker; `api`: the API alone, so jobs stay PENDING) and wait
    until it answers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = service_environment()
    demo = json.loads(run_cli(data_dir, env, "demo", "--json"))
    port = free_port()
    log = data_dir / f"{command}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [SQR_REPORTS, "--data-dir", str(data_dir), command, "--port", str(port)],
            env=env,
            cwd=data_dir,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a signal meant for pytest's group does not stop it
        )
    service = Service(
        url=f"http://127.0.0.1:{port}",
        data_dir=data_dir,
        env=env,
        process=process,
        log=log,
        demo=Org(demo["org_id"], demo["client_id"], demo["client_secret"]),
        demo_users={user["outcome"]: user["id"] for user in demo["users"]},
    )
    try:
        _wait_until_ready(service)
    except BaseException:
        service.stop()
        raise
    return service


def _wait_until_ready(service: Service) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"the service exited: {service.log.read_text(errors='replace')}")
        try:
            if httpx.get(service.url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the service did not start in {STARTUP_SECONDS} s")
