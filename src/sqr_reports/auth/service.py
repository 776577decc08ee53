"""Token grants, bearer-token authorisation, and API-client administration."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus

from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.audit import service as audit
from sqr_reports.audit.models import AuditEvent
from sqr_reports.auth import repository, scopes
from sqr_reports.auth.credentials import (
    HasherBusy,
    SecretHasher,
    new_client_id,
    new_client_secret,
)
from sqr_reports.auth.models import ApiClient, ClientStatus
from sqr_reports.auth.repository import Grant
from sqr_reports.auth.throttle import FailureThrottle
from sqr_reports.auth.tokens import (
    InvalidToken,
    TokenClaims,
    TokenCodec,
    TokenVerifier,
    new_token_id,
)
from sqr_reports.clock import Clock
from sqr_reports.db.clock import SessionClock
from sqr_reports.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InsufficientScope,
    NotFound,
    OAuthError,
    Unauthenticated,
)
from sqr_reports.orgs import repository as orgs
from sqr_reports.orgs.models import Org, OrgStatus

#: The longest client id there can be; a claimed one is recorded cut to it.
CLAIMED_ID_LENGTH = 64
_CLIENT_ID = re.compile(rf"^[\x21-\x7e]{{1,{CLAIMED_ID_LENGTH}}}$")
#: The shape of the ids this service issues (`new_client_id`); a secret never has it.
_ISSUED_ID = re.compile(r"^sqr_[0-9a-f]{24}$")


@dataclass(frozen=True, slots=True)
class TokenRequest:
    grant_type: str | None
    client_id: str | None
    client_secret: str | None
    scope: str | None


@dataclass(frozen=True, slots=True)
class TokenGrant:
    access_token: str
    expires_in: int
    scope: str


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: re-validated against the database on every request."""

    client_id: str
    org_id: str


async def grant_token(
    session: AsyncSession,
    request: TokenRequest,
    *,
    hasher: SecretHasher,
    codec: TokenCodec,
    clock: Clock,
    throttle: FailureThrottle,
    audit_session: AsyncSession,
    audit_clock: SessionClock,
    origin: audit.Origin,
) -> TokenGrant:
    """OAuth 2.0 client-credentials grant (RFC 6749 §4.4); failed client authentications are
    throttled per client id and per source address (`auth.throttle`).

    The grant and each refusal of checked credentials are recorded in `audit_session` (the
    caller commits it, on a refusal too); `session` only reads, so the Argon2 check never runs
    under SQLite's write lock. A malformed or throttled request is not recorded: it costs the
    sender nothing, so recording it would let anyone make the service write (ADR 0021)."""
    client_id, secret = _credentials(request)
    source = origin.source or "unknown"
    if wait := throttle.wait_seconds(client_id, source):
        raise _throttled(wait)
    found = await _find(session, client_id)
    try:
        client = await _authenticate(hasher, found, secret)
    except OAuthError as failed:
        if failed.oauth_error == "invalid_client":
            throttle.failed(client_id, source)
            await _record_refusal(audit_session, audit_clock, _recorded_id(client_id, found),
                                  failed, origin)  # fmt: skip
        raise
    throttle.succeeded(client_id)
    try:
        granted = _granted_scopes(client, request.scope)
    except OAuthError as refused:
        await _record_refusal(audit_session, audit_clock, client_id, refused, origin,
                              org_id=client.org_id)  # fmt: skip
        raise
    jti = new_token_id()
    token = codec.issue(client_id=client.client_id, org_id=client.org_id, scopes=granted,
                        now=clock.now(), jti=jti)  # fmt: skip
    issued = audit.Entry(AuditEvent.TOKEN_ISSUED, audit.client_actor(client.client_id),
                         client.org_id, origin=origin,
                         details={"scope": " ".join(granted), "jti": jti})  # fmt: skip
    await audit.record(audit_session, audit_clock, issued)
    return TokenGrant(access_token=token, expires_in=codec.ttl, scope=" ".join(granted))


