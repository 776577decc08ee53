"""Which verdict policy applies to an org, setting a new version of it, and the copy each job
keeps of the policy it is judged under (so re-rendering an old job reproduces its judgement)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.clock import isoformat_ms
from sqr_reports.config import VerdictPolicy
from sqr_reports.db.clock import SessionClock
from sqr_reports.errors import BadRequest, NotFound, validation_problems
from sqr_reports.orgs import repository as orgs
from sqr_reports.policies import repository
from sqr_reports.policies.models import OrgVerdictPolicy

#: The version a job records when it was judged under the deployment's default policy.
DEFAULT_VERSION = 0


@dataclass(frozen=True, slots=True)
class AppliedPolicy:
    """A policy and where it came from: version 0 is the deployment default, 1+ the org's own."""

    version: int
    values: VerdictPolicy
    created_at: datetime | None = None

    @property
    def source(self) -> str:
        return "deployment default" if self.version == DEFAULT_VERSION else "organisation"

    def as_data(self) -> dict[str, Any]:
        return {"version": self.version, "source": self.source, **self.values.model_dump()}


async def current(session: AsyncSession, org_id: str, default: VerdictPolicy) -> AppliedPolicy:
    row = await repository.latest(session, org_id)
    if row is None:
        return AppliedPolicy(DEFAULT_VERSION, default)
    values = VerdictPolicy.model_validate({name: getattr(row, name) for name in _FIELDS})
    return AppliedPolicy(row.version, values, row.created_at)


async def set_policy(
    session: AsyncSession,
    org_id: str,
    changes: Mapping[str, Any],
    *,
    clock: SessionClock,
    default: VerdictPolicy,
) -> tuple[AppliedPolicy, bool]:
    """A new version from the current values and `changes`; (policy, whether it changed).

    Unchanged values add no version. The org row is locked so two admins cannot both write
    the same next version.
    """
    if await orgs.get_for_update(session, org_id) is None:
        raise NotFound(f"No org with id {org_id}")
    base = await current(session, org_id, default)
    try:
        values = VerdictPolicy.model_validate(base.values.model_dump() | dict(changes))
    except ValidationError as exc:
        raise BadRequest(validation_problems(exc, "policy")) from None
    if values == base.values and base.version != DEFAULT_VERSION:
        return base, False
    row = OrgVerdictPolicy(
        org_id=org_id,
        version=base.version + 1,
        created_at=await clock.now(session),
        **values.model_dump(),
    )
    await repository.add(session, row)
    return AppliedPolicy(row.version, values, row.created_at), True


def pinned(version: int | None, values: Mapping[str, Any] | None) -> AppliedPolicy:
    """The policy a job recorded when it was created: what it is judged under, on every
    attempt and every re-render, whatever the org's policy has become since.

    A job that a replica of the previous release created during a rollout recorded none: it
    gets the values that release had fixed in code, which are `VerdictPolicy`'s defaults.
    """
    if version is None or values is None:
        return AppliedPolicy(DEFAULT_VERSION, VerdictPolicy())
    return AppliedPolicy(version, VerdictPolicy.model_validate(values))


def describe(policy: AppliedPolicy) -> dict[str, Any]:
    """The policy as `policy show --json` prints it."""
    created = isoformat_ms(policy.created_at) if policy.created_at else None
    return policy.as_data() | {"created_at": created}


_FIELDS = tuple(VerdictPolicy.model_fields)
