"""The fuzz run's two orgs and their real tokens.

Org A is the actor: every generated request carries its token, so the fuzzer reaches past the
authentication checks into every route. Org B is the intruder: its token only ever asks for what
org A's requests revealed. Tokens come from the token endpoint, as any client gets them, and
are kept until a minute before they expire, so a long run renews them instead of failing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import schemathesis

from proofs.live import Client, LiveServer, bearer
from sqr_reports.auth import scopes

#: Every scope there is: a generated request is refused for what it is, never for a scope its
#: token happens to lack.
ALL_SCOPES = " ".join(scopes.ALL)
Case = schemathesis.Case[Any]


@dataclass
class OrgTokens:
    """An org's access token, fetched when first needed and again shortly before it expires."""

    server: LiveServer
    client: Client
    #: Every token fetched, oldest first: none of them may ever appear in an answer.
    issued: list[str] = field(default_factory=list)
    _renew_at: float = 0.0

    def current(self) -> str:
        if not self.issued or time.monotonic() >= self._renew_at:
            self._fetch()
        return self.issued[-1]

    def _fetch(self) -> None:
        body = {"client_id": self.client.client_id, "client_secret": self.client.client_secret,
                "grant_type": "client_credentials"}  # fmt: skip
        response = httpx.post(f"{self.server.base_url}/oauth2/token", json=body, timeout=30)
        assert response.status_code == 200, response.text
        granted = response.json()
        self.issued.append(granted["access_token"])
        self._renew_at = time.monotonic() + granted["expires_in"] - 60


@dataclass(frozen=True)
class Org:
    name: str
    client: Client
    #: A user connected to this org only: reports for it complete, so downloads get fuzzed too.
    user_id: str
    tokens: OrgTokens

    def headers(self) -> dict[str, str]:
        return bearer(self.tokens.current())


def provision(server: LiveServer, name: str, user_id: str) -> Org:
    """An org with a client holding every scope and one connected user, made by the CLI."""
    client = server.org(f"Fuzz Org {name}", ALL_SCOPES)
    server.connect_user(user_id, client.org_id)
    return Org(name, client, user_id, OrgTokens(server, client))


def bearer_auth(org: Org) -> type[schemathesis.AuthProvider[str]]:
    """An auth provider class sending `org`'s current token. Schemathesis makes the instance
    itself (with no arguments), hence a class per org; `org.tokens` does the caching."""

    class OrgBearer:
        def get(self, case: Case, context: schemathesis.AuthContext) -> str:
            return org.tokens.current()

        def set(self, case: Case, data: str, context: schemathesis.AuthContext) -> None:
            case.headers.update(bearer(data))

    return OrgBearer
