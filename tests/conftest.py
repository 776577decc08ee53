"""Fixtures: a real database (SQLite by default, PostgreSQL when
SQR_REPORTS_TEST_DATABASE_URL is set), the real renderer, and the app in process.

Under pytest-xdist each worker is a session of its own: its own seed, render pool and, on
PostgreSQL, its own database on the same server (`<database>_gw0`, ...)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from sqr_reports.app import create_app
from sqr_reports.auth import service as auth
from sqr_reports.auth.key_directory import KeyDirectory
from sqr_reports.cli import main
from sqr_reports.config import AuthSettings, Settings, WorkerSettings
from sqr_reports.container import Container, build_container, build_renderer
from sqr_reports.db.engine import create_engine
from sqr_reports.db.metadata import metadata
from sqr_reports.db.migrate import upgrade
from sqr_reports.metrics import exposition
from sqr_reports.orgs.service import create_org
from sqr_reports.queue.worker import Worker
from sqr_reports.rendering import Renderer
from sqr_reports.rendering.typst_renderer import TypstRenderer
from sqr_reports.users.schemas import UserRecord
from sqr_reports.users.service import upsert_user
from tests.support import Api, ClientCredentials, MovableClock
from tests.webhook_receiver import Receiver


def _this_workers_database(url: str) -> str:
    """The database this test process may empty at will: the configured one, or under
    pytest-xdist a sibling named after the worker, since each worker truncates as it goes."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    configured = make_url(url)
    own = configured.set(database=f"{configured.database}_{worker}")
    return own.render_as_string(hide_password=False)


CONFIGURED_POSTGRES_URL = os.environ.get("SQR_REPORTS_TEST_DATABASE_URL", "")
POSTGRES_URL = _this_workers_database(CONFIGURED_POSTGRES_URL)


@pytest.fixture(scope="session", autouse=True)
def metrics_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Metrics recorded as in production (prometheus-client's multiprocess mode), in a directory
    of this test process's own: under pytest-xdist, workers never add up each other's."""
    directory = tmp_path_factory.mktemp("metrics")
    exposition.use_directory(directory)
    return directory


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
async def postgres_schema() -> AsyncIterator[str | None]:
    """On PostgreSQL: a clean schema, migrated once for the whole session."""
    if not POSTGRES_URL:
        yield None
        return
    if POSTGRES_URL != CONFIGURED_POSTGRES_URL:
        await _create_database(POSTGRES_URL, via=CONFIGURED_POSTGRES_URL)
    engine = create_engine(POSTGRES_URL)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await upgrade(engine)
    await engine.dispose()
    yield POSTGRES_URL


async def _create_database(url: str, *, via: str) -> None:
    """Create the database of `url` unless it exists, connected to the server through `via`."""
    name = make_url(url).database
    server = create_async_engine(via, isolation_level="AUTOCOMMIT")  # CREATE DATABASE needs it
    try:
        async with server.connect() as connection:
            found = await connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if not found:
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await server.dispose()


@pytest.fixture(scope="session")
async def seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What every test's data directory starts from, made once per session: an RS256 key (2048-bit
    generation is the slowest part of a container) and, on SQLite, a migrated database."""
    directory = tmp_path_factory.mktemp("seed")
    KeyDirectory(directory / "data" / "keys").load_or_generate()
    if not POSTGRES_URL:
        engine = create_engine(f"sqlite+aiosqlite:///{directory / 'test.db'}")
        await upgrade(engine)
        await engine.dispose()
    return directory


@pytest.fixture
def database_url(tmp_path: Path, postgres_schema: str | None, seed: Path) -> str:
    if postgres_schema:
        return postgres_schema
    shutil.copyfile(seed / "test.db", tmp_path / "test.db")
    return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


def make_settings(data_dir: Path, database_url: str, **worker: float) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        # Cheap Argon2 keeps the suite fast; the production cost is the default.
        auth=AuthSettings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1),
        worker=WorkerSettings(embedded=False, **worker),
    )


@pytest.fixture
def settings(tmp_path: Path, database_url: str, seed: Path) -> Settings:
    shutil.copytree(seed / "data", tmp_path / "data")
    return make_settings(tmp_path / "data", database_url)


@pytest.fixture(scope="session")
async def renderer() -> AsyncIterator[TypstRenderer]:
    """One real render pool for the session (starting Typst processes costs about a second)."""
    pool = build_renderer(Settings())
    await pool.start()
    yield pool
    await pool.close()


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
async def container(
    settings: Settings, clock: MovableClock, renderer: Renderer
) -> AsyncIterator[Container]:
    built = build_container(settings, clock, renderer)
    if POSTGRES_URL:  # migrated once per session; on SQLite each test has a migrated copy
        async with built.engine.begin() as connection:
            tables = ", ".join(t.name for t in metadata.sorted_tables)
            await connection.execute(text(f"TRUNCATE {tables} CASCADE"))
    yield built
    await built.engines.dispose()


