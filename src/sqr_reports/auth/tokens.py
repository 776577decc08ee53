"""RS256 access tokens: issued by the token endpoint, verified on every API call."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import jwt

from sqr_reports.auth.keys import KeyRing

ALGORITHM = "RS256"
ORG_CLAIM = "org_id"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    client_id: str
    org_id: str
    scopes: frozenset[str]


class InvalidToken(Exception):
    """The token is not one we issued, or no longer valid. The message is safe to show."""


class TokenCodec:
    def __init__(self, keys: KeyRing, *, issuer: str, audience: str, ttl: int, leeway: int):
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self.ttl = ttl
        self._leeway = leeway

    def issue(self, *, client_id: str, org_id: str, scopes: list[str], now: datetime) -> str:
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
            "jti": str(uuid.uuid4()),
        }
        key = self._keys.signing_key
        return jwt.encode(
            claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": "JWT"}
        )

    def verify(self, token: str) -> TokenClaims:
        """Accept only RS256 tokens signed by one of our keys, for us, and in date.

        PyJWT checks `exp`, `nbf` and `iat` against the system clock with our leeway: a token's
        times travel between machines, so they are the process clock's business (ADR 0011).
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("Malformed token") from exc
        kid = header.get("kid")
        key = self._keys.verification_key(kid) if isinstance(kid, str) else None
        if header.get("alg") != ALGORITHM or key is None:
            raise InvalidToken("Token is not signed by a known key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("Token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise InvalidToken("Token is not valid yet") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("Token is invalid") from exc
        return _claims_from(claims)


def _claims_from(claims: dict[str, object]) -> TokenClaims:
    """Our own claims, which PyJWT knows nothing of, must have the types we issue."""
    org_id, scope, sub = claims.get(ORG_CLAIM), claims.get("scope"), claims.get("sub")
    if not (isinstance(org_id, str) and isinstance(scope, str) and isinstance(sub, str)):
        raise InvalidToken("Token is invalid")
    return TokenClaims(client_id=sub, org_id=org_id, scopes=frozenset(scope.split()))
