"""Schema migrations keep what the previous release wrote, and let it keep writing."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

from sqr_reports.config import VerdictPolicy
from sqr_reports.db.engine import create_engine
from sqr_reports.db.migrate import upgrade
from sqr_reports.policies import service as policies

_JOB = """INSERT INTO report_jobs (id, org_id, client_id, user_id, status, template_version,
    attempts, max_attempts, run_after, created_at, updated_at)
    VALUES (:id, 'org', 'client', 'US1', 'PENDING', 'v2', 0, 3, :t, :t, :t)"""


async def test_jobs_made_before_policies_get_the_policy_they_were_judged_under(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await upgrade(engine, "0001")
        async with engine.begin() as db:
            await db.execute(text("INSERT INTO orgs VALUES ('org', 'Org', 'ACTIVE', :t)"),
                             {"t": "2026-01-01 00:00:00"})  # fmt: skip
            await db.execute(text(_JOB), {"id": "old", "t": "2026-01-01 00:00:00"})

        await upgrade(engine)

        async with engine.begin() as db:
            # A replica of the previous release may still insert jobs without a policy.
            await db.execute(text(_JOB), {"id": "rollout", "t": "2026-01-02 00:00:00"})
            rows = (await db.execute(
                text("SELECT id, policy_version, policy FROM report_jobs ORDER BY id")
            )).all()  # fmt: skip
    finally:
        await engine.dispose()

    old, rollout = rows
    assert old[1] == 0
    # JSON text on SQLite.
    assert policies.pinned(old[1], json.loads(old[2])).values == VerdictPolicy()
    assert rollout[1] is None
    assert policies.pinned(rollout[1], rollout[2]).values == VerdictPolicy()
