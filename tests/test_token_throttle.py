"""Guessing secrets is slowed down: failed client authentications are counted per client id and
per source address, and over the limit the token endpoint answers 429 without verifying."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sqr_reports.auth.throttle import FailureThrottle, source_address
from sqr_reports.container import Container
from tests.support import ClientCredentials, MovableClock

PER_CLIENT, PER_ADDRESS, WINDOW = 3, 5, 60


@pytest.fixture
def throttle(container: Container, clock: MovableClock, monkeypatch: pytest.MonkeyPatch) -> None:
    small = FailureThrottle(
        clock, per_client=PER_CLIENT, per_address=PER_ADDRESS, window_seconds=WINDOW
    )
    monkeypatch.setattr(container, "throttle", small)


def _body(creds: ClientCredentials, **changes: str) -> dict[str, Any]:
    body = {"grant_type": "client_credentials", "client_id": creds.client_id,
            "client_secret": creds.client_secret}  # fmt: skip
    return body | changes


async def _token(http: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await http.post("/oauth2/token", json=body, headers=headers)


@pytest.mark.usefixtures("throttle")
async def test_a_guessed_client_is_turned_away_until_its_failures_age_out(
    http: httpx.AsyncClient, org_a: ClientCredentials, clock: MovableClock
) -> None:
    for _ in range(PER_CLIENT):
        assert (await _token(http, _body(org_a, client_secret="guess"))).status_code == 401

    refused = await _token(http, _body(org_a))  # even the right secret, for now

    assert refused.status_code == 429
    assert refused.json()["error"] == "temporarily_unavailable"
    assert 1 <= int(refused.headers["Retry-After"]) <= WINDOW
    clock.advance(WINDOW + 1)
    assert (await _token(http, _body(org_a))).status_code == 200


@pytest.mark.usefixtures("throttle")
async def test_unknown_ids_count_like_known_ones_and_others_are_unaffected(
    http: httpx.AsyncClient, org_a: ClientCredentials
) -> None:
    unknown = _body(org_a, client_id="sqr_nobody")
    answers = [(await _token(http, unknown)).status_code for _ in range(PER_CLIENT + 1)]

    assert answers == [401] * PER_CLIENT + [429]  # nothing tells an unknown id apart
    assert (await _token(http, _body(org_a))).status_code == 200


@pytest.mark.usefixtures("throttle")
async def test_a_success_clears_the_clients_count(
    http: httpx.AsyncClient, org_a: ClientCredentials
) -> None:
    for _ in range(2):
        for _ in range(PER_CLIENT - 1):
            assert (await _token(http, _body(org_a, client_secret="typo"))).status_code == 401
        assert (await _token(http, _body(org_a))).status_code == 200


@pytest.mark.usefixtures("throttle")
async def test_one_address_trying_many_ids_is_turned_away(
    http: httpx.AsyncClient, org_a: ClientCredentials
) -> None:
    for index in range(PER_ADDRESS):
        guess = _body(org_a, client_id=f"sqr_guess{index}")
        assert (await _token(http, guess)).status_code == 401

    assert (await _token(http, _body(org_a, client_id="sqr_another"))).status_code == 429


@pytest.mark.usefixtures("throttle")
async def test_behind_a_trusted_proxy_the_forwarded_address_is_the_one_counted(
    http: httpx.AsyncClient, container: Container, org_a: ClientCredentials
) -> None:
    container.settings.auth.trusted_proxies = ["127.0.0.0/8"]  # the test client's address
    for index in range(PER_ADDRESS):
        guess = _body(org_a, client_id=f"sqr_guess{index}")
        response = await _token(http, guess, **{"X-Forwarded-For": "203.0.113.7"})
        assert response.status_code == 401

    elsewhere = await _token(http, _body(org_a), **{"X-Forwarded-For": "198.51.100.9"})
    same = await _token(http, _body(org_a), **{"X-Forwarded-For": "203.0.113.7"})

    assert (elsewhere.status_code, same.status_code) == (200, 429)


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("198.51.100.1", None, "198.51.100.1"),
        ("198.51.100.1", "10.9.9.9", "198.51.100.1"),  # an untrusted peer cannot name another
        ("10.0.0.2", "203.0.113.7", "203.0.113.7"),
        ("10.0.0.2", "1.2.3.4, 203.0.113.7, 10.0.0.3", "203.0.113.7"),  # nearest untrusted hop
        ("10.0.0.2", "10.0.0.3", "10.0.0.2"),
        (None, None, "unknown"),
    ],
)
def test_the_source_address_trusts_only_the_configured_proxies(
    peer: str | None, forwarded: str | None, expected: str
) -> None:
    assert source_address(peer, forwarded, ["10.0.0.0/8"]) == expected
