"""Orgs: registered, found by id or name, suspended and resumed by an operator."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.db.clock import SessionClock
from sqr_reports.errors import BadRequest, Conflict, NotFound
from sqr_reports.orgs import repository
from sqr_reports.orgs.models import Org, OrgStatus


async def create_org(
    session: AsyncSession, clock: SessionClock, name: str, *, org_id: str | None = None
) -> Org:
    """Register an org; its name must be new, ignoring case ("Acme" and "ACME" are one)."""
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise BadRequest("An org name must have 1 to 200 characters")
    if (same := await repository.get_by_name(session, name)) is not None:
        raise Conflict(f"An org named {same.name!r} exists already: {same.id}")
    org = Org(
        id=org_id or str(uuid.uuid4()),
        name=name,
        status=OrgStatus.ACTIVE,
        created_at=await clock.now(session),
    )
    try:
        return await repository.add(session, org)
    except IntegrityError:  # another process registered the same name (or id) just now
        raise Conflict(f"An org named {name!r} exists already") from None


async def find_org(session: AsyncSession, reference: str) -> Org:
    """The org with this id or, failing that, this name (ignoring case)."""
    org = await repository.get(session, reference) or await repository.get_by_name(
        session, reference
    )
    if org is None:
        raise NotFound(f"No org with id or name {reference!r}")
    return org


async def list_orgs(session: AsyncSession) -> Sequence[Org]:
    return await repository.list_all(session)


async def set_status(session: AsyncSession, reference: str, status: OrgStatus) -> tuple[Org, bool]:
    """Suspend or resume an org; True if that changed it.

    Every API call re-reads its org's status (`auth.service.check_grant`), and the token
    endpoint refuses a suspended org's clients, so this takes effect on the next call."""
    org = await find_org(session, reference)
    if org.status == status:
        return org, False
    org.status = status
    await session.flush()
    return org, True
