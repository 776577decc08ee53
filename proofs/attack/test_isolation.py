"""Another org's jobs, a missing scope, a revoked client and a suspended org: every call is
re-checked against the database, not against what the token says."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from proofs.attack.conftest import World, assert_envelope
from proofs.live import JOBS, LiveServer, bearer, token


@pytest.mark.parametrize("suffix", ["", "/url"])
def test_another_orgs_job_is_the_same_404_as_an_unknown_one(
    http: httpx.Client, world: World, suffix: str
) -> None:
    theirs = http.get(f"{JOBS}/{world.job_b}{suffix}", headers=bearer(world.token_a))
    unknown = http.get(f"{JOBS}/{uuid.uuid4()}{suffix}", headers=bearer(world.token_a))
    malformed = http.get(f"{JOBS}/not-a-job{suffix}", headers=bearer(world.token_a))

    for response in (theirs, unknown, malformed):
        assert_envelope(response, 404, "NOT_FOUND")
    assert theirs.json()["message"] == unknown.json()["message"] == malformed.json()["message"]


def test_the_listing_never_shows_another_orgs_job(http: httpx.Client, world: World) -> None:
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "100"} | ({"cursor": cursor} if cursor else {})
        page = http.get(JOBS, params=params, headers=bearer(world.token_a)).json()
        seen += [job["jobId"] for job in page["items"]]
        if not (cursor := page["nextCursor"]):
            break
    assert world.job_a in seen
    assert world.job_b not in seen
    for_b = http.get(JOBS, params={"userId": world.user_b}, headers=bearer(world.token_a))
    assert for_b.json()["items"] == []


def test_a_cursor_from_another_org_shows_nothing_of_it(http: httpx.Client, world: World) -> None:
    page_b = http.get(JOBS, params={"limit": "1"}, headers=bearer(world.token_b)).json()
    cursor = page_b["nextCursor"] or "eyJ0IjoiMjAwMC0wMS0wMVQwMDowMDowMFoiLCJpIjoieCJ9"
    response = http.get(JOBS, params={"cursor": cursor}, headers=bearer(world.token_a))
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert world.job_b not in [job["jobId"] for job in response.json()["items"]]


@pytest.mark.parametrize(
    ("scope", "allowed"),
    [
        ("write:reports", {"create"}),
        ("read:reports", {"status", "list"}),
        ("download:reports", {"url"}),
    ],
)
def test_each_endpoint_needs_its_scope(
    http: httpx.Client, server: LiveServer, world: World, scope: str, allowed: set[str]
) -> None:
    headers = bearer(token(server, world.org_a, scope=scope))
    calls: dict[str, Callable[[], httpx.Response]] = {
        "create": lambda: http.post(JOBS, json={"userId": world.user_a}, headers=headers),
        "status": lambda: http.get(f"{JOBS}/{world.job_a}", headers=headers),
        "list": lambda: http.get(JOBS, headers=headers),
        "url": lambda: http.get(f"{JOBS}/{world.job_a}/url", headers=headers),
    }
    for name, call in calls.items():
        response = call()
        if name in allowed:
            assert response.status_code in (200, 202), (name, response.text)
        else:
            assert_envelope(response, 403, "FORBIDDEN")
            assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_a_scope_not_granted_cannot_be_asked_for(server: LiveServer, world: World) -> None:
    reader = server.client(world.org_a.org_id, "read:reports")
    body = {"client_id": reader.client_id, "client_secret": reader.client_secret,
            "grant_type": "client_credentials", "scope": "write:reports"}  # fmt: skip
    response = httpx.post(f"{server.base_url}/oauth2/token", json=body)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_a_revoked_clients_token_stops_working_at_its_next_call(
    http: httpx.Client, server: LiveServer, world: World
) -> None:
    doomed = server.client(world.org_a.org_id, "write:reports read:reports download:reports")
    headers = bearer(token(server, doomed))
    assert http.get(f"{JOBS}/{world.job_a}", headers=headers).status_code == 200

    server.cli_plain("client", "revoke", doomed.client_id)

    for response in (
        http.get(f"{JOBS}/{world.job_a}", headers=headers),
        http.get(f"{JOBS}/{world.job_a}/url", headers=headers),
        http.post(JOBS, json={"userId": world.user_a}, headers=headers),
        http.get(JOBS, headers=headers),
    ):
        assert_envelope(response, 401, "UNAUTHORIZED")
    body = {"client_id": doomed.client_id, "client_secret": doomed.client_secret,
            "grant_type": "client_credentials"}  # fmt: skip
    assert httpx.post(f"{server.base_url}/oauth2/token", json=body).status_code == 401


def test_a_suspended_orgs_tokens_are_refused_until_it_resumes(
    http: httpx.Client, server: LiveServer
) -> None:
    org = server.org("Attack Org Suspended")
    server.connect_user("USATTACKS0000001", org.org_id)
    headers = bearer(token(server, org))
    assert http.get(JOBS, headers=headers).status_code == 200

    server.cli_plain("org", "suspend", org.org_id)
    refused = http.get(JOBS, headers=headers)
    server.cli_plain("org", "resume", org.org_id)

    assert_envelope(refused, 403, "FORBIDDEN")
    assert http.get(JOBS, headers=headers).status_code == 200
