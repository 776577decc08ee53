from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.orgs.models import Org


async def get(session: AsyncSession, org_id: str) -> Org | None:
    return await session.get(Org, org_id)


async def get_for_update(session: AsyncSession, org_id: str) -> Org | None:
    """Lock the org row: serialises one org's job creations (exact rate limit, PostgreSQL)."""
    result = await session.execute(select(Org).where(Org.id == org_id).with_for_update())
    return result.scalar_one_or_none()


async def add(session: AsyncSession, org: Org) -> Org:
    session.add(org)
    await session.flush()
    return org
