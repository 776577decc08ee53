"""Client secrets: generated with `secrets`, stored only as Argon2id hashes."""

from __future__ import annotations

import asyncio
import os
import secrets
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class HasherBusy(Exception):
    """More secret verifications are waiting than the pool works off in about a second."""


class SecretHasher:
    """Argon2id hashing with a dummy hash, so an unknown client costs as much as a wrong secret.

    The async methods run on a small pool of their own: each verification holds `memory_kib` of
    RAM and a core for ~0.1 s, so a flood of token requests queues here instead of taking every
    thread of the shared pool (which renders and storage calls also use) or all the memory. The
    queue is bounded too: past `max_waiting`, callers are turned away at once (`HasherBusy`, a
    503 with Retry-After) rather than held for seconds with their connections open.
    """

    def __init__(
        self,
        *,
        time_cost: int,
        memory_kib: int,
        parallelism: int,
        concurrent: int | None = None,
        max_waiting: int | None = None,
    ):
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))
        workers = concurrent or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        # About a second of work at ~0.1 s per verification per core.
        self._max_pending = workers + (10 * workers if max_waiting is None else max_waiting)
        self._pending = 0

    async def hash_async(self, secret: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.hash, secret)

    async def verify_async(self, stored_hash: str | None, secret: str) -> bool:
        if self._pending >= self._max_pending:
            raise HasherBusy()
        self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, self.verify, stored_hash, secret)
        finally:
            self._pending -= 1

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
