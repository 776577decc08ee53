"""The OpenAPI document, complete enough for a client generator to trust.

FastAPI derives paths, parameters and bodies from the code; it cannot see the headers an answer
carries, the answers middleware gives before a route runs, or which OAuth2 scope a route checks
in its body. Routes declare their own headers and scope with the pieces below; `complete` adds
what holds for every operation (the request id, the challenge and retry headers, 413 and 431),
once FastAPI has built the document. No FastAPI here: this module only edits JSON.
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

#: The security schemes' names in `components.securitySchemes`.
OAUTH2 = "oauth2"
CLIENT_BASIC = "clientBasic"
#: Where the OAuth2 client-credentials flow gets its tokens (the API reference's path).
TOKEN_URL = "/oauth2/token"  # noqa: S105 (a path, not a password)

_ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}
_REQUEST_ID = "X-Request-ID"
#: The status codes every operation can answer before its route runs, from app-wide middleware
#: (`http_limits`); 413 only where the operation takes a body.
_HEADERS_TOO_LARGE = "The request headers are over 32 KiB"
_BODY_TOO_LARGE = "The request body is over 64 KiB"
_ANY_OTHER_ERROR = "Any other error"
STRING: Json = {"type": "string"}
SECONDS: Json = {"type": "integer", "minimum": 0}


def header(description: str, schema: Json | None = None, *, required: bool = True) -> Json:
    """An OpenAPI header object (a string, unless `schema` says otherwise)."""
    return {"description": description, "required": required, "schema": schema or STRING}


def optional(documented: Json, when: str) -> Json:
    """`documented`, as a header that only some answers carry (`when` says which)."""
    return documented | {"required": False, "description": f"{documented['description']} {when}"}


def cache_control(value: str) -> Json:
    return header("How long the answer may be kept.", {"type": "string", "enum": [value]})


def answer(description: str, headers: dict[str, Json]) -> Json:
    """A `responses` entry for FastAPI: what the answer means and the headers it carries."""
    return {"description": description, "headers": headers}


def requires(scope: str) -> Json:
    """`openapi_extra` of a route that checks `scope`: the OAuth2 requirement it documents.

    FastAPI lists the bearer scheme of a route's dependencies without scopes when a route
    checks its scope in its body (the status poll does, to stay one statement); `complete`
    merges the two requirements into one.
    """
    return {"security": [{OAUTH2: [scope]}]}


LOCATION = header(
    "The job's status URL, relative to this server: `/v1/document/api/{jobId}`.",
    {"type": "string", "format": "uri-reference"},
)
RATE_LIMIT_POLICY = header(
    "The org's creation quota (IETF RateLimit header fields): "
    '`"report-creations";q=10;w=600` is 10 accepted creations in any 600 s.'
)
RATE_LIMIT = header(
    'What is left of the quota: `"report-creations";r=9;t=600` is 9 creations left, and '
    "600 s until the oldest creation in the window frees its slot."
)
IDEMPOTENT_REPLAYED = header(
    "`true`: the same `Idempotency-Key` and body as an earlier request; this is that job.",
    {"type": "string", "enum": ["true"]},
)
PREFERENCE_APPLIED = header(
    "RFC 7240: the `wait=N` of the request's `Prefer` that was honoured (N capped).",
    {"type": "string", "pattern": "^wait=[0-9]+$"},
)
POLL_AGAIN = header(
    "Seconds to wait before polling again: 3 while the job is younger than 30 s, 10 after.",
    SECONDS,
)
NO_STORE = cache_control("no-store")

_X_REQUEST_ID = header(
    "The request's id: the caller's own `X-Request-ID` when it is a valid one, otherwise one "
    "the service made. Error bodies carry it too (`requestId`); quote it to support."
)
_RETRY_AFTER = header("Seconds to wait before retrying.", SECONDS)
_BEARER_CHALLENGE = header(
    'RFC 6750: `Bearer realm="sqr-reports"`, with `error="invalid_token"` when a token was '
    "sent but is not valid (none when no token was sent)."
)
_SCOPE_CHALLENGE = optional(
    header('RFC 6750: `Bearer realm="sqr-reports", error="insufficient_scope", scope="..."`.'),
    "Sent when the token lacks the scope, not when the org is inactive.",
)
_CLIENT_BASIC_SCHEME = {
    "type": "http",
    "scheme": "basic",
    "description": "RFC 6749 §2.3.1 client authentication at the token endpoint: the client id "
    "and secret as HTTP Basic credentials, instead of `client_id` and `client_secret` in the body.",
}


def complete(document: Json, *, server_url: str) -> Json:
    """Add to FastAPI's `document` what holds for every operation; returns it, edited in place.

    Idempotent: FastAPI keeps the document it built, and this runs on every request for it.
    """
    document["servers"] = [{"url": server_url, "description": "This service"}]
    components = document.setdefault("components", {})
    components.setdefault("headers", {})[_REQUEST_ID] = _X_REQUEST_ID
    components.setdefault("securitySchemes", {})[CLIENT_BASIC] = _CLIENT_BASIC_SCHEME
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            _complete_operation(operation)
    return document


def _complete_operation(operation: Json) -> None:
    _merge_bearer_requirements(operation)
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "header":
            _never_null(parameter["schema"])
    responses: Json = operation.setdefault("responses", {})
    refused = {"431": _HEADERS_TOO_LARGE, "default": _ANY_OTHER_ERROR}
    if "requestBody" in operation:
        refused["413"] = _BODY_TOO_LARGE
    for code, description in refused.items():
        responses.setdefault(code, _error(description))
    secured = any(OAUTH2 in requirement for requirement in operation.get("security", []))
    for code, response in responses.items():
        headers: Json = response.setdefault("headers", {})
        headers.setdefault(_REQUEST_ID, {"$ref": f"#/components/headers/{_REQUEST_ID}"})
        for name, documented in _headers_by_status(code, secured=secured).items():
            headers.setdefault(name, documented)
    # In status order (`default` last), as readers of the pages look for them.
    operation["responses"] = dict(
        sorted(responses.items(), key=lambda r: (r[0] == "default", r[0]))
    )


def _headers_by_status(code: str, *, secured: bool) -> dict[str, Json]:
    """Headers that every answer with this status carries, whichever route gives it: the
    error handlers set them (`errors.Unauthenticated`, `InsufficientScope`, `http_errors`)."""
    if code in ("429", "503"):
        return {"Retry-After": _RETRY_AFTER}
    if code == "401" and secured:
        return {"WWW-Authenticate": _BEARER_CHALLENGE}
    if code == "403" and secured:
        return {"WWW-Authenticate": _SCOPE_CHALLENGE}
    return {}


def _merge_bearer_requirements(operation: Json) -> None:
    """One OAuth2 requirement with all the scopes the operation needs.

    Separate requirement objects mean "any one of these" in OpenAPI, but every security
    dependency of a route must pass; and a route's own `requires` comes after FastAPI's.
    """
    requirements: list[Json] = operation.get("security", [])
    bearer = [r for r in requirements if set(r) == {OAUTH2}]
    if len(bearer) < 2:
        return
    scopes = list(dict.fromkeys(scope for r in bearer for scope in r[OAUTH2]))
    others = [r for r in requirements if set(r) != {OAUTH2}]
    operation["security"] = [{OAUTH2: scopes}, *others]


def _never_null(schema: Json) -> None:
    """A header is a string or absent, never null: FastAPI documents an optional `str | None`
    header as either, which a generator would pass on to its users."""
    members = schema.get("anyOf", [])
    if {"type": "null"} in members and len(members) == 2:
        [kept] = [member for member in members if member != {"type": "null"}]
        del schema["anyOf"]
        schema.update(kept)


def _error(description: str) -> Json:
    return {"description": description, "content": {"application/json": {"schema": _ENVELOPE}}}