def _credentials(request: TokenRequest) -> tuple[str, str]:
    """The client id and secret, once RFC 6749's checks of the request itself pass."""
    if not request.grant_type:
        raise OAuthError("invalid_request", "The grant_type parameter is required")
    if request.grant_type != "client_credentials":
        raise OAuthError("unsupported_grant_type", "Only client_credentials is supported")
    if not request.client_id or not request.client_secret:
        raise OAuthError("invalid_client", "Client authentication failed")
    return request.client_id, request.client_secret


def _throttled(wait: int) -> OAuthError:
    failure = OAuthError(
        "temporarily_unavailable",
        "Too many failed client authentications; retry after Retry-After seconds",
        status=HTTPStatus.TOO_MANY_REQUESTS,
    )
    failure.headers["Retry-After"] = str(wait)
    return failure


async def _record_refusal(
    session: AsyncSession,
    clock: SessionClock,
    claimed_client_id: str,
    refusal: OAuthError,
    origin: audit.Origin,
    *,
    org_id: str | None = None,
) -> None:
    """A refusal of checked credentials (`invalid_client`) or of the scopes asked for
    (`invalid_scope`, `org_id` then known): the id as claimed, cut to the longest a client id
    can be, and the reason; never the secret. A client that is unknown, revoked or of a
    suspended org is one reason, as the answer is, so the trail tells no more than it.

    An unknown id is recorded as claimed only if it is shaped like the ids we issue; any other
    is recorded as `_recorded_id` says (a secret pasted into the id field must not reach the trail,
    while repeated attempts with one id still show as one)."""
    actor = audit.ANONYMOUS if org_id is None else audit.client_actor(claimed_client_id)
    details = {"client_id": claimed_client_id[:CLAIMED_ID_LENGTH], "reason": refusal.oauth_error}
    entry = audit.Entry(AuditEvent.TOKEN_REFUSED, actor, org_id, origin=origin, details=details)
    await audit.record(session, clock, entry)


def _recorded_id(claimed_client_id: str, found: tuple[ApiClient, Org] | None) -> str:
    """What the trail records of a claimed id: the id, if it names a client or is shaped like
    one of ours; otherwise a prefix of its SHA-256, which says nothing of a 256-bit secret
    typed there."""
    if found is not None or _ISSUED_ID.match(claimed_client_id):
        return claimed_client_id
    return "sha256:" + hashlib.sha256(claimed_client_id.encode()).hexdigest()[:16]


async def _find(session: AsyncSession, client_id: str) -> tuple[ApiClient, Org] | None:
    """The client with this id and its org, if there is one (a malformed id never names one)."""
    if not _CLIENT_ID.match(client_id):
        return None
    return await repository.get_client_and_org(session, client_id)


async def _authenticate(
    hasher: SecretHasher, found: tuple[ApiClient, Org] | None, secret: str
) -> ApiClient:
    """The client found, if it is active, of an active org, and `secret` is its secret; else
    `invalid_client`, after the same Argon2 check whether a client was found or not."""
    stored_hash = found[0].secret_hash if found else None
    # Argon2 runs off the event loop, and runs for unknown clients too (same timing).
    secret_ok = await _verify(hasher, stored_hash, secret)
    if found is None or not secret_ok:
        raise OAuthError("invalid_client", "Client authentication failed")
    client, org = found
    if client.status != ClientStatus.ACTIVE or org.status != OrgStatus.ACTIVE:
        raise OAuthError("invalid_client", "Client authentication failed")
    return client


async def _verify(hasher: SecretHasher, stored_hash: str | None, secret: str) -> bool:
    try:
        return await hasher.verify_async(stored_hash, secret)
    except HasherBusy:
        failure = OAuthError(
            "temporarily_unavailable",
            "Too many token requests at once; retry shortly",
            status=HTTPStatus.SERVICE_UNAVAILABLE,
        )
        failure.headers["Retry-After"] = "1"
        raise failure from None


def _granted_scopes(client: ApiClient, requested: str | None) -> list[str]:
    allowed = [scope for scope in scopes.ALL if scope in client.scope_set]
    if requested is None or not requested.strip():
        return allowed
    wanted = requested.split()
    if any(scope not in client.scope_set for scope in wanted):
        raise OAuthError("invalid_scope", "The requested scope exceeds what the client holds")
    return [scope for scope in allowed if scope in wanted]


