"""Schema migrations, run programmatically (no alembic.ini to find at run time)."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    def run(connection: Connection) -> None:
        command.upgrade(_config(connection), revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


@functools.cache
def migration_scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


async def schema_behind(engine: AsyncEngine) -> bool:
    """True when the database lacks migrations this code needs (readiness checks).

    A database *ahead* of this code (a revision it does not know) is fine: during a rollout
    `migrate` runs first, and the still-running old processes must stay ready. Migrations are
    written expand-then-contract so that the previous release works on the new schema.
    """

    def current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        revision = await connection.run_sync(current)
    scripts = migration_scripts()
    if revision == scripts.get_current_head():
        return False
    try:
        known = scripts.get_revision(revision) is not None if revision else False
    except CommandError:
        known = False
    return revision is None or known  # an older revision we know: behind; unknown: newer