@pytest.fixture
async def http(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container=container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def api(http: httpx.AsyncClient) -> Api:
    return Api(http)


@pytest.fixture
async def second_container(
    settings: Settings, clock: MovableClock, renderer: TypstRenderer, container: Container
) -> AsyncIterator[Container]:
    """Another API or worker process: same database and data dir, its own pools and wake-ups."""
    other = build_container(settings, clock, renderer)
    yield other
    await other.engines.dispose()


@pytest.fixture
def worker(container: Container) -> Worker:
    return container.new_worker()


@pytest.fixture
async def session(container: Container) -> AsyncIterator[AsyncSession]:
    async with container.sessions() as db_session:
        yield db_session


async def register_org(
    container: Container, name: str, scopes: list[str] | None = None
) -> ClientCredentials:
    async with container.sessions.begin() as db:
        org = await create_org(db, container.db_clock, name)
        client, secret = await auth.create_client(
            db, org.id, scopes, hasher=container.hasher, clock=container.db_clock
        )
    return ClientCredentials(org.id, client.client_id, secret)


async def add_user(container: Container, **fields: object) -> str:
    async with container.sessions.begin() as db:
        user = await upsert_user(db, container.db_clock, UserRecord.model_validate(fields))
    return user.id


def connected(
    org_id: str, agreed: bool = True, status: str = "CONNECTED"
) -> list[dict[str, object]]:
    return [{"org_id": org_id, "connection_status": status, "data_sharing_agreed": agreed}]


@pytest.fixture
async def org_a(container: Container) -> ClientCredentials:
    return await register_org(container, "Alpha Gaming Ltd")


@pytest.fixture
async def org_b(container: Container) -> ClientCredentials:
    return await register_org(container, "Beta eSports GmbH")


ALICE = "US1A2B3C4D5E6F78"


@pytest.fixture
async def alice(container: Container, org_a: ClientCredentials) -> str:
    """A verified user connected to org A only."""
    return await add_user(
        container,
        id=ALICE,
        first_name="Alice",
        last_name="Øvergård",
        email="alice@example.com",
        dob="1991-02-03",
        country="NO",
        document_overall_validation="PASSED",
        id3_match_status="MATCH",
        id3_pep_sanction_result="CLEAR",
        selfie_liveness_score=96.5,
        fmc_score=91.0,
        connections=connected(org_a.org_id),
        monitoring=[{"kind": "PEP", "status": "CLEAR", "recorded_at": "2026-01-01T00:00:00Z"}],
    )


@pytest.fixture
async def token_a(api: Api, org_a: ClientCredentials) -> str:
    return await api.token(org_a)


@pytest.fixture
async def token_b(api: Api, org_b: ClientCredentials) -> str:
    return await api.token(org_b)


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's SQR_REPORTS_* variables out of settings built in a test."""
    for name in list(os.environ):
        if name.startswith("SQR_REPORTS_") and name != "SQR_REPORTS_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(
    settings: Settings, container: Container, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], no_env: None,
) -> Run:  # fmt: skip
    """Run the CLI against the test database; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("SQR_REPORTS_DATABASE_URL", settings.resolved_database_url())
    monkeypatch.setenv("SQR_REPORTS_AUTH__ARGON2_MEMORY_KIB", "1024")

    def invoke(*args: str) -> tuple[int, str, str]:
        # In a thread of its own: the CLI runs its own event loop, as from a shell.
        with ThreadPoolExecutor(1) as pool:
            code = pool.submit(main, [*args, "--data-dir", str(settings.data_dir)]).result()
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A real webhook receiver on 127.0.0.1 (tests/webhook_receiver.py)."""
    started = await Receiver().start()
    yield started
    await started.close()


@pytest.fixture
def local_targets(container: Container) -> None:
    """As with SQR_REPORTS_WEBHOOKS__ALLOW_PRIVATE_TARGETS=true: the receiver is on loopback."""
    container.settings.webhooks.allow_private_targets = True


@asynccontextmanager
async def scratch_engine(
    kind: str, sqlite_file: Path, pg_schema: str
) -> AsyncIterator[AsyncEngine]:
    """An empty database to migrate up and down, leaving the suite's alone: a new SQLite file,
    or on PostgreSQL a schema of its own (skips when no PostgreSQL is configured)."""
    if kind == "sqlite":
        built = create_engine(f"sqlite+aiosqlite:///{sqlite_file}")
        yield built
        await built.dispose()
        return
    if not CONFIGURED_POSTGRES_URL:
        pytest.skip("needs PostgreSQL (SQR_REPORTS_TEST_DATABASE_URL)")
    admin = create_async_engine(CONFIGURED_POSTGRES_URL)
    async with admin.begin() as connection:
        await connection.execute(text(f"DROP SCHEMA IF EXISTS {pg_schema} CASCADE"))
        await connection.execute(text(f"CREATE SCHEMA {pg_schema}"))
    built = create_async_engine(
        CONFIGURED_POSTGRES_URL, connect_args={"server_settings": {"search_path": pg_schema}}
    )
    yield built
    await built.dispose()
    async with admin.begin() as connection:
        await connection.execute(text(f"DROP SCHEMA {pg_schema} CASCADE"))
    await admin.dispose()
