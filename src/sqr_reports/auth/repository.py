from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.auth.models import ApiClient
from sqr_reports.orgs.models import Org


async def get_client(session: AsyncSession, client_id: str) -> ApiClient | None:
    return await session.get(ApiClient, client_id)


async def get_client_and_org(session: AsyncSession, client_id: str) -> tuple[ApiClient, Org] | None:
    result = await session.execute(
        select(ApiClient, Org)
        .join(Org, Org.id == ApiClient.org_id)
        .where(ApiClient.client_id == client_id)
    )
    row = result.one_or_none()
    return (row[0], row[1]) if row else None


async def add_client(session: AsyncSession, client: ApiClient) -> ApiClient:
    session.add(client)
    await session.flush()
    return client
