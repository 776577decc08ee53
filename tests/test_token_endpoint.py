"""The OAuth Token API: client credentials by JSON, form and HTTP Basic; RFC 6749 errors."""

from __future__ import annotations

import asyncio
import base64
import threading
from typing import Any

import httpx
import jwt
import pytest
from argon2 import PasswordHasher

from sqr_reports.auth.credentials import HasherBusy, SecretHasher
from sqr_reports.auth.service import revoke_client
from sqr_reports.container import Container
from tests.conftest import register_org
from tests.support import ClientCredentials


def _json(creds: ClientCredentials, **extra: str) -> dict[str, Any]:
    return {
        "json": {
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "grant_type": "client_credentials",
            **extra,
        }
    }


def _basic(creds: ClientCredentials) -> dict[str, str]:
    raw = f"{creds.client_id}:{creds.client_secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.mark.parametrize("path", ["/oauth2/token", "/v1/oauth/token"])
async def test_json_body_grants_an_rs256_token(
    http: httpx.AsyncClient, container: Container, org_a: ClientCredentials, path: str
) -> None:
    response = await http.post(path, **_json(org_a))

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "write:reports read:reports download:reports"
    assert "refresh_token" not in body
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256"
    assert header["typ"] == "JWT"
    assert header["kid"] == container.keys.signing_key.kid


async def test_token_verifies_against_the_published_jwks(
    http: httpx.AsyncClient, org_a: ClientCredentials
) -> None:
    token = (await http.post("/oauth2/token", **_json(org_a))).json()["access_token"]
    jwks = (await http.get("/.well-known/jwks.json")).json()

    kid = jwt.get_unverified_header(token)["kid"]
    [jwk] = [key for key in jwks["keys"] if key["kid"] == kid]
    assert "d" not in jwk  # public parts only
    public_key = jwt.PyJWK(jwk).key
    claims = jwt.decode(
        token, public_key, algorithms=["RS256"], audience="sqr-reports-api",
        issuer="https://api.sqr-group.com",
    )  # fmt: skip
    assert claims["sub"] == org_a.client_id
    assert claims["org_id"] == org_a.org_id
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["nbf"] == claims["iat"]
    assert claims["jti"]


async def test_form_body_and_http_basic_are_accepted(
    http: httpx.AsyncClient, org_a: ClientCredentials
) -> None:
    form = await http.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": org_a.client_id,
            "client_secret": org_a.client_secret,
        },
    )
    basic = await http.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, headers=_basic(org_a)
    )

    assert form.status_code == 200, form.text
    assert basic.status_code == 200, basic.text


async def test_scope_parameter_narrows_the_grant(
    http: httpx.AsyncClient, org_a: ClientCredentials
) -> None:
    response = await http.post("/oauth2/token", **_json(org_a, scope="read:reports"))

    assert response.json()["scope"] == "read:reports"
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["scope"] == "read:reports"


async def test_scope_beyond_the_clients_is_invalid_scope(
    http: httpx.AsyncClient, container: Container
) -> None:
    reader = await register_org(container, "Reader Ltd", ["read:reports"])

    response = await http.post("/oauth2/token", **_json(reader, scope="write:reports"))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "sqr_nosuchclient"}, 401, "invalid_client"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": ""}, 400, "invalid_request"),
    ],
)
async def test_rfc6749_errors(
    http: httpx.AsyncClient,
    org_a: ClientCredentials,
    change: dict[str, str],
    status: int,
    error: str,
) -> None:
    body = _json(org_a)["json"] | change

    response = await http.post("/oauth2/token", json=body)

    assert response.status_code == status
    assert response.headers["Cache-Control"] == "no-store"
    assert set(response.json()) == {"error", "error_description"}
    assert response.json()["error"] == error
    assert org_a.client_secret not in response.text


