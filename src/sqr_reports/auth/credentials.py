"""Client secrets: generated with `secrets`, stored only as Argon2id hashes."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class SecretHasher:
    """Argon2id hashing with a dummy hash, so an unknown client costs as much as a wrong secret."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int):
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))

    def hash(self, secret: str) -> str:
        return self._hasher.hash(secret)

    def verify(self, stored_hash: str | None, secret: str) -> bool:
        """Always runs one Argon2 verification, whether or not the client exists."""
        try:
            return self._hasher.verify(stored_hash or self._dummy_hash, secret) and (
                stored_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False


def new_client_id() -> str:
    return "sqr_" + secrets.token_hex(12)


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)
