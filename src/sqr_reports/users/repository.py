from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.users.models import AppUser, Connection, MonitoringEvent


async def get_user(session: AsyncSession, user_id: str) -> AppUser | None:
    return await session.get(AppUser, user_id)


async def get_connection(session: AsyncSession, user_id: str, org_id: str) -> Connection | None:
    return await session.get(Connection, (user_id, org_id))


async def monitoring_history(session: AsyncSession, user_id: str) -> Sequence[MonitoringEvent]:
    """Newest first."""
    result = await session.execute(
        select(MonitoringEvent)
        .where(MonitoringEvent.user_id == user_id)
        .order_by(MonitoringEvent.recorded_at.desc(), MonitoringEvent.id.desc())
    )
    return result.scalars().all()


async def replace_monitoring(
    session: AsyncSession, user_id: str, events: list[MonitoringEvent]
) -> None:
    await session.execute(delete(MonitoringEvent).where(MonitoringEvent.user_id == user_id))
    session.add_all(events)
    await session.flush()


async def save(session: AsyncSession, *rows: AppUser | Connection) -> None:
    session.add_all(rows)
    await session.flush()


async def delete_connections(session: AsyncSession, user_id: str, org_id: str | None) -> int:
    """The user's connection to `org_id`, or every connection of the user; how many."""
    query = delete(Connection).where(Connection.user_id == user_id)
    if org_id is not None:
        query = query.where(Connection.org_id == org_id)
    result = await session.execute(query.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


async def has_connections(session: AsyncSession, user_id: str) -> bool:
    found = await session.execute(select(Connection.org_id).where(Connection.user_id == user_id))
    return found.first() is not None


async def delete_user(session: AsyncSession, user_id: str) -> bool:
    """The user's profile and monitoring history (connections first: they refer to it)."""
    await session.execute(delete(MonitoringEvent).where(MonitoringEvent.user_id == user_id))
    result = await session.execute(
        delete(AppUser).where(AppUser.id == user_id).execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))
