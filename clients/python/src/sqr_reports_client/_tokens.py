"""The bearer token: asked for once, reused, and replaced shortly before it expires.

Tokens cost the service a slow hash check, so a client should ask rarely: it keeps the token
until `expires_in` minus a margin (60 s, or a tenth of the lifetime for short-lived tokens) and
replaces it then, or at once when the service says it is no longer valid. Expiry is tracked on
the monotonic clock from before the request was sent, so neither a slow answer nor a change of
the wall clock makes a stale token look fresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

REFRESH_MARGIN_SECONDS = 60.0
REFRESH_MARGIN_SHARE = 0.1


@dataclass(frozen=True, slots=True)
class Grant:
    """A token endpoint's answer."""

    access_token: str = field(repr=False)
    expires_in: float
    scope: str

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Grant:
        return cls(
            access_token=str(body["access_token"]),
            expires_in=float(body.get("expires_in", 0)),
            scope=str(body.get("scope", "")),
        )


def refresh_margin(expires_in: float) -> float:
    """How long before expiry a token is replaced."""
    return min(REFRESH_MARGIN_SECONDS, expires_in * REFRESH_MARGIN_SHARE)


class TokenCache:
    """The current token and when to replace it. Not locked itself: the client serialises
    refreshes around it (a thread lock or an asyncio lock), which is the only I/O-specific part.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._token: str | None = None
        self._refresh_at = 0.0

    def __repr__(self) -> str:
        return f"TokenCache(has_token={self._token is not None})"

    def usable(self, refused: str | None = None) -> str | None:
        """The cached token unless it is due for replacement or is the one the service just
        refused (another caller may have replaced that one already: then this one is fine)."""
        if self._token is None or self._token == refused or self.clock() >= self._refresh_at:
            return None
        return self._token

    def store(self, grant: Grant, requested_at: float) -> str:
        self._token = grant.access_token
        self._refresh_at = requested_at + grant.expires_in - refresh_margin(grant.expires_in)
        return grant.access_token
