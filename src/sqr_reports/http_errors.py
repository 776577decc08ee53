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
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from sqr_reports import correlation
from sqr_reports.clock import Timestamp, isoformat_ms
from sqr_reports.errors import (
    AppError,
    OAuthError,
    ServiceUnavailable,
    ValidationFailed,
    error_word,
)
from sqr_reports.metrics.instruments import instruments

log = logging.getLogger(__name__)
#: A body with thousands of bad fields gets a short answer: the first failures and a count.
MAX_FIELD_ERRORS = 20
MAX_FIELD_LENGTH = 100
MAX_HINT_LENGTH = 300


def envelope(request: Request, status: HTTPStatus, message: str, **extra: Any) -> dict[str, Any]:
    body = {
        "code": status.value,
        "error": error_word(status),
        "message": message,
        "timestamp": isoformat_ms(datetime.now(UTC)),
        "path": _public_path(request),
        "method": request.method,
        **extra,
    }
    # The X-Request-ID of the answer (`http_telemetry`), which the client can quote to support.
    if (request_id := correlation.request_id()) is not None:
        body["requestId"] = request_id
    return body


class FieldErrorView(BaseModel):
    field: str
    code: str
    hint: str


class ErrorEnvelope(BaseModel):
    """SQR's error envelope (OpenAPI documentation of what every error looks like)."""

    code: int = Field(examples=[404])
    error: str = Field(examples=["NOT_FOUND"])
    message: str = Field(examples=["Report job not found"])
    timestamp: Timestamp
    path: str = Field(examples=["/v1/document/api/3fa85f64-5717-4562-b3fc-2c963f66afa6"])
    method: str = Field(examples=["GET"])
    errors: list[FieldErrorView] | None = Field(
        default=None,
        description=f"Validation failures: the first {MAX_FIELD_ERRORS} of `errorCount`",
    )
    errorCount: int | None = Field(  # noqa: N815 (the API's JSON is camelCase)
        default=None, description="How many validation failures there were in all"
    )
    requestId: str | None = Field(  # noqa: N815
        default=None, description="The request's id, as its `X-Request-ID` response header says"
    )


def error_responses(
    described: dict[int, str], headers: dict[int, dict[str, Any]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for errors, each with the envelope's schema, and with
    `headers` (OpenAPI header objects by name) for the statuses that carry their own.

    The `default` entry (any other error: the envelope too) also tells FastAPI not to document
    its own 422 `HTTPValidationError`: invalid input is a 400 in the envelope here. Headers that
    every error of a status carries are added to the whole document (`apidocs.document`).
    """
    documented: dict[int | str, dict[str, Any]] = {
        code: {"description": text, "model": ErrorEnvelope}
        | ({"headers": headers[code]} if headers and code in headers else {})
        for code, text in described.items()
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
        instruments().token_requests.labels(_token_outcome(exc)).inc()
        body: dict[str, Any] = {"error": exc.oauth_error, "error_description": exc.message}
        headers = {**exc.headers, "Cache-Control": "no-store"}
        return JSONResponse(body, status_code=exc.status, headers=headers)
    # The error's own word: the status's, unless it says more (410 REPORT_DELETED).
    extra: dict[str, Any] = {"error": exc.error}
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


#: The RFC 6749 §5.2 words a refused token request is counted under (a bounded label set).
_TOKEN_REFUSALS = frozenset(
    {"invalid_request", "invalid_client", "unsupported_grant_type", "invalid_scope"}
)


def _token_outcome(exc: OAuthError) -> str:
    """How `sqr_reports_token_requests_total` counts a refused token request."""
    if exc.status == HTTPStatus.TOO_MANY_REQUESTS:
        return "throttled"
    if exc.status == HTTPStatus.SERVICE_UNAVAILABLE:
        return "unavailable"
    return exc.oauth_error if exc.oauth_error in _TOKEN_REFUSALS else "other"


async def request_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    failure = ValidationFailed.from_pydantic(exc.errors())
    return await app_error(request, failure)


async def http_exception(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own 404 / 405 (unknown routes, wrong methods) in the house envelope."""
    assert isinstance(exc, StarletteHTTPException)
    status = HTTPStatus(exc.status_code)
    message = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, status.phrase)
    headers = dict(exc.headers or {})
    if status == HTTPStatus.METHOD_NOT_ALLOWED:
        headers["Allow"] = _allowed_methods(request)
    return JSONResponse(envelope(request, status, message), status_code=status, headers=headers)


#: The methods `Allow` may name, in the order it names them.
_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str:
    """Every method the path is served for (RFC 9110 §15.5.6). Starlette's 405 names only the
    methods of the first route whose path matched, and FastAPI makes a route per method: a
    wrong method on `/v1/document/api` was told `Allow: POST` alone, never GET."""
    routes: list[BaseRoute] = request.app.router.routes
    return ", ".join(method for method in _METHODS if _serves(routes, request.scope, method))


def _serves(routes: list[BaseRoute], scope: Scope, method: str) -> bool:
    as_method = {**scope, "method": method}
    return any(route.matches(as_method)[0] == Match.FULL for route in routes)


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


async def driver_error(request: Request, exc: Exception) -> JSONResponse:
    """Any driver error that SQLAlchemy found had cost the connection (a backend terminated
    under the pool surfaces from asyncpg as an `InternalClientError`) is an outage: 503."""
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return await outage(request, exc)
    return await unexpected_error(request, exc)


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
    app.add_exception_handler(sqlalchemy.exc.DBAPIError, driver_error)
    app.add_exception_handler(Exception, unexpected_error)
