"""Bearer tokens on the report API: forged, expired, revoked, under-scoped, wrong org."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import update

from sqr_reports.auth.service import revoke_client
from sqr_reports.container import Container
from sqr_reports.orgs.models import Org, OrgStatus
from tests.support import Api, ClientCredentials, MovableClock, assert_envelope, set_scopes

JOBS = "/v1/document/api"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _claims(creds: ClientCredentials, **override: object) -> dict[str, object]:
    now = int(time.time())
    return {
        "iss": "https://api.sqr-group.com", "aud": "sqr-reports-api", "sub": creds.client_id,
        "org_id": creds.org_id, "scope": "write:reports read:reports download:reports",
        "iat": now, "nbf": now, "exp": now + 600, "jti": "forged", **override,
    }  # fmt: skip


async def _get(http: httpx.AsyncClient, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return await http.get(f"{JOBS}/3fa85f64-5717-4562-b3fc-2c963f66afa6", headers=headers)


async def test_missing_token_is_401_without_error_code(http: httpx.AsyncClient) -> None:
    response = await _get(http, None)

    assert_envelope(response, 401, "UNAUTHORIZED")
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer")
    assert "error=" not in challenge


def _alg_none(creds: ClientCredentials) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(_claims(creds)).encode())}."


def _hs256_with_public_key(container: Container, creds: ClientCredentials) -> str:
    """The classic key-confusion attack: HMAC keyed with our public key."""
    public_pem = container.keys.signing_key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": container.keys.signing_key.kid}
    signing_input = (
        f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims(creds)).encode())}"
    )
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _foreign_key(container: Container, creds: ClientCredentials) -> str:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = container.keys.signing_key.kid  # claims to be ours
    return jwt.encode(_claims(creds), stranger, algorithm="RS256", headers={"kid": kid})


def _ours(container: Container, creds: ClientCredentials, **override: object) -> str:
    key = container.keys.signing_key
    return jwt.encode(
        _claims(creds, **override), key.private_key, algorithm="RS256", headers={"kid": key.kid}
    )


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda c, o: "not-a-jwt", id="garbage"),
        pytest.param(lambda c, o: _alg_none(o), id="alg-none"),
        pytest.param(_hs256_with_public_key, id="hs256-signed-with-public-key"),
        pytest.param(_foreign_key, id="signed-by-another-key"),
        pytest.param(lambda c, o: _ours(c, o, aud="someone-else"), id="wrong-audience"),
        pytest.param(lambda c, o: _ours(c, o, iss="https://evil.example"), id="wrong-issuer"),
        pytest.param(lambda c, o: _ours(c, o, exp=int(time.time()) - 60), id="expired"),
        pytest.param(lambda c, o: _ours(c, o, nbf=int(time.time()) + 600), id="not-yet-valid"),
        pytest.param(lambda c, o: _ours(c, o, org_id="another-org"), id="org-mismatch"),
    ],
)
async def test_forged_and_invalid_tokens_are_401_invalid_token(
    http: httpx.AsyncClient, container: Container, org_a: ClientCredentials, forge: object
) -> None:
    assert callable(forge)
    response = await _get(http, forge(container, org_a))

    assert_envelope(response, 401, "UNAUTHORIZED")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


async def test_token_expires_after_its_lifetime(
    http: httpx.AsyncClient, api: Api, org_a: ClientCredentials, clock: MovableClock
) -> None:
    """Tokens are checked against the real clock (5 s leeway), so these are issued in the past."""
    clock.advance(-(3600 - 10))
    nearly_spent = await api.token(org_a)
    clock.advance(-20)
    spent = await api.token(org_a)

    assert (await _get(http, nearly_spent)).status_code == 404  # valid token, unknown job
    response = await _get(http, spent)
    assert_envelope(response, 401, "UNAUTHORIZED")
    assert "expired" in response.json()["message"].lower()


async def test_revocation_applies_on_the_very_next_call(
    http: httpx.AsyncClient, container: Container, org_a: ClientCredentials, token_a: str
) -> None:
    assert (await _get(http, token_a)).status_code == 404
    async with container.sessions.begin() as session:
        await revoke_client(session, container.db_clock, org_a.client_id)

    response = await _get(http, token_a)

    assert_envelope(response, 401, "UNAUTHORIZED")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


async def test_scope_removed_in_the_database_is_refused_despite_the_token(
    http: httpx.AsyncClient, container: Container, org_a: ClientCredentials, token_a: str
) -> None:
    await set_scopes(container, org_a.client_id, "write:reports")

    response = await _get(http, token_a)

    assert_envelope(response, 403, "FORBIDDEN")
    challenge = response.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="read:reports"' in challenge


@pytest.mark.parametrize(
    ("granted", "method", "path"),
    [
        ("read:reports", "POST", JOBS),
        ("write:reports", "GET", f"{JOBS}/3fa85f64-5717-4562-b3fc-2c963f66afa6"),
        ("read:reports", "GET", f"{JOBS}/3fa85f64-5717-4562-b3fc-2c963f66afa6/url"),
    ],
)
async def test_token_without_the_endpoints_scope_is_403(
    http: httpx.AsyncClient, api: Api, org_a: ClientCredentials, granted: str, method: str,
    path: str,
) -> None:  # fmt: skip
    token = await api.token(org_a, scope=granted)

    response = await http.request(
        method, path, json={"userId": "US1"}, headers={"Authorization": f"Bearer {token}"}
    )

    assert_envelope(response, 403, "FORBIDDEN")
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


async def test_suspended_org_is_refused(
    http: httpx.AsyncClient, container: Container, org_a: ClientCredentials, token_a: str
) -> None:
    async with container.sessions.begin() as session:
        await session.execute(
            update(Org).where(Org.id == org_a.org_id).values(status=OrgStatus.SUSPENDED)
        )

    assert_envelope(await _get(http, token_a), 403, "FORBIDDEN")


async def test_non_bearer_authorization_is_treated_as_missing(http: httpx.AsyncClient) -> None:
    response = await http.get(f"{JOBS}/x", headers={"Authorization": "Basic dXNlcjpwYXNz"})

    assert_envelope(response, 401, "UNAUTHORIZED")
    assert "error=" not in response.headers["WWW-Authenticate"]
