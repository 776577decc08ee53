from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.orgs.models import Org


async def get(session: AsyncSession, org_id: str) -> Org | None:
    return await session.get(Org, org_id)


async def get_for_update(session: AsyncSession, org_id: str) -> Org | None:
    """Lock the org row: serialises one org's job creations (exact rate limit, PostgreSQL)."""
    result = await session.execute(select(Org).where(Org.id == org_id).with_for_update())
    return result.scalar_one_or_none()


async def get_by_name(session: AsyncSession, name: str) -> Org | None:
    """The org whose name equals `name` ignoring case, by the expression its unique index
    uses (migration 0006), so that this and the database agree on what a duplicate is."""
    result = await session.execute(select(Org).where(func.lower(Org.name) == func.lower(name)))
    return result.scalar_one_or_none()


async def list_all(session: AsyncSession) -> Sequence[Org]:
    """Every org, oldest first: an operator's list (there are tens, not millions)."""
    result = await session.execute(select(Org).order_by(Org.created_at, Org.id))
    return result.scalars().all()


async def add(session: AsyncSession, org: Org) -> Org:
    session.add(org)
    await session.flush()
    return org
