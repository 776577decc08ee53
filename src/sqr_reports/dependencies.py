"""Request-scoped dependencies: what each route uses, a session, the authenticated caller."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Security
from fastapi.security import OAuth2
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from sqr_reports import correlation
from sqr_reports.apidocs.document import OAUTH2, TOKEN_URL
from sqr_reports.audit.service import Origin
from sqr_reports.auth import scopes
from sqr_reports.auth.credentials import SecretHasher
from sqr_reports.auth.keys import KeyRing
from sqr_reports.auth.service import Principal, authorize, verified_claims
from sqr_reports.auth.throttle import FailureThrottle, source_address
from sqr_reports.auth.tokens import TokenClaims, TokenCodec
from sqr_reports.clock import Clock
from sqr_reports.config import MetricsSettings, WebhookSettings
from sqr_reports.container import Container
from sqr_reports.db.clock import SessionClock
from sqr_reports.db.reads import StatementReads
from sqr_reports.errors import Unauthenticated, UnsupportedMediaType, ValidationFailed
from sqr_reports.lifecycle.service import Retention
from sqr_reports.queue.table import Queued
from sqr_reports.reports.service import JobPolicy
from sqr_reports.reports.waiting import Waiting
from sqr_reports.storage import BlobStore


def _container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


# Each route declares the few things it uses, typed as ports; only this module (part of the
# composition root) reaches into the container. Async functions: FastAPI runs a sync dependency
# in its thread pool, which costs more than the work.


async def get_clock(request: Request) -> Clock:
    return _container(request).clock


async def get_queue_clock(request: Request) -> SessionClock:
    return _container(request).db_clock


async def get_store(request: Request) -> BlobStore:
    return _container(request).store


async def get_job_policy(request: Request) -> JobPolicy:
    return _container(request).policy


async def get_codec(request: Request) -> TokenCodec:
    return _container(request).codec


async def get_hasher(request: Request) -> SecretHasher:
    return _container(request).hasher


async def get_keys(request: Request) -> KeyRing:
    return _container(request).keys


async def get_throttle(request: Request) -> FailureThrottle:
    return _container(request).throttle


async def get_source_address(request: Request) -> str:
    """The client's address (behind the configured trusted proxies, the one they forwarded)."""
    peer = request.client.host if request.client else None
    trusted = _container(request).settings.auth.trusted_proxies
    return source_address(peer, request.headers.get("X-Forwarded-For"), trusted)


async def get_origin(request: Request) -> Origin:
    """Where the request came from, as the audit trail records it: the client's address (as
    `get_source_address` finds it) and the request's id."""
    return Origin(source=await get_source_address(request), request_id=correlation.request_id())


async def get_retention(request: Request) -> Retention:
    return _container(request).retention


async def get_waiting(request: Request) -> Waiting:
    """Called by the routes that honour `Prefer: wait`, only when asked: a dependency costs
    every status poll, and a poll hardly ever waits."""
    return _container(request).waiting


async def get_reader_engine(request: Request) -> AsyncEngine:
    return _container(request).engines.reader


async def get_webhook_settings(request: Request) -> WebhookSettings:
    return _container(request).settings.webhooks


async def get_metrics_settings(request: Request) -> MetricsSettings:
    return _container(request).settings.metrics


async def get_queue_tables(request: Request) -> Mapping[str, type[Queued]]:
    return _container(request).queue_tables


@dataclass(frozen=True, slots=True)
class DownloadLinks:
    """How download URLs are made for this request: their lifetime and the service's base URL."""

    ttl_seconds: int
    base_url: str


async def get_download_links(request: Request) -> DownloadLinks:
    settings = _container(request).settings
    return DownloadLinks(
        ttl_seconds=settings.storage.download_url_ttl_seconds,
        base_url=settings.public_url or str(request.base_url),
    )


