"""Each exception from a real answer of the live service (or, for TransportError, a real
refused connection)."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from sdk_doubles import RequestLog
from sdk_live import Org, Service, free_port, open_client, unknown_user_id
from sqr_reports_client import (
    ApiError,
    Client,
    NotFound,
    PermissionDenied,
    RateLimited,
    SqrReportsError,
    TransportError,
    ValidationError,
)

QUOTA = 10


def test_an_unknown_job_is_not_found(client: Client) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(NotFound) as raised:
        client.get(missing)
    error = raised.value
    assert isinstance(error, ApiError)
    assert isinstance(error, SqrReportsError)
    assert (error.status_code, error.error) == (404, "NOT_FOUND")
    assert error.message == "Report job not found"
    assert (error.method, error.path) == ("GET", f"/v1/document/api/{missing}")
    assert error.timestamp is not None
    assert datetime.fromisoformat(error.timestamp).utcoffset() is not None
    assert "404 NOT_FOUND: Report job not found" in str(error)


def test_a_client_without_the_scope_is_denied(service: Service, demo: Org) -> None:
    reader = Org(demo.org_id, *service.new_client(demo.org_id, scopes="read:reports"))
    with open_client(service, reader) as client, pytest.raises(PermissionDenied) as raised:
        client.create(service.demo_users["Clean pass: every check passes"])
    assert (raised.value.status_code, raised.value.error) == (403, "FORBIDDEN")
    assert raised.value.scope == "write:reports"
    assert "write:reports" in raised.value.message


def test_an_invalid_user_id_is_a_validation_error(client: Client, log: RequestLog) -> None:
    with pytest.raises(ValidationError) as raised:
        client.create("U" * 17)
    (problem,) = raised.value.errors
    assert (problem.field, problem.code) == ("userId", "maxLength")
    assert raised.value.error_count == 1
    assert len(log.creations) == 1  # a 400 is not retried


def test_the_eleventh_creation_is_rate_limited(service: Service, log: RequestLog) -> None:
    org = service.new_org(connected_user=False)
    with open_client(service, org, log) as client:
        first = client.create(unknown_user_id(), idempotency_key="first")
        for _ in range(QUOTA - 1):
            client.create(unknown_user_id())
        with pytest.raises(RateLimited) as raised:
            client.create(unknown_user_id())
        # A repeat of an accepted creation needs no slot: still answered.
        assert client.create(first.user_id, idempotency_key="first").job_id == first.job_id
    error = raised.value
    assert (error.status_code, error.error) == (429, "TOO_MANY_REQUESTS")
    assert error.retry_after is not None
    assert 0 < error.retry_after <= 600
    assert (error.limit, error.window_seconds, error.remaining) == (QUOTA, 600, 0)
    assert error.reset_seconds == error.retry_after
    assert len(log.creations) == QUOTA + 2  # the refused one was not retried


def test_a_service_that_is_not_there_is_a_transport_error() -> None:
    with (
        Client(f"http://127.0.0.1:{free_port()}", "id", "secret", max_retries=1) as client,
        pytest.raises(TransportError) as raised,
    ):
        client.get(str(uuid.uuid4()))
    assert raised.value.__cause__ is not None
    assert "secret" not in str(raised.value)
