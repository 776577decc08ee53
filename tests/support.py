"""Test helpers: a clock that moves when told, an API client that speaks the contract, workers
and job rows straight from a container, and render pools of the tests' own."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel
from sqlalchemy import update

from sqr_reports.auth import scopes
from sqr_reports.auth.models import ApiClient
from sqr_reports.config import VerdictPolicy
from sqr_reports.container import Container
from sqr_reports.db.clock import SessionClock
from sqr_reports.policies.service import DEFAULT_VERSION, AppliedPolicy
from sqr_reports.queue.store import Queue, SqlQueue
from sqr_reports.queue.wakeup import NotifyListener
from sqr_reports.queue.work import Work
from sqr_reports.queue.worker import Worker
from sqr_reports.rendering import Renderer, typst_process
from sqr_reports.rendering.typst_renderer import TypstRenderer
from sqr_reports.reports.models import ReportJob
from sqr_reports.storage import BlobStore
from sqr_reports.users.models import AppUser, Connection, MonitoringEvent
from sqr_reports.users.service import Subject

MonitoringSpec = tuple[str, str] | tuple[str, str, str | None]
#: The fixed report time of the report-content tests.
GENERATED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
#: The deployment's default verdict policy, as a job records it.
DEFAULT_POLICY = AppliedPolicy(DEFAULT_VERSION, VerdictPolicy())
#: Every monitoring kind clear: with `make_subject`'s defaults, a subject that passes.
ALL_CLEAR: tuple[MonitoringSpec, ...] = (
    ("PEP", "CLEAR"), ("SANCTION", "CLEAR"), ("ADVERSE_MEDIA", "CLEAR"),
)  # fmt: skip


def make_subject(monitoring: Sequence[MonitoringSpec] = (), **fields: Any) -> Subject:
    """A verified subject in memory (no database): `fields` override the user's columns,
    `monitoring` is (kind, status[, detail]) events, newest first."""
    base: dict[str, Any] = {
        "id": "US1A2B3C4D5E6F78", "first_name": "Ada", "last_name": "Lovelace",
        "dob": date(1990, 12, 10), "created_at": GENERATED - timedelta(days=30),
        "document_overall_validation": "PASSED", "id3_match_status": "MATCH",
        "id3_pep_sanction_result": "CLEAR", "selfie_liveness_score": 95.0, "fmc_score": 90.0,
        "high_level_result": "PASS", "registration_status": "active",
    }  # fmt: skip
    user = AppUser(**(base | fields))
    connection = Connection(
        user_id=user.id, org_id="org", connection_status="CONNECTED", data_sharing_agreed=True,
        connected_at=GENERATED,
    )  # fmt: skip
    events = [
        MonitoringEvent(
            user_id=user.id, kind=event[0], status=event[1], recorded_at=GENERATED,
            detail=event[2] if len(event) > 2 else None,
        )
        for event in monitoring
    ]  # fmt: skip
    return Subject(user=user, connection=connection, monitoring=events)


class MovableClock:
    """Real time plus an offset that tests advance, so expiry needs no sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@dataclass(frozen=True)
class ClientCredentials:
    org_id: str
    client_id: str
    client_secret: str


