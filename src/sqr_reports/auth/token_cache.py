"""Verified tokens, remembered for their lifetime: an RS256 check costs more than the rest of a
status poll, and a client polls with the same token for up to an hour.

Only the outcome of `TokenCodec.verify` is kept (the signature, issuer, audience and claims are
what they were a second ago); whether the client is still active, still holds the scope and its
org is still active is re-read from the database on every call, so revocation, a removed scope
or a suspended org take effect on the very next call, cached token or not.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from sqr_reports.auth.tokens import TokenClaims, TokenCodec


class VerifiedTokenCache:
    """`TokenCodec.verify`, remembered per token until the token's `exp`.

    Keyed by the token's SHA-256, so the tokens themselves are not kept in memory. At most
    `max_entries` tokens (least recently used out first; 0 turns the cache off), and an entry
    is never used at or after its token's `exp`: a token past it is verified again, by the same
    clock as the codec's, and refused. Only verified tokens are kept; a bad one costs a full
    verification every time, as it did before. Nor is an entry used once the key that signed
    its token is retired (`sqr-reports keys retire`): the token is verified again, and refused.
    """

    def __init__(self, codec: TokenCodec, *, max_entries: int):
        self._codec = codec
        self._max_entries = max_entries
        self._entries: OrderedDict[bytes, TokenClaims] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def verify(self, token: str) -> TokenClaims:
        """The token's claims, or `InvalidToken` (from the codec)."""
        key = hashlib.sha256(token.encode()).digest()
        claims = self._entries.get(key)
        if claims is not None:
            if self._codec.now() < claims.expires_at and self._codec.knows(claims.kid):
                self._entries.move_to_end(key)
                return claims
            del self._entries[key]
        claims = self._codec.verify(token)
        if self._max_entries and self._codec.now() < claims.expires_at:
            self._entries[key] = claims
            if len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return claims
