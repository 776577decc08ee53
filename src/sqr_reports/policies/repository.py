"""All SQL about verdict policies; every read takes the org's id."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.policies.models import OrgVerdictPolicy


async def latest(session: AsyncSession, org_id: str) -> OrgVerdictPolicy | None:
    result = await session.execute(
        select(OrgVerdictPolicy)
        .where(OrgVerdictPolicy.org_id == org_id)
        .order_by(OrgVerdictPolicy.version.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def add(session: AsyncSession, row: OrgVerdictPolicy) -> None:
    session.add(row)
    await session.flush()
