"""Callers without a token, or with one that is not a token: each operation that needs one,
once it has answered org A with a success, is asked again by both, and must refuse them (401,
with the RFC 6750 challenge) rather than do what org A asked.

Schemathesis's own `ignored_auth` check does this for API keys and HTTP schemes, not for OAuth2.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import schemathesis

Case = schemathesis.Case[Any]
#: A bearer token that no issuer signed: the shape of a JWT, the substance of none.
NOT_A_TOKEN = "eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl"
CHALLENGE = 'Bearer realm="sqr-reports"'
INVALID_TOKEN = f'{CHALLENGE}, error="invalid_token"'


@dataclass
class Strangers:
    #: Operations already shown to refuse strangers.
    refused: set[str] = field(default_factory=set)
    answers: Counter[int] = field(default_factory=Counter)
    #: True while a stranger's request is out: it is not org A's.
    busy: bool = False

    def try_after(self, case: Case, response: schemathesis.Response) -> None:
        """After an operation's first success for org A, the same request without a token and
        with a forged one."""
        label = case.operation.label
        if label in self.refused or not 200 <= response.status_code < 300 or not _secured(case):
            return
        self.refused.add(label)
        self.busy = True
        try:
            self._expect_refused(case, None, CHALLENGE)
            self._expect_refused(case, f"Bearer {NOT_A_TOKEN}", INVALID_TOKEN)
        finally:
            self.busy = False

    def _expect_refused(self, case: Case, authorization: str | None, challenge: str) -> None:
        """Refused, and told why: no error named when no token came (RFC 6750 §3.1)."""
        headers = {name: value for name, value in case.headers.items() if name != "Authorization"}
        stranger = case.operation.Case(
            path_parameters=case.path_parameters,
            query=case.query,
            body=case.body,
            media_type=case.media_type,
            headers=headers | ({"Authorization": authorization} if authorization else {}),
        )
        response = stranger.call()
        stranger.validate_response(response)
        self.answers[response.status_code] += 1
        assert response.status_code == 401, f"{case.operation.label}: {response.status_code}"
        sent = response.headers["www-authenticate"][0]
        assert sent == challenge if authorization is None else sent.startswith(challenge), sent


def _secured(case: Case) -> bool:
    requirements = case.operation.definition.raw.get("security", [])
    return any("oauth2" in requirement for requirement in requirements)
