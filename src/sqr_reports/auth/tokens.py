"""RS256 access tokens: issued by the token endpoint, verified on every API call."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import jwt
from jwt.types import Options

from sqr_reports.auth.keys import KeyRing

ALGORITHM = "RS256"
ORG_CLAIM = "org_id"
#: PyJWT checks the signature, the issuer, the audience and that every claim is there; the
#: times (`_TIMES`) are checked by the codec itself (see `verify`).
_OPTIONS: Options = {
    "require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"],
    "verify_exp": False,
    "verify_iat": False,
    "verify_nbf": False,
}
_TIMES = ("exp", "iat", "nbf")


@dataclass(frozen=True, slots=True)
class TokenClaims:
    client_id: str
    org_id: str
    scopes: frozenset[str]
    #: The `exp` claim (Unix seconds): no cache may keep these claims beyond it.
    expires_at: float
    #: The key that signed the token: no cache may keep these claims once it is retired.
    kid: str = ""


class TokenVerifier(Protocol):
    """`TokenCodec`, or the cache of its verified tokens (`auth.token_cache`)."""

    def verify(self, token: str) -> TokenClaims: ...


class InvalidToken(Exception):
    """The token is not one we issued, or no longer valid. The message is safe to show."""


def new_token_id() -> str:
    """A token's `jti`: random, so that it tells nothing of the token."""
    return str(uuid.uuid4())


class TokenCodec:
    def __init__(
        self,
        keys: KeyRing,
        *,
        issuer: str,
        audience: str,
        ttl: int,
        leeway: int,
        now: Callable[[], float] = time.time,
    ):
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self.ttl = ttl
        self._leeway = leeway
        #: The wall clock (Unix seconds) a token's times are checked against: the process's, as
        #: PyJWT would read it; injectable so that expiry can be tested without sleeping.
        self.now = now

    def issue(
        self,
        *,
        client_id: str,
        org_id: str,
        scopes: list[str],
        now: datetime,
        jti: str | None = None,
    ) -> str:
        """A signed token; `jti` given by a caller that records it (the audit trail names a
        token by its id, never by the token itself)."""
        issued_at = int(now.timestamp())
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": client_id,
            ORG_CLAIM: org_id,
            "scope": " ".join(scopes),
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + self.ttl,
            "jti": jti or new_token_id(),
        }
        key = self._keys.signing_key
        return jwt.encode(
            claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": "JWT"}
        )

    def verify(self, token: str) -> TokenClaims:
        """Accept only RS256 tokens signed by one of our keys, for us, and in date.

        `exp`, `nbf` and `iat` are checked against `now` (the process's wall clock, with our
        leeway, exactly as PyJWT compares them): a token's times travel between machines, so
        they are the process clock's business (ADR 0011). They are checked here rather than by
        PyJWT so that the verified-token cache (`auth.token_cache`) and this check read one clock.
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("Malformed token") from exc
        kid = header.get("kid")
        key = self._keys.verification_key(kid) if isinstance(kid, str) else None
        if header.get("alg") != ALGORITHM or key is None or not isinstance(kid, str):
            raise InvalidToken("Token is not signed by a known key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options=_OPTIONS,
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken("Token is invalid") from exc
        expires_at, issued_at, not_before = (_seconds(claims.get(name)) for name in _TIMES)
        now = self.now()
        if expires_at <= now - self._leeway:
            raise InvalidToken("Token has expired")
        if not_before > now + self._leeway or issued_at > now + self._leeway:
            raise InvalidToken("Token is not valid yet")
        return _claims_from(claims, expires_at, kid)

    def knows(self, kid: str) -> bool:
        """Whether a key with this id still verifies (a retired one does not)."""
        return self._keys.verification_key(kid) is not None


def _seconds(value: object) -> float:
    """A time claim: a number of Unix seconds (a bool is not one, though Python says so)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken("Token is invalid")
    return value


def _claims_from(claims: dict[str, object], expires_at: float, kid: str) -> TokenClaims:
    """Our own claims, which PyJWT knows nothing of, must have the types we issue."""
    org_id, scope, sub = claims.get(ORG_CLAIM), claims.get("scope"), claims.get("sub")
    if not (isinstance(org_id, str) and isinstance(scope, str) and isinstance(sub, str)):
        raise InvalidToken("Token is invalid")
    return TokenClaims(
        client_id=sub,
        org_id=org_id,
        scopes=frozenset(scope.split()),
        expires_at=expires_at,
        kid=kid,
    )
