"""What every answer owes the contract beyond what Schemathesis's own checks look at.

Schemathesis proves an answer matches the OpenAPI document; the document lists a `default`
answer on every operation, so "any status with an envelope" passes there. These checks hold the
service to more: every status it answers is one the document lists for that operation (a 5xx is
`not_a_server_error`'s to report), every error is in the house envelope and tells the truth about
the request it answers (the token endpoint's RFC 6749 errors aside), and no answer carries a
stack trace, a client secret, an access token or another answer's storage key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import schemathesis

from proofs.fuzz.orgs import Org

Case = schemathesis.Case[Any]
Response = schemathesis.Response
TOKEN_PATHS = frozenset({"/oauth2/token", "/v1/oauth/token"})
#: Answers the token paths give before the token handler runs: the house envelope, like any other.
TOKEN_ENVELOPED = frozenset({405, 413, 431})
ENVELOPE = frozenset({"code", "error", "message", "timestamp", "path", "method", "requestId"})
OAUTH_ERROR = frozenset({"error", "error_description"})
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
DOWNLOADS = "/v1/downloads/"
STACK_TRACE = ("Traceback (most recent call last)", 'File "/')


@dataclass
class Watched:
    """What no answer may contain, gathered while the run goes on."""

    #: The orgs whose client secrets and issued access tokens must never be shown.
    orgs: list[Org] = field(default_factory=list)
    #: Storage keys of reports, as the download URLs handed out name them.
    storage_keys: set[str] = field(default_factory=set)
    #: Error answers checked against the envelope (or RFC 6749).
    errors_checked: int = 0


WATCHED = Watched()


@schemathesis.check
def documented_status(ctx: schemathesis.CheckContext, response: Response, case: Case) -> None:
    """The status is one the document lists for the operation, not one `default` covers; a
    method the path does not serve is a 405 whose `Allow` names the one it does."""
    status = response.status_code
    if case.method.upper() != case.operation.method.upper():
        assert status == 405, f"{case.method} on {case.operation.path}: {status}"
        allowed = response.headers.get("allow", [""])[0].split(", ")
        assert case.operation.method.upper() in allowed, f"Allow: {allowed}"
        return
    listed = case.operation.definition.raw.get("responses", {})
    assert status >= 500 or str(status) in listed, (
        f"{case.operation.label} answered {status}, which the document does not list "
        f"(it lists {', '.join(listed)})"
    )


@schemathesis.check
def house_envelope(ctx: schemathesis.CheckContext, response: Response, case: Case) -> None:
    """Every error is in the house envelope, naming the request it answers; the token
    endpoint's own refusals are RFC 6749 §5.2 bodies instead."""
    if response.status_code < 400:
        return
    WATCHED.errors_checked += 1
    body = _json_object(response)
    path = urlsplit(str(response.request.url)).path
    if path in TOKEN_PATHS and response.status_code not in TOKEN_ENVELOPED:
        assert set(body) >= OAUTH_ERROR, f"not an RFC 6749 error body: {body}"
        return
    assert set(body) >= ENVELOPE, f"missing {sorted(ENVELOPE - set(body))}: {body}"
    assert body["code"] == response.status_code, body
    assert body["method"] == response.request.method, body
    assert body["requestId"] == response.headers["x-request-id"][0], body
    assert TIMESTAMP.fullmatch(body["timestamp"]), body
    if path.startswith(DOWNLOADS):
        assert body["path"] == DOWNLOADS + "{key}", f"a download's key in the envelope: {body}"
    elif "%" not in path:  # escaped, it is what the client escaped, not what the server read
        assert body["path"] == path, body


@schemathesis.check
def nothing_leaks(ctx: schemathesis.CheckContext, response: Response, case: Case) -> None:
    """No answer shows a stack trace, a secret or a token; only a download URL names its
    report's storage key."""
    text = response.content.decode("utf-8", errors="replace")
    for marker in STACK_TRACE:
        assert marker not in text, f"a stack trace in the answer: {text[:500]}"
    for org in WATCHED.orgs:
        for secret in (org.client.client_secret, *org.tokens.issued):
            assert secret not in text, f"org {org.name}'s secret or a token of it in the answer"
    if not case.operation.path.endswith("/url"):
        for key in WATCHED.storage_keys:
            assert key not in text, f"the storage key {key!r} in the answer"


def _json_object(response: Response) -> dict[str, Any]:
    assert response.headers.get("content-type", [""])[0].startswith("application/json"), (
        f"an error that is not JSON: {response.headers.get('content-type')}"
    )
    body = json.loads(response.content)
    assert isinstance(body, dict), f"an error body that is not an object: {body!r}"
    return body
