"""Migration 0006: org names become unique ignoring case; duplicates already stored are renamed,
not refused; the previous release keeps inserting orgs. On SQLite and (with
SQR_REPORTS_TEST_DATABASE_URL) on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import bindparam, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from sqr_reports.db.base import UTCDateTime
from sqr_reports.db.migrate import upgrade
from tests.conftest import scratch_engine

#: A schema of its own, so that migrating leaves the suite's alone.
PG_SCHEMA = "org_names_migration_test"
_ORG = "INSERT INTO orgs (id, name, status, created_at) VALUES (:id, :name, 'ACTIVE', :t)"
LONG = "L" * 200


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with scratch_engine(request.param, tmp_path / "names.db", PG_SCHEMA) as built:
        yield built


async def _insert(engine: AsyncEngine, *orgs: tuple[str, str, str]) -> None:
    async with engine.begin() as db:
        for org_id, name, day in orgs:
            at = datetime(2026, 1, int(day), tzinfo=UTC)
            # Typed, so SQLAlchemy writes the time as the column type does (the sqlite3
            # module's own datetime adapter is deprecated since Python 3.12).
            insert = text(_ORG).bindparams(bindparam("t", type_=UTCDateTime()))
            await db.execute(insert, {"id": org_id, "name": name, "t": at})


async def test_duplicates_are_renamed_oldest_first_and_new_ones_refused(
    engine: AsyncEngine,
) -> None:
    await upgrade(engine, "0005")
    await _insert(
        engine,
        ("a", "Acme", "02"), ("b", "ACME", "03"), ("c", "acme", "04"),
        ("taken", "Acme (2)", "01"),  # an older org already has the first suffix
        ("long1", LONG, "05"), ("long2", LONG.lower(), "06"), ("other", "Other", "07"),
    )  # fmt: skip

    await upgrade(engine, "0006")
    async with engine.connect() as db:
        rows = (await db.execute(text("SELECT id, name FROM orgs"))).all()
    names = {row[0]: row[1] for row in rows}
    # The previous release, during a rollout, still registers orgs with new names.
    await _insert(engine, ("rollout", "Rollout Ltd", "08"))
    with pytest.raises(IntegrityError):
        await _insert(engine, ("dup", "OTHER", "09"))

    assert names == {
        "taken": "Acme (2)", "a": "Acme", "b": "ACME (3)", "c": "acme (4)",
        "long1": LONG, "long2": "l" * 196 + " (2)", "other": "Other",
    }  # fmt: skip