def verified_claims(verifier: TokenVerifier, token: str) -> TokenClaims:
    """The bearer token's claims: who calls, not yet what it may do (`check_grant` says that)."""
    try:
        return verifier.verify(token)
    except InvalidToken as exc:
        raise Unauthenticated(str(exc), challenge_error="invalid_token") from exc


async def authorize(session: AsyncSession, claims: TokenClaims, required_scope: str) -> Principal:
    """The per-call re-check against the database: client active, scope still held, org active."""
    return check_grant(
        claims, await repository.get_grant(session, claims.client_id), required_scope
    )


def check_grant(claims: TokenClaims, grant: Grant | None, required_scope: str) -> Principal:
    """Judge a verified token by what the database says of its client now (`grant`; None: no
    such client). Split from reading the grant so that a hot path can read it in the same
    statement as its own data (`reports.service.job_status`)."""
    if grant is None or grant.client_status != ClientStatus.ACTIVE or grant.org_id != claims.org_id:
        raise Unauthenticated("Client is no longer authorised", challenge_error="invalid_token")
    if grant.org_status != OrgStatus.ACTIVE:
        raise Forbidden("The organisation is not active")
    if required_scope not in claims.scopes or required_scope not in grant.scopes:
        raise InsufficientScope(required_scope)
    return Principal(client_id=claims.client_id, org_id=grant.org_id)


async def create_client(
    session: AsyncSession,
    org_id: str,
    requested_scopes: list[str] | None = None,
    *,
    hasher: SecretHasher,
    clock: SessionClock,
    client_id: str | None = None,
) -> tuple[ApiClient, str]:
    """Register a client; the plain secret is returned once and never stored."""
    if await orgs.get(session, org_id) is None:
        raise NotFound(f"No org with id {org_id}")
    wanted = list(scopes.DEFAULT) if requested_scopes is None else requested_scopes
    unknown = sorted(set(wanted) - set(scopes.ALL))
    if unknown or not wanted:
        raise BadRequest(f"Scopes must be a non-empty subset of: {' '.join(scopes.ALL)}")
    secret = new_client_secret()
    secret_hash = await hasher.hash_async(secret)
    client = ApiClient(
        client_id=client_id or new_client_id(),
        org_id=org_id,
        secret_hash=secret_hash,
        scopes=" ".join(scope for scope in scopes.ALL if scope in wanted),
        status=ClientStatus.ACTIVE,
        created_at=await clock.now(session),
    )
    return await repository.add_client(session, client), secret


async def revoke_client(session: AsyncSession, clock: SessionClock, client_id: str) -> ApiClient:
    client = await repository.get_client(session, client_id)
    if client is None:
        raise NotFound(f"No client with id {client_id}")
    if client.status != ClientStatus.REVOKED:
        client.status = ClientStatus.REVOKED
        client.revoked_at = await clock.now(session)
        await session.flush()
    return client


async def get_client(session: AsyncSession, client_id: str) -> ApiClient:
    client = await repository.get_client(session, client_id)
    if client is None:
        raise NotFound(f"No client with id {client_id}")
    return client


async def list_clients(session: AsyncSession, org_id: str | None = None) -> Sequence[ApiClient]:
    return await repository.list_clients(session, org_id)


async def rotate_secret(session: AsyncSession, hasher: SecretHasher, client_id: str) -> str:
    """Give a client a new secret; the old one stops working at once.

    No grace period: a client can hold only one secret, and a rotation is most often made
    because the old one leaked. Tokens already issued stay valid until they expire (an hour at
    most); `revoke_client` is what stops them at once."""
    client = await get_client(session, client_id)
    if client.status == ClientStatus.REVOKED:
        raise Conflict(f"Client {client_id} is revoked; register a new client instead")
    secret = new_client_secret()
    client.secret_hash = await hasher.hash_async(secret)
    await session.flush()
    return secret
