"""The OAuth Token API and the JWKS."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, unquote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema

from sqr_reports.apidocs.document import CLIENT_BASIC, NO_STORE, answer, cache_control, header
from sqr_reports.auth.service import TokenRequest, grant_token
from sqr_reports.dependencies import (
    ClockDep,
    CodecDep,
    HasherDep,
    KeysDep,
    OriginDep,
    QueueClockDep,
    ReadSessionDep,
    ThrottleDep,
    WriteSessionDep,
    media_type,
)
from sqr_reports.errors import OAuthError
from sqr_reports.metrics.instruments import instruments

router = APIRouter(tags=["OAuth Token API"])
_FORM = "application/x-www-form-urlencoded"
#: A parameter as clients should send it (documented as a plain string; absent when missing).
_Parameter = Annotated[str | None, WithJsonSchema({"type": "string"})]


class TokenRequestBody(BaseModel):
    """The client-credentials request, as JSON or as a form (or with HTTP Basic credentials).

    Every parameter is an optional string here: which are missing or wrong is the grant's to
    say, in RFC 6749's words (`invalid_request`, `unsupported_grant_type`, `invalid_client`).
    """

    # Strict: a number is not a string; unknown parameters are ignored (RFC 6749 §3.2).
    model_config = ConfigDict(
        strict=True, extra="ignore", json_schema_extra={"required": ["grant_type"]}
    )

    grant_type: Annotated[
        str | None, WithJsonSchema({"type": "string", "enum": ["client_credentials"]})
    ] = None
    client_id: _Parameter = None
    client_secret: _Parameter = None
    scope: _Parameter = Field(default=None, examples=["read:reports download:reports"])


class TokenResponse(BaseModel):
    access_token: str = Field(description="An RS256 JWT; send it as `Authorization: Bearer`.")
    token_type: Literal["Bearer"]
    expires_in: int = Field(examples=[3600], description="Seconds until the token expires")
    scope: str = Field(
        examples=["write:reports read:reports download:reports"],
        description="The granted scopes, space-separated",
    )


class OAuthErrorBody(BaseModel):
    """RFC 6749 §5.2 (and `temporarily_unavailable` for 429 and 503)."""

    error: Literal[
        "invalid_request",
        "invalid_client",
        "invalid_scope",
        "unsupported_grant_type",
        "temporarily_unavailable",
    ]
    error_description: str


class JsonWebKey(BaseModel):
    """An RSA public key (RFC 7517, RFC 7518 §6.3.1)."""

    kty: Literal["RSA"]
    use: Literal["sig"]
    alg: Literal["RS256"]
    kid: str = Field(description="The `kid` of the tokens this key verifies")
    n: str = Field(description="The modulus, base64url")
    e: str = Field(description="The exponent, base64url")


class JsonWebKeySet(BaseModel):
    keys: list[JsonWebKey]


#: RFC 6749 §5.1 and §5.2: no cache may keep a token or an answer to a token request.
_NO_STORE = {"Cache-Control": NO_STORE}
_OAUTH_ERRORS = {
    400: "invalid_request, unsupported_grant_type or invalid_scope (RFC 6749 §5.2)",
    401: "invalid_client: unknown client, wrong secret, or revoked",
    429: "temporarily_unavailable: too many failed client authentications for this "
    "client id or address; see Retry-After",
    503: "temporarily_unavailable: the database is down or too many token requests at once; "
    "see Retry-After",
}
_BASIC_CHALLENGE = header('RFC 6749 §5.2: `Basic realm="sqr-reports"`, to an invalid client.')


_TOKEN_DOCS: dict[str, Any] = {
    "response_model": TokenResponse,
    "openapi_extra": {
        "requestBody": {
            "required": True,
            "content": {
                media: {"schema": TokenRequestBody.model_json_schema()}
                for media in ("application/json", _FORM)
            },
        },
        # The client's credentials in HTTP Basic, or (the empty requirement) in the body.
        "security": [{CLIENT_BASIC: []}, {}],
    },
    "responses": {
        200: answer(
            "The access token",
            _NO_STORE
            | {"Pragma": header("For HTTP/1.0 caches.", {"type": "string", "enum": ["no-cache"]})},
        ),
    }
    | {
        code: {
            "description": text,
            "model": OAuthErrorBody,
            "headers": _NO_STORE | ({"WWW-Authenticate": _BASIC_CHALLENGE} if code == 401 else {}),
        }
        for code, text in _OAUTH_ERRORS.items()
    },
}


@router.post("/oauth2/token", summary="Issue an access token (client credentials)", **_TOKEN_DOCS)
@router.post("/v1/oauth/token", summary="Issue an access token (the guide's path)", **_TOKEN_DOCS)
async def token(
    request: Request,
    session: ReadSessionDep,
    audit_session: WriteSessionDep,
    hasher: HasherDep,
    codec: CodecDep,
    clock: ClockDep,
    audit_clock: QueueClockDep,
    throttle: ThrottleDep,
    origin: OriginDep,
) -> JSONResponse:
    """OAuth 2.0 client-credentials grant: JSON body, form body or HTTP Basic client auth."""
    parameters = await _token_request(request)
    try:
        grant = await grant_token(
            session,
            parameters,
            hasher=hasher,
            codec=codec,
            clock=clock,
            throttle=throttle,
            audit_session=audit_session,
            audit_clock=audit_clock,
            origin=origin,
        )
    except OAuthError:
        await audit_session.commit()  # a refusal's record (if it was one that is recorded)
        raise
    await audit_session.commit()
    body = {
        "access_token": grant.access_token,
        "token_type": "Bearer",
        "expires_in": grant.expires_in,
        "scope": grant.scope,
    }
    instruments().token_requests.labels("issued").inc()  # refusals: `http_errors.app_error`
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@router.get(
    "/.well-known/jwks.json",
    summary="Public keys that verify access tokens",
    response_model=JsonWebKeySet,
    responses={200: answer("The key set", {"Cache-Control": cache_control("public, max-age=300")})},
)
async def jwks(keys: KeysDep) -> JSONResponse:
    """The JSON Web Key Set; several keys are listed while one is being rotated out."""
    return JSONResponse(keys.jwks(), headers={"Cache-Control": "public, max-age=300"})


async def _token_request(request: Request) -> TokenRequest:
    body = await _token_body(request)
    basic = _basic_credentials(request.headers.get("Authorization"))
    if basic is not None:
        if body.client_id not in (None, basic[0]) or body.client_secret is not None:
            raise OAuthError("invalid_request", "Use one client authentication method only")
        body = body.model_copy(update={"client_id": basic[0], "client_secret": basic[1]})
    return TokenRequest(**body.model_dump())


async def _token_body(request: Request) -> TokenRequestBody:
    """The parameters from a JSON or form body (none when the body is empty)."""
    raw, kind = await request.body(), media_type(request)
    if not raw:
        return TokenRequestBody()
    if kind not in ("application/json", _FORM):
        raise OAuthError(
            "invalid_request", f"Send the token request as application/json or {_FORM}"
        )
    try:
        if kind == _FORM:
            return TokenRequestBody.model_validate(_form_parameters(raw))
        return TokenRequestBody.model_validate_json(raw)
    except ValidationError:  # bad JSON or UTF-8, not an object, a parameter not a string
        raise OAuthError("invalid_request", "The token request is malformed") from None


def _form_parameters(raw: bytes) -> dict[str, str]:
    """RFC 6749 §3.2: form parameters, none of ours repeated."""
    try:
        form = parse_qs(raw.decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        raise OAuthError("invalid_request", "The body is not valid form data") from None
    ours = {name: values for name, values in form.items() if name in TokenRequestBody.model_fields}
    if any(len(values) > 1 for values in ours.values()):
        raise OAuthError("invalid_request", "Parameters must not be repeated")
    return {name: values[0] for name, values in ours.items()}


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    """RFC 6749 §2.3.1: client id and secret, form-urlencoded, then Basic-encoded."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_client", "Malformed HTTP Basic credentials") from None
    client_id, separator, secret = decoded.partition(":")
    if not separator:
        raise OAuthError("invalid_client", "Malformed HTTP Basic credentials")
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))
