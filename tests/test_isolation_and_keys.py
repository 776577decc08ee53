"""Org scoping in the repository itself, and signing-key rotation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sqr_reports.auth.key_directory import KeyDirectory
from sqr_reports.auth.keys import KeyRing
from sqr_reports.auth.tokens import InvalidToken, TokenCodec
from sqr_reports.container import Container
from sqr_reports.reports import repository
from tests.support import Api, ClientCredentials


async def test_repository_reads_are_scoped_to_the_org(
    container: Container, api: Api, token_a: str, alice: str, org_a: ClientCredentials,
    org_b: ClientCredentials,
) -> None:  # fmt: skip
    job_id = (await api.create(token_a, alice)).json()["jobId"]

    async with container.sessions() as session:
        own = await repository.get_for_org(session, org_a.org_id, job_id)
        foreign = await repository.get_for_org(session, org_b.org_id, job_id)

    assert own is not None
    assert own.id == job_id
    assert foreign is None


def _pem(path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _codec(keys: KeyRing) -> TokenCodec:
    return TokenCodec(keys, issuer="iss", audience="aud", ttl=600, leeway=0)


def test_rotated_out_key_still_verifies_its_tokens_until_they_expire(tmp_path: Path) -> None:
    old, new = _pem(tmp_path / "old.pem"), _pem(tmp_path / "new.pem")
    now = datetime.now(UTC)
    before = _codec(KeyRing.from_pem_files([old]))
    token = before.issue(client_id="c", org_id="o", scopes=["read:reports"], now=now)

    after = _codec(KeyRing.from_pem_files([new, old]))  # new key signs, old still verifies
    fresh = after.issue(client_id="c", org_id="o", scopes=["read:reports"], now=now)

    assert after.verify(token).client_id == "c"
    assert jwt.get_unverified_header(fresh)["kid"] != jwt.get_unverified_header(token)["kid"]
    with pytest.raises(InvalidToken):
        _codec(KeyRing.from_pem_files([new])).verify(token)  # old key retired


def test_generated_key_is_kept_private_and_reused(tmp_path: Path) -> None:
    first = KeyDirectory(tmp_path / "keys").load_or_generate()
    second = KeyDirectory(tmp_path / "keys").load_or_generate()

    [pem] = list((tmp_path / "keys").glob("*.pem"))
    assert pem.stat().st_mode & 0o777 == 0o600
    assert first.signing_key.kid == second.signing_key.kid


async def test_jwks_lists_every_verification_key(
    http: httpx.AsyncClient, container: Container
) -> None:
    jwks = (await http.get("/.well-known/jwks.json")).json()

    assert [k["kid"] for k in jwks["keys"]] == [container.keys.signing_key.kid]
    assert {k["alg"] for k in jwks["keys"]} == {"RS256"}
