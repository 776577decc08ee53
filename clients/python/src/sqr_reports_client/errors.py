"""One exception tree for everything the client raises (as httpx has one for HTTP).

```
SqrReportsError
├── ConfigurationError          missing base URL, client id or secret
├── TransportError              the service could not be reached, after the retries
├── ApiError                    the service answered with an error (its envelope's fields)
│   ├── BadRequest              400 without field errors, 405, 413, 415, 431, OAuth invalid_request
│   │   └── ValidationError     400 with `errors[]`
│   ├── AuthenticationError     401, and the token endpoint's invalid_client
│   ├── PermissionDenied        403 (insufficient_scope, inactive org, an expired download URL),
│   │                           and the token endpoint's invalid_scope
│   ├── NotFound                404
│   ├── Conflict                409
│   ├── Gone                    410 (a deleted or expired report)
│   ├── Unprocessable           422 (a URL for a job that is not COMPLETE, a reused key)
│   ├── RateLimited             429, with `retry_after` and the RateLimit header fields
│   └── ServerError             5xx
│   (ApiError itself: any other status, or an answer that is not the API's JSON, whose
│   `error` is then UNEXPECTED_RESPONSE)
├── IntegrityError              a download's size or SHA-256 is not the job's
├── JobFailed                   a job ended FAILED (only when asked to raise)
├── WaitTimeout                 a job was not terminal in time
└── WebhookVerificationError    a webhook's signature or timestamp does not verify
```

Messages never carry a secret, a token or a download URL (whose query is a credential).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from sqr_reports_client._retry import parse_retry_after

if TYPE_CHECKING:
    from sqr_reports_client.models import Job, JobErrorCode


class SqrReportsError(Exception):
    """The base of every exception this package raises."""


class ConfigurationError(SqrReportsError, ValueError):
    """The client cannot be built: a base URL, client id or secret is missing or malformed."""


class TransportError(SqrReportsError):
    """No answer from the service (connection refused or reset, timeout), after the retries.

    The underlying `httpx.TransportError` is the `__cause__`.
    """


@dataclass(frozen=True, slots=True)
class FieldError:
    """One entry of a 400 answer's `errors[]`: which field, which rule, and a hint."""

    field: str
    code: str
    hint: str


