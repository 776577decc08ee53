"""The one place errors become HTTP responses: SQR's house envelope (or RFC 6749 for OAuth).

Nothing from an exception's internals reaches the client: unexpected errors are logged with
their traceback and answered with a generic 500.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from sqr_reports.clock import isoformat_ms
from sqr_reports.errors import (
    AppError,
    OAuthError,
    ServiceUnavailable,
    ValidationFailed,
    error_word,
)

log = logging.getLogger(__name__)
#: A body with thousands of bad fields gets a short answer: the first failures and a count.
MAX_FIELD_ERRORS = 20
MAX_FIELD_LENGTH = 100
MAX_HINT_LENGTH = 300


def envelope(request: Request, status: HTTPStatus, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "code": status.value,
        "error": error_word(status),
        "message": message,
        "timestamp": isoformat_ms(datetime.now(UTC)),
        "path": _public_path(request),
        "method": request.method,
        **extra,
    }


class FieldErrorView(BaseModel):
    field: str
    code: str
    hint: str


class ErrorEnvelope(BaseModel):
    """SQR's error envelope (OpenAPI documentation of what every error looks like)."""

    code: int = Field(examples=[404])
    error: str = Field(examples=["NOT_FOUND"])
    message: str = Field(examples=["Report job not found"])
    timestamp: str = Field(examples=["2025-07-11T06:51:25.202Z"])
    path: str = Field(examples=["/v1/document/api/3fa85f64-5717-4562-b3fc-2c963f66afa6"])
    method: str = Field(examples=["GET"])
    errors: list[FieldErrorView] | None = Field(
        default=None,
        description=f"Validation failures: the first {MAX_FIELD_ERRORS} of `errorCount`",
    )
    errorCount: int | None = Field(  # noqa: N815 (the API's JSON is camelCase)
        default=None, description="How many validation failures there were in all"
    )


def error_responses(described: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for errors, each with the envelope's schema.

    The `default` entry (any other error: the envelope too) also tells FastAPI not to document
    its own 422 `HTTPValidationError`: invalid input is a 400 in the envelope here.
    """
    documented: dict[int | str, dict[str, Any]] = {
        code: {"description": text, "model": ErrorEnvelope} for code, text in described.items()
    }
    documented["default"] = {"description": "Any other error", "model": ErrorEnvelope}
    return documented


def _public_path(request: Request) -> str:
    """The request path, except under a prefix whose paths carry secrets (a download URL's
    object key), which `install` was given: then only the prefix and a placeholder."""
    path = request.url.path
    prefixes: tuple[str, ...] = getattr(request.app.state, "secret_path_prefixes", ())
    for prefix in prefixes:
        if path.startswith(prefix):
            return prefix + "{key}"
    return path


async def app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    if isinstance(exc, OAuthError):
        body: dict[str, Any] = {"error": exc.oauth_error, "error_description": exc.message}
        headers = {**exc.headers, "Cache-Control": "no-store"}
        return JSONResponse(body, status_code=exc.status, headers=headers)
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationFailed):
        extra["errors"] = [
            {"field": e.field[:MAX_FIELD_LENGTH], "code": e.code, "hint": e.hint[:MAX_HINT_LENGTH]}
            for e in exc.errors[:MAX_FIELD_ERRORS]
        ]
        extra["errorCount"] = len(exc.errors)
    return JSONResponse(
        envelope(request, exc.status, exc.message, **extra),
        status_code=exc.status,
        headers=exc.headers,
    )


async def request_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    failure = ValidationFailed.from_pydantic(exc.errors())
    return await app_error(request, failure)


async def http_exception(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own 404 / 405 (unknown routes, wrong methods) in the house envelope."""
    assert isinstance(exc, StarletteHTTPException)
    status = HTTPStatus(exc.status_code)
    message = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, status.phrase)
    return JSONResponse(envelope(request, status, message), status_code=status, headers=exc.headers)


#: What a database or network outage looks like from here: answered 503, never 500 (or 202).
OUTAGES: tuple[type[Exception], ...] = (
    OSError,  # refused or reset connections, timeouts (TimeoutError is an OSError)
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,  # no pooled connection became free in time
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
)
RETRY_AFTER_OUTAGE = "5"
TOKEN_PATHS = frozenset({"/oauth2/token", "/v1/oauth/token"})


async def outage(request: Request, exc: Exception) -> JSONResponse:
    log.error("dependency unavailable on %s %s: %s", request.method, request.url.path, type(exc))
    if request.url.path in TOKEN_PATHS:
        failure: AppError = OAuthError(
            "temporarily_unavailable",
            "The service is temporarily unavailable",
            status=HTTPStatus.SERVICE_UNAVAILABLE,
        )
    else:
        failure = ServiceUnavailable()
    failure.headers["Retry-After"] = RETRY_AFTER_OUTAGE
    return await app_error(request, failure)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    status = HTTPStatus.INTERNAL_SERVER_ERROR
    return JSONResponse(envelope(request, status, "Internal server error"), status_code=status)


def install(app: FastAPI, *, secret_path_prefixes: tuple[str, ...] = ()) -> None:
    app.state.secret_path_prefixes = secret_path_prefixes
    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(RequestValidationError, request_validation_error)
    app.add_exception_handler(StarletteHTTPException, http_exception)
    for kind in OUTAGES:
        app.add_exception_handler(kind, outage)
    app.add_exception_handler(Exception, unexpected_error)