async def test_unknown_client_and_wrong_secret_answer_identically(
    http: httpx.AsyncClient, org_a: ClientCredentials
) -> None:
    wrong_secret = await http.post("/oauth2/token", **_json(org_a, client_secret="not-the-secret"))
    unknown = await http.post("/oauth2/token", **_json(org_a, client_id="sqr_unknown"))

    assert wrong_secret.status_code == unknown.status_code == 401
    assert wrong_secret.json() == unknown.json()
    assert wrong_secret.headers["WWW-Authenticate"] == unknown.headers["WWW-Authenticate"]


def test_unknown_client_costs_one_argon2_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same work for an unknown client as for a wrong secret: equal timing by construction."""
    calls: list[str] = []
    original = PasswordHasher.verify

    def counting(self: PasswordHasher, hash: str, password: str | bytes) -> bool:
        calls.append(hash)
        return original(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    hasher = SecretHasher(time_cost=1, memory_kib=1024, parallelism=1)
    stored = hasher.hash("right")

    assert hasher.verify(None, "anything") is False
    assert hasher.verify(stored, "wrong") is False
    assert hasher.verify(stored, "right") is True
    assert len(calls) == 3
    assert calls[0].startswith("$argon2id$")


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1]", "application/json"),
        (b'{"grant_type": "client_credentials", "client_id": 7}', "application/json"),
        (b"[" * 10_000, "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"grant_type=client_credentials&grant_type=x", "application/x-www-form-urlencoded"),
        (b"grant_type=\xff", "application/x-www-form-urlencoded"),
        (b"x", "text/plain"),
    ],
)
async def test_malformed_bodies_are_invalid_request(
    http: httpx.AsyncClient, content: bytes, content_type: str
) -> None:
    response = await http.post(
        "/oauth2/token", content=content, headers={"Content-Type": content_type}
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_two_authentication_methods_at_once_are_refused(
    http: httpx.AsyncClient, org_a: ClientCredentials
) -> None:
    response = await http.post("/oauth2/token", **_json(org_a), headers=_basic(org_a))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_revoked_client_gets_no_token(
    http: httpx.AsyncClient, container: Container, org_a: ClientCredentials
) -> None:
    async with container.sessions.begin() as session:
        await revoke_client(session, container.db_clock, org_a.client_id)

    response = await http.post("/oauth2/token", **_json(org_a))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("client_id", ["sqr_\x00nul", "has space", "x" * 65, "ünï"])
async def test_impossible_client_ids_are_invalid_client(
    http: httpx.AsyncClient, org_a: ClientCredentials, client_id: str
) -> None:
    response = await http.post("/oauth2/token", **_json(org_a, client_id=client_id))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_a_full_verification_queue_turns_callers_away_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hasher = SecretHasher(time_cost=1, memory_kib=1024, parallelism=1, concurrent=1, max_waiting=1)
    release = threading.Event()
    monkeypatch.setattr(hasher, "verify", lambda *_: release.wait(10))
    running = [asyncio.create_task(hasher.verify_async(None, "s")) for _ in range(2)]
    # One turn of the loop starts both tasks; each counts itself in before its first await, so
    # now one is verifying and one waiting: the queue is full. (Ordering, not timing.)
    await asyncio.sleep(0)

    with pytest.raises(HasherBusy):
        await hasher.verify_async(None, "s")
    release.set()

    assert await asyncio.gather(*running) == [True, True]
    assert await hasher.verify_async(None, "s") is True  # room again


async def test_an_overloaded_token_endpoint_answers_503_with_retry_after(
    http: httpx.AsyncClient, container: Container, org_a: ClientCredentials,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    busy = SecretHasher(time_cost=1, memory_kib=1024, parallelism=1, concurrent=1, max_waiting=0)
    release = threading.Event()
    monkeypatch.setattr(busy, "verify", lambda *_: release.wait(10))
    monkeypatch.setattr(container, "hasher", busy)
    verifying = asyncio.create_task(busy.verify_async(None, "s"))  # takes the only slot
    await asyncio.sleep(0)  # ... once it has started (ordering, as above)

    response = await http.post("/oauth2/token", **_json(org_a))
    release.set()
    await verifying

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json()["error"] == "temporarily_unavailable"