class ApiError(SqrReportsError):
    """The service answered with an error status.

    The attributes are the house envelope's fields (`code` is `status_code` here); for the
    token endpoint's RFC 6749 answers, `error` is the OAuth error word and `message` its
    `error_description`. Fields the answer did not carry are None (or empty).
    """

    def __init__(
        self,
        status_code: int,
        *,
        error: str,
        message: str,
        path: str | None = None,
        method: str | None = None,
        timestamp: str | None = None,
        errors: tuple[FieldError, ...] = (),
        error_count: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        headers: Mapping[str, str] | httpx.Headers | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        self.status_code = status_code
        self.error = error
        self.message = message
        self.path = path
        self.method = method
        self.timestamp = timestamp
        self.errors = errors
        self.error_count = error_count
        self.request_id = request_id
        #: Seconds the service asked us to wait (`Retry-After`), if it said.
        self.retry_after = retry_after
        #: The answer's headers (case-insensitive), e.g. `RateLimit`, `WWW-Authenticate`.
        self.headers = httpx.Headers(headers or {})
        self.body: Mapping[str, Any] = dict(body or {})
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f" ({self.method} {self.path})" if self.method and self.path else ""
        request = f" [request id {self.request_id}]" if self.request_id else ""
        return f"{self.status_code} {self.error}: {self.message}{where}{request}"


class BadRequest(ApiError):
    """The request was malformed: a bug in the caller (or in this client), not worth a retry."""


class ValidationError(BadRequest):
    """A 400 listing which input failed which rule (`errors`, the first of `error_count`)."""


class AuthenticationError(ApiError):
    """Bad client credentials, or a token the service no longer accepts (after one refresh)."""


class PermissionDenied(ApiError):
    """Authenticated, but not allowed: a missing scope (`scope` names it), an inactive org, a
    scope the client does not hold, or a download URL that has expired or was altered."""

    @property
    def scope(self) -> str | None:
        """The scope the operation needs, from the `WWW-Authenticate` challenge."""
        return _challenge_parameter(self.headers.get("www-authenticate", ""), "scope")


class NotFound(ApiError):
    """No such job for this org (another org's job and a malformed id look the same)."""


class Conflict(ApiError):
    """409: the request conflicts with the resource's state."""


class Gone(ApiError):
    """410: the report was deleted or its retention period has passed."""


class Unprocessable(ApiError):
    """422: understood but refused, e.g. a download URL for a job that is not COMPLETE, or an
    Idempotency-Key reused with another body."""


class RateLimited(ApiError):
    """429: too many report creations (10 per 600 s per org), or too many failed logins.

    `retry_after` says when a slot frees; `limit`, `remaining`, `window_seconds` and
    `reset_seconds` come from the IETF `RateLimit-Policy` and `RateLimit` header fields."""

    @property
    def limit(self) -> int | None:
        return _rate_limit_parameter(self.headers.get("ratelimit-policy"), "q")

    @property
    def window_seconds(self) -> int | None:
        return _rate_limit_parameter(self.headers.get("ratelimit-policy"), "w")

    @property
    def remaining(self) -> int | None:
        return _rate_limit_parameter(self.headers.get("ratelimit"), "r")

    @property
    def reset_seconds(self) -> int | None:
        return _rate_limit_parameter(self.headers.get("ratelimit"), "t")


class ServerError(ApiError):
    """5xx: the service failed or is unavailable (503 carries `retry_after`)."""


class IntegrityError(SqrReportsError):
    """A downloaded report is not the one the job describes (size or SHA-256 differ).

    Nothing was written at the destination path."""

    def __init__(self, message: str, *, expected: str, actual: str) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class JobFailed(SqrReportsError):
    """A job ended FAILED. `error_code` is from the published table (an unknown code is kept
    as it came); `job` is the whole final status."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.error_code: JobErrorCode | None = job.error_code
        self.error_message = job.error_message
        code = job.error_code.value if job.error_code else "no error code"
        super().__init__(f"report job {job.job_id} FAILED: {code}: {job.error_message or ''}")


class WaitTimeout(SqrReportsError):
    """The job was not COMPLETE or FAILED within `timeout` seconds; `job` is the last status
    seen. The job goes on: wait again, or come back for it later."""

    def __init__(self, job: Job, timeout: float) -> None:
        self.job = job
        self.timeout = timeout
        super().__init__(f"report job {job.job_id} is still {job.status.value} after {timeout:g} s")


class WebhookVerificationError(SqrReportsError):
    """A webhook delivery is not authentic or not fresh: answer it 4xx and do not act on it."""


#: The error class for each status; the token endpoint's words refine 400 and 401 below.
_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    405: BadRequest,
    409: Conflict,
    410: Gone,
    413: BadRequest,
    415: BadRequest,
    422: Unprocessable,
    429: RateLimited,
    431: BadRequest,
}
#: RFC 6749 §5.2 words of the token endpoint that mean something other than their status.
_BY_OAUTH_WORD: dict[str, type[ApiError]] = {
    "invalid_client": AuthenticationError,
    "invalid_scope": PermissionDenied,
    "invalid_request": BadRequest,
    "unsupported_grant_type": BadRequest,
}


def error_from_response(response: httpx.Response) -> ApiError:
    """The exception for an error answer: the envelope's fields, typed by status and word.

    Works on any body: a proxy's HTML page or S3's XML still gives the status's class.
    """
    body = _json_object(response)
    word = _text(body.get("error")) or response.reason_phrase or str(response.status_code)
    kind = _error_class(response.status_code, word, body)
    message = _text(body.get("message")) or _text(body.get("error_description"))
    return kind(
        response.status_code,
        error=word,
        message=message or response.reason_phrase or "error",
        path=_text(body.get("path")),
        method=_text(body.get("method")),
        timestamp=_text(body.get("timestamp")),
        errors=_field_errors(body.get("errors")),
        error_count=body.get("errorCount") if isinstance(body.get("errorCount"), int) else None,
        request_id=_text(body.get("requestId")) or response.headers.get("x-request-id"),
        retry_after=parse_retry_after(response.headers.get("retry-after")),
        headers=response.headers,
        body=body,
    )


def _error_class(status: int, word: str, body: Mapping[str, Any]) -> type[ApiError]:
    if "error_description" in body and word in _BY_OAUTH_WORD and status < 500:
        return _BY_OAUTH_WORD[word]
    if status == 400 and body.get("errors"):
        return ValidationError
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, ApiError)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        parsed = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _field_errors(raw: object) -> tuple[FieldError, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(
        FieldError(str(e.get("field", "")), str(e.get("code", "")), str(e.get("hint", "")))
        for e in raw
        if isinstance(e, dict)
    )


def _challenge_parameter(challenge: str, name: str) -> str | None:
    """A parameter of an RFC 6750 challenge: `Bearer realm="x", error="y", scope="z"`."""
    for part in challenge.split(","):
        key, _, value = part.strip().partition("=")
        if key.split()[-1:] == [name]:
            return value.strip().strip('"')
    return None


def _rate_limit_parameter(field: str | None, name: str) -> int | None:
    """A parameter of a RateLimit header field: `"report-creations";r=3;t=42`."""
    for part in (field or "").split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key == name and value.isdigit():
            return int(value)
    return None


def token_refused(error: ApiError) -> bool:
    """A 401 whose challenge blames the token (RFC 6750 `invalid_token`, or no reason given),
    not the client: worth one new token before giving up."""
    challenge = error.headers.get("www-authenticate", "")
    return (
        isinstance(error, AuthenticationError)
        and error.status_code == 401
        and challenge.lower().startswith("bearer")
        and _challenge_parameter(challenge, "error") in ("invalid_token", None)
    )
