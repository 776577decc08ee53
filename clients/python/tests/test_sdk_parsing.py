"""Parsing what the service answers: every error word it uses mapped to its exception, and
tolerance of fields, statuses and codes this client does not know yet."""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import httpx
import pytest

from sqr_reports.errors import AppError, OAuthError, error_word
from sqr_reports_client import (
    ApiError,
    AuthenticationError,
    BadRequest,
    Client,
    ConfigurationError,
    Conflict,
    Gone,
    Job,
    JobErrorCode,
    JobStatus,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    Unprocessable,
    ValidationError,
)
from sqr_reports_client._config import from_environment
from sqr_reports_client._retry import parse_retry_after
from sqr_reports_client._tokens import refresh_margin
from sqr_reports_client.errors import error_from_response


def envelope(status: int, word: str, **extra: Any) -> httpx.Response:
    body = {"code": status, "error": word, "message": "m", "timestamp": "t", "path": "/p",
            "method": "GET", **extra}  # fmt: skip
    return httpx.Response(status, json=body)


#: Every status the service's errors carry (errors.py, http_errors.py, Starlette's own 404/405),
#: with its envelope word as the service spells it, and the exception it must become.
ENVELOPE_ERRORS = [
    (400, BadRequest),
    (401, AuthenticationError),
    (403, PermissionDenied),
    (404, NotFound),
    (405, BadRequest),
    (409, Conflict),
    (410, Gone),
    (413, BadRequest),
    (415, BadRequest),
    (422, Unprocessable),
    (429, RateLimited),
    (431, BadRequest),
    (500, ServerError),
    (503, ServerError),
]


@pytest.mark.parametrize(("status", "kind"), ENVELOPE_ERRORS)
def test_each_envelope_status_has_its_exception(status: int, kind: type[ApiError]) -> None:
    error = error_from_response(envelope(status, error_word(HTTPStatus(status))))
    assert type(error) is kind
    assert (error.status_code, error.error) == (status, error_word(HTTPStatus(status)))
    assert (error.message, error.path, error.method) == ("m", "/p", "GET")


def test_every_error_class_of_the_service_is_covered() -> None:
    def subclasses(kind: type[AppError]) -> set[type[AppError]]:
        found = set(kind.__subclasses__())
        return found.union(*(subclasses(sub) for sub in found))

    statuses = {int(kind.status) for kind in subclasses(AppError) if kind is not OAuthError}
    assert statuses <= {status for status, _ in ENVELOPE_ERRORS}


def test_a_400_with_field_errors_is_a_validation_error() -> None:
    problem = {"field": "userId", "code": "maxLength", "hint": "at most 16"}
    answer = envelope(400, "BAD_REQUEST", errors=[problem], errorCount=1)
    error = error_from_response(answer)
    assert isinstance(error, ValidationError)
    assert error.errors[0].field == "userId"
    assert error.error_count == 1


@pytest.mark.parametrize(
    ("status", "word", "kind"),
    [
        (401, "invalid_client", AuthenticationError),
        (400, "invalid_scope", PermissionDenied),
        (400, "invalid_request", BadRequest),
        (400, "unsupported_grant_type", BadRequest),
        (429, "temporarily_unavailable", RateLimited),
        (503, "temporarily_unavailable", ServerError),
    ],
)
def test_token_endpoint_errors(status: int, word: str, kind: type[ApiError]) -> None:
    answer = httpx.Response(status, json={"error": word, "error_description": "why"})
    error = error_from_response(answer)
    assert type(error) is kind
    assert (error.error, error.message) == (word, "why")


def test_an_error_that_is_not_json_still_has_its_class() -> None:
    error = error_from_response(httpx.Response(502, text="<html>Bad Gateway</html>"))
    assert isinstance(error, ServerError)
    assert error.error == "Bad Gateway"


def test_the_request_id_comes_from_the_envelope_or_the_header() -> None:
    assert error_from_response(envelope(404, "NOT_FOUND", requestId="r-1")).request_id == "r-1"
    answer = httpx.Response(404, json={"error": "NOT_FOUND"}, headers={"X-Request-ID": "r-2"})
    assert error_from_response(answer).request_id == "r-2"


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    assert parse_retry_after("17") == 17
    assert parse_retry_after("Sat, 05 Dec 2026 10:00:30 GMT", now=now) == 30
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_unknown_fields_statuses_and_codes_are_kept() -> None:
    job = Job.from_json(
        {
            "jobId": "j", "status": "ARCHIVED", "userId": "U", "errorCode": "NEW_CODE",
            "createdAt": "2026-12-05T10:00:00.000Z", "updatedAt": "2026-12-05T10:00:01.000Z",
            "expiresAt": "2027-01-05T10:00:00.000Z", "priority": "high",
        }
    )  # fmt: skip
    assert job.status == "ARCHIVED"
    assert not job.status.is_terminal
    assert job.error_code == "NEW_CODE"
    assert isinstance(job.error_code, JobErrorCode)
    assert job.expires_at == datetime(2027, 1, 5, 10, tzinfo=UTC)
    assert job.extra == {"priority": "high"}
    assert JobStatus("COMPLETE") is JobStatus.COMPLETE


def test_tokens_are_refreshed_a_minute_early_or_a_tenth_of_a_short_lifetime() -> None:
    assert refresh_margin(3600) == 60
    assert refresh_margin(60) == 6


def test_from_env_needs_an_id_and_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SQR_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("SQR_CLIENT_ID", "sqr_x")
    with pytest.raises(ConfigurationError, match="SQR_CLIENT_SECRET"):
        Client.from_env()
    monkeypatch.setenv("SQR_CLIENT_SECRET", "not-for-your-eyes")
    monkeypatch.setenv("SQR_API_URL", "https://reports.example.com/")
    with Client.from_env() as client:
        assert repr(client) == "Client(base_url='https://reports.example.com', client_id='sqr_x')"
        assert "not-for-your-eyes" not in repr(client._core)


def test_naive_time_bounds_are_refused() -> None:
    naive = datetime(2026, 12, 5)
    with (
        Client("http://127.0.0.1:1", "id", "secret") as client,
        pytest.raises(ValueError, match="time zone"),
    ):
        client.list(created_after=naive)


def test_the_first_releases_variable_names_still_work_when_the_new_ones_are_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("SQR_API_URL", "SQR_CLIENT_ID", "SQR_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SQR_REPORTS_URL", "https://old.example.com")
    monkeypatch.setenv("SQR_REPORTS_CLIENT_ID", "old-id")
    monkeypatch.setenv("SQR_REPORTS_CLIENT_SECRET", "old-secret")
    monkeypatch.setenv("SQR_CLIENT_ID", "new-id")

    assert from_environment() == ("https://old.example.com", "new-id", "old-secret")
