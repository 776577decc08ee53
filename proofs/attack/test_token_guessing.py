"""Guessing a client's secret is slowed down: after the allowed failures, 429 with Retry-After,
even for the right secret, until the failures age out."""

from __future__ import annotations

import httpx
import pytest

from proofs.attack.conftest import World
from proofs.live import LiveServer

FAILURES_PER_CLIENT = 10


def _ask(http: httpx.Client, client_id: str, secret: str) -> httpx.Response:
    body = {"client_id": client_id, "client_secret": secret, "grant_type": "client_credentials"}
    return http.post("/oauth2/token", json=body)


def test_a_guessed_client_is_throttled(
    http: httpx.Client, server: LiveServer, world: World
) -> None:
    target = server.client(world.org_a.org_id, "read:reports")
    answers = [_ask(http, target.client_id, f"guess-{i}") for i in range(FAILURES_PER_CLIENT + 3)]

    statuses = [response.status_code for response in answers]
    assert statuses[:FAILURES_PER_CLIENT] == [401] * FAILURES_PER_CLIENT
    assert set(statuses[FAILURES_PER_CLIENT:]) == {429}
    throttled = answers[-1]
    assert int(throttled.headers["Retry-After"]) > 0
    assert throttled.json()["error"] in ("slow_down", "invalid_client", "temporarily_unavailable")
    right = _ask(http, target.client_id, target.client_secret)
    assert right.status_code == 429  # the right secret waits too: a guesser learns nothing
    other = _ask(http, world.org_a.client_id, world.org_a.client_secret)
    assert other.status_code == 200  # another client is not slowed down


@pytest.mark.parametrize(
    "body",
    [
        {"grant_type": "password", "username": "a", "password": "b"},
        {"grant_type": "client_credentials", "client_id": "x" * 10_000, "client_secret": "y"},
        {"grant_type": "client_credentials", "client_id": "a", "client_secret": "b" * 60_000},
        {"grant_type": "client_credentials", "client_id": ["a"], "client_secret": {"b": 1}},
    ],
)
def test_a_hostile_token_request_is_a_clean_oauth_error(
    http: httpx.Client, body: dict[str, object]
) -> None:
    response = http.post("/oauth2/token", json=body)
    assert response.status_code in (400, 401, 413)
    assert "error" in response.json() or response.json().get("code") == 413
