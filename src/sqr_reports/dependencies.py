"""Request-scoped dependencies: the container, a database session, the authenticated caller."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.auth.service import Principal, authorize
from sqr_reports.container import Container
from sqr_reports.errors import Unauthenticated


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_session(request: Request, container: ContainerDep) -> AsyncIterator[AsyncSession]:
    """One session per request; the router commits (the edge), anything else rolls back.

    Safe methods never write, so they get a read-only transaction (no SQLite write lock).
    """
    factory = container.read_sessions if request.method in _SAFE_METHODS else container.sessions
    async with factory() as session:
        yield session


async def get_read_session(container: ContainerDep) -> AsyncIterator[AsyncSession]:
    """For unsafe methods that still only read (the token endpoint)."""
    async with container.read_sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session)]


#: Declares the scheme in OpenAPI ("bearer", JWT); the header itself is parsed below, so that a
#: missing token and a malformed one get the distinct RFC 6750 answers.
bearer_scheme = HTTPBearer(auto_error=False, scheme_name="bearer", bearerFormat="JWT")


async def bearer_token(
    request: Request,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthenticated("Missing bearer token")
    if not token.strip():
        raise Unauthenticated("Empty bearer token", challenge_error="invalid_token")
    return token.strip()


def require_scope(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates the caller and checks `scope` against the database."""

    async def dependency(
        token: Annotated[str, Depends(bearer_token)], session: SessionDep, container: ContainerDep
    ) -> Principal:
        return await authorize(session, container.codec, container.clock, token, scope)

    return dependency
