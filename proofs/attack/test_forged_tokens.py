"""Tokens the service did not issue, or issued differently, are refused: 401 invalid_token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import RSAAlgorithm

from proofs.attack.conftest import World, assert_envelope
from proofs.live import JOBS, LiveServer, bearer

_ATTACKER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    return header, claims


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    head = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
    return head + "." + _b64(signature)


def _jwks(server: LiveServer) -> dict[str, Any]:
    keys: dict[str, Any] = httpx.get(f"{server.base_url}/.well-known/jwks.json").json()
    return keys


def alg_none(server: LiveServer, real: str) -> str:
    header, claims = _parts(real)
    return _unsigned(header | {"alg": "none"}, claims)


def hs256_with_our_public_key(server: LiveServer, real: str) -> str:
    """HS/RS confusion: an HMAC keyed with our published public key."""
    header, claims = _parts(real)
    public = RSAAlgorithm.from_jwk(json.dumps(_jwks(server)["keys"][0]))
    assert isinstance(public, rsa.RSAPublicKey)
    pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    head = _b64(json.dumps(header | {"alg": "HS256"}).encode()) + "."
    head += _b64(json.dumps(claims).encode())
    return head + "." + _b64(hmac.new(pem, head.encode(), hashlib.sha256).digest())


def foreign_key_with_our_kid(server: LiveServer, real: str) -> str:
    header, claims = _parts(real)
    return jwt.encode(claims, _ATTACKER_KEY, algorithm="RS256", headers={"kid": header["kid"]})


def foreign_key_via_jku(server: LiveServer, real: str) -> str:
    _, claims = _parts(real)
    headers = {"kid": "attacker", "jku": "http://127.0.0.1:9/jwks.json"}
    return jwt.encode(claims, _ATTACKER_KEY, algorithm="RS256", headers=headers)


def foreign_key_via_x5u(server: LiveServer, real: str) -> str:
    _, claims = _parts(real)
    headers = {"kid": "attacker", "x5u": "http://127.0.0.1:9/cert.pem"}
    return jwt.encode(claims, _ATTACKER_KEY, algorithm="RS256", headers=headers)


def foreign_key_via_embedded_jwk(server: LiveServer, real: str) -> str:
    _, claims = _parts(real)
    jwk = json.loads(RSAAlgorithm.to_jwk(_ATTACKER_KEY.public_key()))
    return jwt.encode(claims, _ATTACKER_KEY, algorithm="RS256", headers={"jwk": jwk})


def _tampered(
    change: Callable[[dict[str, Any]], dict[str, Any]],
) -> Callable[[LiveServer, str], str]:
    def forge(server: LiveServer, real: str) -> str:
        head, payload, signature = real.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return ".".join((head, _b64(json.dumps(change(claims)).encode()), signature))

    return forge


def kid_path_traversal(server: LiveServer, real: str) -> str:
    _, claims = _parts(real)
    return jwt.encode(claims, _ATTACKER_KEY, algorithm="RS256", headers={"kid": "../../etc/passwd"})


def truncated_signature(server: LiveServer, real: str) -> str:
    return real[:-10]


def garbage(server: LiveServer, real: str) -> str:
    return "not-a-jwt"


FORGERIES: dict[str, Callable[[LiveServer, str], str]] = {
    "alg none": alg_none,
    "HS256 keyed with our public key": hs256_with_our_public_key,
    "foreign key, our kid": foreign_key_with_our_kid,
    "foreign key, jku": foreign_key_via_jku,
    "foreign key, x5u": foreign_key_via_x5u,
    "foreign key, embedded jwk": foreign_key_via_embedded_jwk,
    "kid path traversal": kid_path_traversal,
    "scope widened": _tampered(lambda c: c | {"scope": c["scope"] + " admin:everything"}),
    "expiry extended": _tampered(lambda c: c | {"exp": c["exp"] + 86400 * 365}),
    "audience changed": _tampered(lambda c: c | {"aud": "another-api"}),
    "truncated signature": truncated_signature,
    "not a JWT": garbage,
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
@pytest.mark.parametrize("target", ["status", "url", "create", "list"])
def test_a_forged_token_is_refused_everywhere(
    http: httpx.Client, server: LiveServer, world: World, forgery: str, target: str
) -> None:
    forged = FORGERIES[forgery](server, world.token_a)
    headers = bearer(forged)
    calls: dict[str, Callable[[], httpx.Response]] = {
        "status": lambda: http.get(f"{JOBS}/{world.job_a}", headers=headers),
        "url": lambda: http.get(f"{JOBS}/{world.job_a}/url", headers=headers),
        "create": lambda: http.post(JOBS, json={"userId": world.user_a}, headers=headers),
        "list": lambda: http.get(JOBS, headers=headers),
    }
    response = calls[target]()

    assert_envelope(response, 401, "UNAUTHORIZED")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_token_claiming_another_org_is_refused(http: httpx.Client, world: World) -> None:
    """The org claim changed to org B's: B's job is not readable with A's signature."""
    forge = _tampered(lambda c: {**c, **{k: world.org_b.org_id for k in c if "org" in k}})
    headers = bearer(forge(None, world.token_a))  # type: ignore[arg-type]

    assert_envelope(http.get(f"{JOBS}/{world.job_b}", headers=headers), 401, "UNAUTHORIZED")