class Api:
    """Thin helpers over httpx for the three-step flow."""

    def __init__(self, http: httpx.AsyncClient):
        self.http = http

    async def token(self, creds: ClientCredentials, scope: str | None = None) -> str:
        body = {
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "grant_type": "client_credentials",
        }
        if scope is not None:
            body["scope"] = scope
        response = await self.http.post("/oauth2/token", json=body)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    async def create(
        self, token: str, user_id: str, *, key: str | None = None, **extra: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return await self.http.post(
            "/v1/document/api", json={"userId": user_id, **extra}, headers=headers
        )

    async def status(self, token: str, job_id: str) -> httpx.Response:
        return await self.http.get(
            f"/v1/document/api/{job_id}", headers={"Authorization": f"Bearer {token}"}
        )

    async def url(self, token: str, job_id: str) -> httpx.Response:
        return await self.http.get(
            f"/v1/document/api/{job_id}/url", headers={"Authorization": f"Bearer {token}"}
        )

    async def wait_terminal(self, token: str, job_id: str, seconds: float = 30) -> dict[str, Any]:
        """Poll (as a client would) until the job is COMPLETE or FAILED.

        For tests of what a client sees while workers it cannot observe get there (through
        outages and retries). The pause only spaces the polls: the outcome is decided by the
        status read, and a stuck job fails at the deadline.
        """
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            body: dict[str, Any] = (await self.status(token, job_id)).json()
            if body["status"] in ("COMPLETE", "FAILED"):
                return body
            assert asyncio.get_running_loop().time() < deadline, f"job stuck: {body}"
            await asyncio.sleep(0.05)


ALL_SCOPES = " ".join(scopes.ALL)


async def load_job(container: Container, job_id: str) -> ReportJob:
    """The job's row as the database has it now."""
    async with container.sessions() as session:
        job = await session.get(ReportJob, job_id)
    assert job is not None
    return job


def report_queue(container: Container, clock: SessionClock | None = None) -> tuple[Queue, Work]:
    """The container's queue (on `clock`, default the container's) and its report work, to
    drive claims by hand."""
    work = container.new_worker().works[0]
    assert work.name == "report"
    queue = SqlQueue(
        container.sessions, clock or container.db_clock, read_sessions=container.read_sessions
    )
    return queue, work


def worker_with(
    container: Container, *, renderer: Renderer | None = None, store: BlobStore | None = None
) -> Worker:
    """A worker wired as the container wires one, with another renderer or store."""
    swapped = dataclasses.replace(
        container, renderer=renderer or container.renderer, store=store or container.store
    )
    return swapped.new_worker()


def assert_envelope(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    """The house error envelope, with nothing that should not be there."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == status
    assert body["error"] == error
    assert body["method"] == response.request.method
    path = response.request.url.path
    assert body["path"] == ("/v1/downloads/{key}" if path.startswith("/v1/downloads/") else path)
    assert body["timestamp"].endswith("Z")
    assert isinstance(body["message"], str)
    assert body["message"]
    text = response.text.lower()
    for leak in ("traceback", "bearer ey", "secret", "reports/"):
        assert leak not in text, f"{leak!r} leaked into an error body"
    return body


class TcpProxy:
    """A loopback TCP proxy that a test can cut and restore: a database outage, for real."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Refuse new connections and reset the open ones."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._pipes):
            task.cancel()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            sink.transport.abort()
            self._writers.discard(sink)


def setting_names(model: type[BaseModel], prefix: str = "SQR_REPORTS_") -> set[str]:
    """Every environment variable the settings `model` reads, nested groups included."""
    names = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= setting_names(annotation, f"{prefix}{name.upper()}__")
        else:
            names.add(f"{prefix}{name.upper()}")
    return names


async def set_scopes(container: Container, client_id: str, scopes: str) -> None:
    """Change a client's scopes in the database; tokens already issued keep their claims."""
    async with container.sessions.begin() as session:
        await session.execute(
            update(ApiClient).where(ApiClient.client_id == client_id).values(scopes=scopes)
        )


@asynccontextmanager
async def render_pool(templates: Path | None = None, **limits: Any) -> AsyncIterator[TypstRenderer]:
    """A small render pool of its own, for the tests that need other limits or templates."""
    settings: dict[str, Any] = {
        "processes": 1, "timeout_seconds": 20.0, "memory_limit_mib": 2048,
        "max_renders_per_process": 200,
    }  # fmt: skip
    pool = TypstRenderer(
        templates_dir=templates or typst_process.TEMPLATES_DIR, **(settings | limits)
    )
    try:
        yield pool
    finally:
        await pool.close()


@asynccontextmanager
async def listening(listener: NotifyListener | None) -> AsyncIterator[None]:
    """A PostgreSQL listener running (and connected) for the block, then stopped and awaited:
    a listener cancelled but never awaited leaves its connection for the garbage collector,
    whose warning fails whichever test happens to run then."""
    assert listener is not None
    task = asyncio.create_task(listener.run())
    try:
        await asyncio.wait_for(listener.connected.wait(), 10)
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


#: The `sqr-reports` command of this environment, for tests that run it as its users do.
SQR_REPORTS = str(Path(sys.executable).with_name("sqr-reports"))


def command_environment(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment for running `sqr-reports` on `data_dir`: none of this process's own
    `SQR_REPORTS_*` settings, then `settings` (names without the prefix, e.g. `LOG_LEVEL`)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("SQR_REPORTS_")}
    chosen = {f"SQR_REPORTS_{name}": value for name, value in settings.items()}
    return inherited | {"SQR_REPORTS_DATA_DIR": str(data_dir)} | chosen


def free_port() -> int:
    """A TCP port free on the loopback interface now (for a server a test starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def alive(pid: int) -> bool:
    """Whether a process exists (a zombie, killed but not yet reaped, counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