ClockDep = Annotated[Clock, Depends(get_clock)]
QueueClockDep = Annotated[SessionClock, Depends(get_queue_clock)]
StoreDep = Annotated[BlobStore, Depends(get_store)]
JobPolicyDep = Annotated[JobPolicy, Depends(get_job_policy)]
CodecDep = Annotated[TokenCodec, Depends(get_codec)]
HasherDep = Annotated[SecretHasher, Depends(get_hasher)]
KeysDep = Annotated[KeyRing, Depends(get_keys)]
ThrottleDep = Annotated[FailureThrottle, Depends(get_throttle)]
OriginDep = Annotated[Origin, Depends(get_origin)]
RetentionDep = Annotated[Retention, Depends(get_retention)]
ReaderEngineDep = Annotated[AsyncEngine, Depends(get_reader_engine)]
WebhookSettingsDep = Annotated[WebhookSettings, Depends(get_webhook_settings)]
DownloadLinksDep = Annotated[DownloadLinks, Depends(get_download_links)]
MetricsSettingsDep = Annotated[MetricsSettings, Depends(get_metrics_settings)]
QueueTablesDep = Annotated[Mapping[str, type[Queued]], Depends(get_queue_tables)]


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; the router commits (the edge), anything else rolls back.

    Safe methods never write, so they get a read-only transaction (no SQLite write lock).
    """
    container = _container(request)
    factory = container.read_sessions if request.method in _SAFE_METHODS else container.sessions
    async with factory() as session:
        yield session


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """For unsafe methods that still only read (the token endpoint's check of credentials,
    which must not hold SQLite's write lock through Argon2)."""
    async with _container(request).read_sessions() as session:
        yield session


async def get_write_session(request: Request) -> AsyncIterator[AsyncSession]:
    """For safe methods that still write: minting a download URL, and a download, append to
    the audit trail (on SQLite this takes the write lock, in turn with other writers); and for
    the token endpoint's record of a grant or refusal, written only once the check is done."""
    async with _container(request).sessions() as session:
        yield session


async def get_statement_reads(request: Request) -> StatementReads:
    """For routes whose read is one statement: no session, no transaction (`db.reads`)."""
    return _container(request).statement_reads


SessionDep = Annotated[AsyncSession, Depends(get_session)]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session)]
WriteSessionDep = Annotated[AsyncSession, Depends(get_write_session)]
StatementReadsDep = Annotated[StatementReads, Depends(get_statement_reads)]


def bearer_token(request: Request) -> str:
    """The Authorization header's bearer token, parsed here so that a missing token and a
    malformed one get the distinct RFC 6750 answers."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthenticated("Missing bearer token")
    if not token.strip():
        raise Unauthenticated("Empty bearer token", challenge_error="invalid_token")
    return token.strip()


class BearerClaims(OAuth2):
    """The bearer token, verified (and remembered for its lifetime: `auth.token_cache`): who
    calls, not what it may do, which every route re-checks against the database.

    One dependency that also declares the scheme in OpenAPI: a status poll is a few hundred
    microseconds, and each dependency level costs FastAPI about ten. The scheme is OAuth2's
    client-credentials flow, not a bare bearer token, so that generated clients and the docs
    page's Authorize button know where to get a token and which scopes there are.
    """

    async def __call__(self, request: Request) -> TokenClaims:  # type: ignore[override]
        claims = verified_claims(_container(request).tokens, bearer_token(request))
        correlation.annotate(org_id=claims.org_id)  # the request's later log lines name it
        return claims


bearer_claims = BearerClaims(
    flows={"clientCredentials": {"tokenUrl": TOKEN_URL, "scopes": scopes.DESCRIPTIONS}},
    scheme_name=OAUTH2,
    description="OAuth 2.0 client credentials (RFC 6749 §4.4): the token is an RS256 JWT, sent "
    "as `Authorization: Bearer <token>`. Scopes are re-checked against the database on every call.",
    auto_error=False,
)
ClaimsDep = Annotated[TokenClaims, Security(bearer_claims)]
Authorizer = Callable[..., Awaitable[Principal]]
Model = TypeVar("Model", bound=BaseModel)


def media_type(request: Request) -> str:
    """The request's Content-Type without parameters, lower-cased ("" when there is none)."""
    return request.headers.get("Content-Type", "").partition(";")[0].strip().lower()


def json_body(model: type[Model], after: Authorizer) -> Any:
    """The route's JSON body as `model`, read only once `after` has authorised the caller.

    FastAPI would read and decode a declared body before any dependency runs, so an anonymous
    caller would learn from a 400 what only a client should. Declared as a dependency of the
    authorisation instead (FastAPI runs that once per request), it keeps the order; a bad body
    is 415 or 400 in the house envelope. Document it with `json_request_body(model)`.
    """

    # A default, not `Annotated`: `after` is local, and FastAPI resolves string annotations
    # against the module's globals.
    async def dependency(request: Request, _: Principal = Depends(after)) -> Model:  # noqa: B008
        if media_type(request) != "application/json":
            raise UnsupportedMediaType()
        try:
            return model.model_validate_json(await request.body())
        except ValidationError as exc:
            raise ValidationFailed.from_pydantic(exc.errors()) from None

    return Depends(dependency)


def json_request_body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI `requestBody` of a route that takes `json_body(model, ...)`."""
    content = {"application/json": {"schema": model.model_json_schema()}}
    return {"requestBody": {"required": True, "content": content}}


def require_scope(scope: str) -> Authorizer:
    """A dependency that authenticates the caller and checks `scope` against the database."""

    async def dependency(claims: ClaimsDep, session: SessionDep) -> Principal:
        return await authorize(session, claims, scope)

    return dependency
