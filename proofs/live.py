"""A real `sqr-reports` for the proof suites: started in processes of its own, provisioned only
through its command line, spoken to only over HTTP.

SQLite by default (`sqr-reports serve`: API and worker in one process); given the URL of a
PostgreSQL database of the suite's own (dropped and recreated), `sqr-reports migrate`, then
`api` and `worker` as separate processes. The server's log must hold no traceback when it stops:
whatever a suite sends, an answer is an expected outcome, never an unhandled exception.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

BIN = Path(sys.executable).parent / "sqr-reports"
#: Databases a suite must never drop, whatever URL it is given.
PROTECTED_DATABASES = frozenset({"postgres", "test", "template0", "template1"})
JOBS = "/v1/document/api"
#: What `LiveServer.org` grants its first client unless told otherwise: the report API.
REPORT_SCOPES = "write:reports read:reports download:reports"
#: Cheap secret hashing: a verification is as refused or accepted at any cost, and every client
#: a suite registers and every token it asks for pays it.
CHEAP_HASHING = {
    "SQR_REPORTS_AUTH__ARGON2_TIME_COST": "1",
    "SQR_REPORTS_AUTH__ARGON2_MEMORY_KIB": "1024",
    "SQR_REPORTS_AUTH__ARGON2_PARALLELISM": "1",
}


@dataclass(frozen=True)
class Client:
    org_id: str
    client_id: str
    client_secret: str


@dataclass
class LiveServer:
    base_url: str
    data_dir: Path
    env: dict[str, str]
    backend: str

    def cli(self, *args: str) -> Any:
        """`sqr-reports ARGS --json`, as an operator runs it; its JSON output."""
        done = subprocess.run(
            [str(BIN), *args, "--json"], env=self.env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"sqr-reports {' '.join(args)}: {done.stderr}"
        return json.loads(done.stdout)

    def cli_plain(self, *args: str) -> None:
        done = subprocess.run(
            [str(BIN), *args], env=self.env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"sqr-reports {' '.join(args)}: {done.stderr}"

    def org(self, name: str, scopes: str = REPORT_SCOPES) -> Client:
        org_id = self.cli("org", "create", name)["org_id"]
        return self.client(org_id, scopes)

    def client(self, org_id: str, scopes: str) -> Client:
        made = self.cli("client", "create", "--org", org_id, "--scopes", scopes)
        return Client(org_id, made["client_id"], made["client_secret"])

    def connect_user(self, user_id: str, *org_ids: str) -> None:
        record = {
            "id": user_id,
            "first_name": "Test",
            "last_name": "Subject",
            "dob": "1990-01-01",
            "registration_status": "active",
            "document_overall_validation": "PASSED",
            "id3_match_status": "MATCH",
            "high_level_result": "PASS",
            "connections": [
                {"org_id": org_id, "connection_status": "CONNECTED", "data_sharing_agreed": True}
                for org_id in org_ids
            ],
        }
        path = self.data_dir / f"user-{user_id}.jsonl"
        path.write_text(json.dumps(record) + "\n", encoding="utf-8")
        self.cli_plain("user", "import", str(path))


@contextmanager
def running_server(
    *, prefix: str, database_url: str = "", settings: Mapping[str, str] | None = None
) -> Iterator[LiveServer]:
    """A server on a free loopback port, configured by `settings` (SQR_REPORTS_* variables) on
    top of a data directory of its own, quiet logs and cheap hashing; stopped on exit, and its
    log then checked for tracebacks."""
    with tempfile.TemporaryDirectory(prefix=prefix) as scratch:
        data_dir = Path(scratch)
        env = {
            **os.environ,
            "SQR_REPORTS_DATA_DIR": str(data_dir),
            "SQR_REPORTS_LOG_LEVEL": "WARNING",
            **CHEAP_HASHING,
            **(settings or {}),
        }
        if database_url:
            _recreate(database_url)
            env["SQR_REPORTS_DATABASE_URL"] = database_url
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        live = LiveServer(base_url, data_dir, env, "postgresql" if database_url else "sqlite")
        live.cli_plain("migrate")
        commands = (
            [[str(BIN), "api", "--port", str(port)], [str(BIN), "worker"]]
            if database_url
            else [[str(BIN), "serve", "--port", str(port)]]
        )
        log_path = data_dir / "server.log"
        with log_path.open("wb") as log:
            processes = [
                subprocess.Popen(command, env=env, stdout=log, stderr=log) for command in commands
            ]
        try:
            _until_ready(base_url, processes)
            yield live
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=60)
            _no_tracebacks(log_path)


def _no_tracebacks(log_path: Path) -> None:
    """A refused request is an expected outcome: it never costs the server a traceback."""
    log = log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-4000:]


def _until_ready(base_url: str, processes: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert all(p.poll() is None for p in processes), "the server exited while starting"
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not become ready")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _recreate(url: str) -> None:
    parsed = make_url(url)
    name = parsed.database or ""
    if name in PROTECTED_DATABASES or not name:
        raise pytest.UsageError(f"refusing to drop the database {name!r}; name one of your own")
    pg = ["-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432)]
    pg += ["-U", parsed.username or "postgres"]
    quiet = os.environ | {"PGOPTIONS": "-c client_min_messages=warning"}
    subprocess.run(["dropdb", *pg, "--if-exists", "--force", name], check=True, env=quiet)
    subprocess.run(["createdb", *pg, name], check=True, env=quiet)


def token(server: LiveServer, client: Client, scope: str | None = None) -> str:
    """An access token from the token endpoint, as any client gets one."""
    body = {"client_id": client.client_id, "client_secret": client.client_secret,
            "grant_type": "client_credentials"} | ({"scope": scope} if scope else {})  # fmt: skip
    response = httpx.post(f"{server.base_url}/oauth2/token", json=body, timeout=30)
    assert response.status_code == 200, response.text
    access_token: str = response.json()["access_token"]
    return access_token


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}
