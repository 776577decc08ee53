from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

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


async def list_clients(session: AsyncSession, org_id: str | None) -> Sequence[ApiClient]:
    """An org's clients, or every org's (an operator's list), oldest first."""
    query = select(ApiClient).order_by(ApiClient.created_at, ApiClient.client_id)
    if org_id is not None:
        query = query.where(ApiClient.org_id == org_id)
    return (await session.execute(query)).scalars().all()


async def add_client(session: AsyncSession, client: ApiClient) -> ApiClient:
    session.add(client)
    await session.flush()
    return client


@dataclass(frozen=True, slots=True)
class Grant:
    """What the database says about a caller now: all that the per-call re-check reads."""

    client_status: str
    scopes: frozenset[str]
    org_id: str
    org_status: str


_CLIENTS, _ORGS = ApiClient.__table__, Org.__table__
#: Labelled, so that a query composed on `GRANT_QUERY` can read them back (`grant_of`).
_GRANT_COLUMNS = (
    _CLIENTS.c.status.label("grant_client_status"),
    _CLIENTS.c.scopes.label("grant_scopes"),
    _CLIENTS.c.org_id.label("grant_org_id"),
    _ORGS.c.status.label("grant_org_status"),
)
#: A client (the bound parameter `client_id`) and its org, one row or none: SQLAlchemy Core,
#: not the ORM, since a poll's re-check loads nothing it would change. Another feature's
#: repository may join what a call reads onto it (an outer join, so that the grant's row is
#: there whatever that read finds), so that the call's re-check and its read are one statement.
GRANT_QUERY: Select[Any] = (
    select(*_GRANT_COLUMNS)
    .select_from(_CLIENTS.join(_ORGS, _ORGS.c.id == _CLIENTS.c.org_id))
    .where(_CLIENTS.c.client_id == bindparam("client_id"))
)


def grant_of(row: Row[Any]) -> Grant:
    """The grant in a row of `GRANT_QUERY`, or of a query composed on it."""
    return Grant(
        client_status=row.grant_client_status,
        scopes=frozenset(row.grant_scopes.split()),
        org_id=row.grant_org_id,
        org_status=row.grant_org_status,
    )


async def get_grant(db: AsyncSession | AsyncConnection, client_id: str) -> Grant | None:
    row = (await db.execute(GRANT_QUERY, {"client_id": client_id})).one_or_none()
    return grant_of(row) if row is not None else None
