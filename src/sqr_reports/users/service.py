"""Importing users (JSON Lines, upsert) and reading a subject for a report."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.db.clock import SessionClock
from sqr_reports.errors import validation_problems
from sqr_reports.orgs import repository as orgs
from sqr_reports.users import repository
from sqr_reports.users.models import AppUser, Connection, ConnectionStatus, MonitoringEvent
from sqr_reports.users.schemas import UserRecord


@dataclass
class ImportResult:
    imported: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


class RecordRejected(Exception):
    pass


async def import_users(
    session: AsyncSession, clock: SessionClock, lines: Iterable[str]
) -> ImportResult:
    """Upsert one user per line; a bad line is reported and nothing of it is written."""
    result = ImportResult()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = _parse(line)
            async with session.begin_nested():
                await _upsert_or_reject(session, clock, record)
        except RecordRejected as exc:
            result.errors.append((number, str(exc)))
        else:
            result.imported += 1
    return result


def _parse(line: str) -> UserRecord:
    try:
        return UserRecord.model_validate_json(line)
    except ValidationError as exc:
        raise RecordRejected(validation_problems(exc, "line")) from None


async def _upsert_or_reject(session: AsyncSession, clock: SessionClock, record: UserRecord) -> None:
    """What the schema lets through the database may still refuse (PostgreSQL takes no NUL
    characters in text): that line is reported like any other bad line."""
    try:
        await upsert_user(session, clock, record)
    except DBAPIError as exc:
        reason = type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__
        raise RecordRejected(f"the database refused this record ({reason})") from None


async def upsert_user(session: AsyncSession, clock: SessionClock, record: UserRecord) -> AppUser:
    now = await clock.now(session)
    for link in record.connections:
        if await orgs.get(session, link.org_id) is None:
            raise RecordRejected(f"connections: unknown org_id {link.org_id}")
    user = await repository.get_user(session, record.id) or AppUser(id=record.id)
    for name, value in record.profile().items():
        setattr(user, name, value)
    user.updated_at = now
    await repository.save(session, user)
    for link in record.connections:
        connection = await repository.get_connection(session, record.id, link.org_id)
        connection = connection or Connection(user_id=record.id, org_id=link.org_id)
        connection.connection_status = link.connection_status
        connection.data_sharing_agreed = link.data_sharing_agreed
        connection.connected_at = link.connected_at or connection.connected_at or now
        connection.connection_status_updated_at = link.connection_status_updated_at or now
        await repository.save(session, connection)
    if record.monitoring is not None:
        events = [
            MonitoringEvent(user_id=record.id, **event.model_dump()) for event in record.monitoring
        ]
        await repository.replace_monitoring(session, record.id, events)
    return user


@dataclass(frozen=True)
class Subject:
    """Everything a report says about one user, as seen by one org."""

    user: AppUser
    connection: Connection
    monitoring: Sequence[MonitoringEvent]


class UserNotFound(Exception):
    """No such user, or the user was never connected to this org."""


class UserNotConnected(Exception):
    """The user's connection to this org, or their consent to share data, was withdrawn."""


async def load_subject(session: AsyncSession, user_id: str, org_id: str) -> Subject:
    user = await repository.get_user(session, user_id)
    connection = await repository.get_connection(session, user_id, org_id) if user else None
    if user is None or connection is None:
        raise UserNotFound("No user with this id is connected to the organisation")
    if (
        connection.connection_status != ConnectionStatus.CONNECTED
        or not connection.data_sharing_agreed
    ):
        raise UserNotConnected("The user has withdrawn the connection or data-sharing consent")
    monitoring = await repository.monitoring_history(session, user_id)
    return Subject(user=user, connection=connection, monitoring=monitoring)


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What an erasure removed: connections, and whether the profile went too."""

    connections: int
    profile: bool


async def forget_user(session: AsyncSession, user_id: str, org_id: str | None = None) -> Forgotten:
    """Erase what this service holds about a user: the connection to `org_id` (or every one),
    then the profile and monitoring history once no org is connected any more, since nothing
    may use them then. A later `user import` of the same user brings them back: erase the
    user at the source too."""
    connections = await repository.delete_connections(session, user_id, org_id)
    if await repository.has_connections(session, user_id):
        return Forgotten(connections, profile=False)
    return Forgotten(connections, profile=await repository.delete_user(session, user_id))
