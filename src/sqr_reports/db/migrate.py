"""Schema migrations, run programmatically (no alembic.ini to find at run time)."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
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
def head_revision() -> str | None:
    """The newest revision this code knows (read from the migration files once)."""
    return ScriptDirectory.from_config(_config()).get_current_head()


async def is_up_to_date(engine: AsyncEngine) -> bool:
    """True when the database is at the newest revision (used by readiness checks)."""
    head = head_revision()

    def current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(current) == head


def autogenerate(connection: Connection, message: str) -> None:
    """Write a new revision from the models (developers: see CONTRIBUTING in the README)."""
    command.revision(_config(connection), message=message, autogenerate=True)
