"""Readiness: can this process serve requests right now?"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from sqr_reports.db.migrate import schema_behind
from sqr_reports.storage import BlobStore

CHECK_TIMEOUT_SECONDS = 3.0


async def check_database(engine: AsyncEngine) -> str:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
    if await schema_behind(engine):
        return "schema is behind this release: run `sqr-reports migrate`"
    return "ok"


async def check_storage(store: BlobStore) -> str:
    await store.check()
    return "ok"


async def readiness(checks: dict[str, Callable[[], Awaitable[str]]]) -> dict[str, str]:
    """Run the checks concurrently, each with a time limit; failures are named, not detailed."""

    async def run(check: Callable[[], Awaitable[str]]) -> str:
        try:
            return await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
        except TimeoutError:
            return "timed out"
        except Exception as exc:
            return f"unavailable ({type(exc).__name__})"

    results = await asyncio.gather(*(run(check) for check in checks.values()))
    return dict(zip(checks, results, strict=True))
