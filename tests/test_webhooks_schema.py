"""Migration 0003: the models and the migrations agree, and it upgrades and downgrades, on
SQLite and (with SQR_REPORTS_TEST_DATABASE_URL) on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from sqr_reports.db.metadata import metadata
from sqr_reports.db.migrate import MIGRATIONS_DIR, upgrade
from tests.conftest import scratch_engine

WEBHOOK_TABLES = {"webhook_endpoints", "webhook_events", "webhook_deliveries", "webhook_attempts"}
#: A schema of its own, so that moving the migrations up and down leaves the suite's alone.
PG_SCHEMA = "webhooks_migration_test"


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with scratch_engine(request.param, tmp_path / "migrations.db", PG_SCHEMA) as built:
        yield built


async def _downgrade(engine: AsyncEngine, revision: str) -> None:
    def run(connection: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def _differences(engine: AsyncEngine) -> list[Any]:
    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with engine.connect() as connection:
        return await connection.run_sync(compare)


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


# SQLite cannot reflect migration 0006's index on lower(orgs.name); PostgreSQL compares it.
@pytest.mark.filterwarnings(
    "ignore:Skipped unsupported reflection of expression-based index uq_orgs_name_lower"
)
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
async def test_the_migrations_build_exactly_the_models_and_0003_goes_down_and_up(
    engine: AsyncEngine,
) -> None:
    await upgrade(engine)
    at_head = await _differences(engine)
    await _downgrade(engine, "0002")
    below = await _tables(engine)
    await upgrade(engine)

    assert at_head == []
    assert not below & WEBHOOK_TABLES
    assert "report_jobs" in below
    assert await _tables(engine) >= WEBHOOK_TABLES
    assert await _differences(engine) == []
