from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.db.clock import SessionClock
from sqr_reports.errors import BadRequest
from sqr_reports.orgs import repository
from sqr_reports.orgs.models import Org, OrgStatus


async def create_org(
    session: AsyncSession, clock: SessionClock, name: str, *, org_id: str | None = None
) -> Org:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise BadRequest("An org name must have 1 to 200 characters")
    org = Org(
        id=org_id or str(uuid.uuid4()),
        name=name,
        status=OrgStatus.ACTIVE,
        created_at=await clock.now(session),
    )
    return await repository.add(session, org)
