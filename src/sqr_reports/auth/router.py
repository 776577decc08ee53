"""The OAuth Token API and the JWKS."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Literal
from urllib.parse import parse_qs, unquote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sqr_reports.auth.service import TokenRequest, grant_token
from sqr_reports.dependencies import ClockDep, CodecDep, HasherDep, KeysDep, ReadSessionDep
from sqr_reports.errors import OAuthError
from sqr_reports.http_errors import error_responses

router = APIRouter(tags=["OAuth Token API"])
_FIELDS = ("grant_type", "client_id", "client_secret", "scope")


class TokenRequestBody(BaseModel):
    """The client-credentials request, as JSON or as a form (or with HTTP Basic credentials)."""

    grant_type: Literal["client_credentials"]
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = Field(default=None, examples=["read:reports download:reports"])


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = Field(examples=["Bearer"])
    expires_in: int = Field(examples=[3600])
    scope: str


class OAuthErrorBody(BaseModel):
    error: str = Field(examples=["invalid_client"])
    error_description: str


_TOKEN_DOCS: dict[str, Any] = {
    "response_model": TokenResponse,
    "openapi_extra": {
        "requestBody": {
            "required": True,
            "content": {
                media: {"schema": TokenRequestBody.model_json_schema()}
                for media in ("application/json", "application/x-www-form-urlencoded")
            },
        }
    },
    "responses": {
        code: {"description": text, "model": OAuthErrorBody}
        for code, text in {
            400: "invalid_request, unsupported_grant_type or invalid_scope (RFC 6749 §5.2)",
            401: "invalid_client: unknown client, wrong secret, or revoked",
            503: "temporarily_unavailable: the database is down; see Retry-After",
        }.items()
    }
    | error_responses({413: "The request body is over 64 KiB"}),
}


@router.post("/oauth2/token", summary="Issue an access token (client credentials)", **_TOKEN_DOCS)
@router.post("/v1/oauth/token", summary="Issue an access token (the guide's path)", **_TOKEN_DOCS)
async def token(
    request: Request, session: ReadSessionDep, hasher: HasherDep, codec: CodecDep, clock: ClockDep
) -> JSONResponse:
    """OAuth 2.0 client-credentials grant: JSON body, form body or HTTP Basic client auth."""
    grant = await grant_token(session, hasher, codec, clock, await _token_request(request))
    body = {
        "access_token": grant.access_token,
        "token_type": "Bearer",
        "expires_in": grant.expires_in,
        "scope": grant.scope,
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@router.get("/.well-known/jwks.json", summary="Public keys that verify access tokens")
async def jwks(keys: KeysDep) -> JSONResponse:
    """The JSON Web Key Set; several keys are listed while one is being rotated out."""
    return JSONResponse(keys.jwks(), headers={"Cache-Control": "public, max-age=300"})


async def _token_request(request: Request) -> TokenRequest:
    fields = await _body_fields(request)
    basic = _basic_credentials(request.headers.get("Authorization"))
    if basic is not None:
        if fields.get("client_id") not in (None, basic[0]) or "client_secret" in fields:
            raise OAuthError("invalid_request", "Use one client authentication method only")
        fields["client_id"], fields["client_secret"] = basic
    return TokenRequest(**{name: fields.get(name) for name in _FIELDS})


async def _body_fields(request: Request) -> dict[str, str]:
    media_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if not raw:
        return {}
    if media_type == "application/json":
        try:
            parsed: Any = json.loads(raw)
        except (ValueError, RecursionError):  # bad JSON, bad UTF-8, absurd nesting
            raise OAuthError("invalid_request", "The body is not valid JSON") from None
        if not isinstance(parsed, dict):
            raise OAuthError("invalid_request", "The body must be a JSON object")
        values = {k: v for k, v in parsed.items() if k in _FIELDS}
        if any(not isinstance(v, str) for v in values.values()):
            raise OAuthError("invalid_request", "Token request parameters must be strings")
        return values
    if media_type == "application/x-www-form-urlencoded":
        try:
            form = parse_qs(raw.decode(), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise OAuthError("invalid_request", "The body is not valid form data") from None
        if any(len(form.get(name, [])) > 1 for name in _FIELDS):
            raise OAuthError("invalid_request", "Parameters must not be repeated")
        return {name: form[name][0] for name in _FIELDS if name in form}
    raise OAuthError(
        "invalid_request",
        "Send the token request as application/json or application/x-www-form-urlencoded",
    )


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
