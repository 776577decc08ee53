"""Tokens against the live service (which issues 60-second tokens here): fetched once, reused,
replaced before they expire and once when refused, one refresh at a time."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid

import httpx
import pytest

from sdk_doubles import RequestLog
from sdk_live import TOKEN_TTL_SECONDS, Org, Service, open_client
from sqr_reports_client import AsyncClient, AuthenticationError, Client, NotFound, PermissionDenied
from sqr_reports_client._tokens import Grant, refresh_margin


def _touch(client: Client) -> None:
    """One authorised call: the listing's first job, whatever it is."""
    next(client.list(limit=1), None)


def test_one_token_serves_many_calls(client: Client, log: RequestLog) -> None:
    for _ in range(3):
        _touch(client)
    assert log.token_requests == 1
    assert len(log.sent("GET", "/v1/document/api")) == 3


def test_a_token_is_replaced_shortly_before_the_lifetime_the_service_gave(
    client: Client, log: RequestLog
) -> None:
    now = [1000.0]
    client._core.tokens.clock = lambda: now[0]
    _touch(client)
    early = TOKEN_TTL_SECONDS - refresh_margin(TOKEN_TTL_SECONDS)

    now[0] += early - 1  # still within the lifetime, margin kept
    _touch(client)
    assert log.token_requests == 1
    now[0] += 1  # the margin begins: replaced, although the service would still take it
    _touch(client)
    assert log.token_requests == 2
    first, second = (r.headers["authorization"] for r in log.sent("GET", "/v1/document/api")[::2])
    assert first != second


def test_a_token_the_service_refuses_is_replaced_once(client: Client, log: RequestLog) -> None:
    _touch(client)
    client._core.tokens.store(Grant("not-a-token", 3600, ""), client._core.tokens.clock())
    _touch(client)
    statuses = [r.status_code for r in log.responses if r.request.url.path == "/v1/document/api"]
    assert statuses == [200, 401, 200]
    assert log.token_requests == 2


def test_a_refused_token_with_bad_credentials_raises_after_one_try(
    service: Service, demo: Org, log: RequestLog
) -> None:
    wrong = Org(demo.org_id, demo.client_id, "not-the-secret")
    with open_client(service, wrong, log) as client:
        client._core.tokens.store(Grant("not-a-token", 3600, ""), client._core.tokens.clock())
        with pytest.raises(AuthenticationError) as raised:
            _touch(client)
    assert raised.value.error == "invalid_client"
    assert log.token_requests == 1


def test_threads_share_one_token_fetch(service: Service, demo: Org, log: RequestLog) -> None:
    missing = str(uuid.uuid4())
    failures: list[BaseException] = []
    with open_client(service, demo, log) as client:
        start = threading.Barrier(8)

        def poll() -> None:
            start.wait()
            try:
                client.get(missing)
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=poll) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(failures) == 8
    assert all(isinstance(failure, NotFound) for failure in failures)
    assert log.token_requests == 1


async def test_tasks_share_one_token_fetch(service: Service, demo: Org, log: RequestLog) -> None:
    async with (
        httpx.AsyncClient(event_hooks=log.async_hooks()) as http,
        AsyncClient(service.url, demo.client_id, demo.client_secret, http_client=http) as client,
    ):
        results = await asyncio.gather(
            *(client.get(str(uuid.uuid4())) for _ in range(8)), return_exceptions=True
        )
    assert all(isinstance(result, NotFound) for result in results)
    assert log.token_requests == 1


def test_a_wrong_secret_is_an_authentication_error(service: Service, demo: Org) -> None:
    wrong = Org(demo.org_id, demo.client_id, "not-the-secret")
    with open_client(service, wrong) as client, pytest.raises(AuthenticationError) as raised:
        _touch(client)
    assert raised.value.status_code == 401
    assert raised.value.error == "invalid_client"
    assert "not-the-secret" not in str(raised.value)


def test_a_narrower_scope_is_enforced(service: Service, demo: Org, log: RequestLog) -> None:
    with open_client(service, demo, log, scope="read:reports") as client:
        _touch(client)
        with pytest.raises(PermissionDenied) as raised:
            client.create("US7K2M9Q4X8B1N5C")
    assert raised.value.error == "FORBIDDEN"
    assert raised.value.scope == "write:reports"
    assert json.loads(log.sent("POST", "/oauth2/token")[0].content)["scope"] == "read:reports"


def test_a_scope_the_client_does_not_hold_is_refused_at_the_token_endpoint(
    service: Service, demo: Org
) -> None:
    reader = Org(demo.org_id, *service.new_client(demo.org_id, scopes="read:reports"))
    with (
        open_client(service, reader, scope="write:reports") as client,
        pytest.raises(PermissionDenied) as raised,
    ):
        _touch(client)
    assert (raised.value.status_code, raised.value.error) == (400, "invalid_scope")


def test_nothing_secret_in_reprs(service: Service, demo: Org, client: Client) -> None:
    _touch(client)
    shown = repr(client) + repr(client._core) + repr(client._core.tokens)
    assert demo.client_secret not in shown
    assert "Bearer" not in shown
    assert demo.client_id in repr(client)
