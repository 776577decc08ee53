"""The one error hierarchy. Each error knows its HTTP status and its `error` word.

Services raise these; a single handler (``http_errors``) renders them as SQR's house envelope.
Messages are written for the API client: they never carry a secret, a token or a storage key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from pydantic import ValidationError

#: The envelope's `error` word for each status, spelled once here: Python 3.13 renamed some
#: `HTTPStatus` members (422 became UNPROCESSABLE_CONTENT), and the API must not change with it.
_ERROR_WORDS = {
    HTTPStatus(422): "UNPROCESSABLE_ENTITY",
    HTTPStatus(413): "REQUEST_ENTITY_TOO_LARGE",
}


def error_word(status: HTTPStatus) -> str:
    return _ERROR_WORDS.get(status, status.name)


def validation_problems(exc: ValidationError, whole: str = "value") -> str:
    """A pydantic error as one line for an operator: 'minimum_age: Input should be ...'."""
    return "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or whole}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False)
    )


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    code: str
    hint: str


class AppError(Exception):
    status: HTTPStatus = HTTPStatus.INTERNAL_SERVER_ERROR
    default_message = "Internal server error"

    def __init__(self, message: str | None = None, *, headers: dict[str, str] | None = None):
        self.message = message or self.default_message
        self.headers = headers or {}
        super().__init__(self.message)

    @property
    def error(self) -> str:
        return error_word(self.status)


class ValidationFailed(AppError):
    status = HTTPStatus.BAD_REQUEST
    default_message = "Request validation failed"

    def __init__(self, errors: list[FieldError], message: str | None = None):
        super().__init__(message)
        self.errors = errors

    @classmethod
    def from_pydantic(cls, errors: Iterable[Mapping[str, Any]]) -> ValidationFailed:
        """Pydantic's errors (of a body, or FastAPI's of a request) as the `errors[]` entries."""
        return cls([_field_error(error) for error in errors])


#: Pydantic's error types, in the contract's words (`maxLength`, `unknownField`, ...).
_CODES = {
    "missing": "required",
    "string_too_long": "maxLength",
    "string_too_short": "minLength",
    "extra_forbidden": "unknownField",
    "string_type": "type",
    "json_invalid": "invalidJson",
    "string_pattern_mismatch": "pattern",
    "model_type": "type",
    "model_attributes_type": "type",
    "dict_type": "type",
    "int_parsing": "type",
    "enum": "enum",
    "greater_than_equal": "minimum",
    "less_than_equal": "maximum",
}
#: Where FastAPI found a request's input (the first part of an error's `loc`): not part of
#: the field's name, so a query parameter's error names `limit`, as a body's names `userId`.
_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})


def _field_error(error: Mapping[str, Any]) -> FieldError:
    location = [str(part) for part in error.get("loc", ())]
    if location[:1] and location[0] in _LOCATIONS:
        location = location[1:]
    kind = str(error.get("type"))
    return FieldError(
        field=".".join(location) or "body",
        code=_CODES.get(kind, kind),
        hint=str(error.get("msg", "invalid value")),
    )


class BadRequest(AppError):
    status = HTTPStatus.BAD_REQUEST
    default_message = "Bad request"


class Unauthenticated(AppError):
    """No usable credentials. `challenge_error` is the RFC 6750 error code, if a token was sent."""

    status = HTTPStatus.UNAUTHORIZED
    default_message = "Authentication required"

    def __init__(self, message: str | None = None, *, challenge_error: str | None = None):
        challenge = 'Bearer realm="sqr-reports"'
        if challenge_error:
            description = (message or self.default_message).replace('"', "'")
            challenge += f', error="{challenge_error}", error_description="{description}"'
        super().__init__(message, headers={"WWW-Authenticate": challenge})


class Forbidden(AppError):
    status = HTTPStatus.FORBIDDEN
    default_message = "Forbidden"


class InsufficientScope(Forbidden):
    def __init__(self, scope: str):
        super().__init__(
            f"This operation requires the '{scope}' scope",
            headers={
                "WWW-Authenticate": (
                    f'Bearer realm="sqr-reports", error="insufficient_scope", scope="{scope}"'
                )
            },
        )


class NotFound(AppError):
    status = HTTPStatus.NOT_FOUND
    default_message = "Not found"


class Conflict(AppError):
    """The thing exists already, or is in a state that refuses the change."""

    status = HTTPStatus.CONFLICT
    default_message = "Conflict"


class Gone(AppError):
    """The thing existed and was removed for good. `word` says why (`REPORT_DELETED`,
    `REPORT_EXPIRED`): it is the envelope's `error`, so a client can tell the two apart."""

    status = HTTPStatus.GONE
    default_message = "Gone"

    def __init__(self, word: str, message: str | None = None):
        super().__init__(message)
        self.word = word

    @property
    def error(self) -> str:
        return self.word


class Unprocessable(AppError):
    status = HTTPStatus(422)
    default_message = "Unprocessable entity"


class UnsupportedMediaType(AppError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    default_message = "Content-Type must be application/json"


class HeadersTooLarge(AppError):
    status = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
    default_message = "The request headers are too large"


class PayloadTooLarge(AppError):
    status = HTTPStatus(413)
    default_message = "The request body is too large"


class RateLimited(AppError):
    status = HTTPStatus.TOO_MANY_REQUESTS
    default_message = "Rate limit exceeded"


class ServiceUnavailable(AppError):
    status = HTTPStatus.SERVICE_UNAVAILABLE
    default_message = "Service temporarily unavailable"


class OAuthError(AppError):
    """An RFC 6749 §5.2 token-endpoint error; rendered as `{"error", "error_description"}`."""

    def __init__(self, oauth_error: str, description: str, *, status: HTTPStatus | None = None):
        super().__init__(description)
        self.oauth_error = oauth_error
        if status is not None:
            self.status = status
        elif oauth_error == "invalid_client":
            self.status = HTTPStatus.UNAUTHORIZED
            self.headers = {"WWW-Authenticate": 'Basic realm="sqr-reports"'}
        else:
            self.status = HTTPStatus.BAD_REQUEST
