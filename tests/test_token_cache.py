"""The verified-token cache: it spares the RS256 check, never the database's re-check, and never
keeps a token beyond its `exp`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import update

from sqr_reports.auth.service import revoke_client
from sqr_reports.auth.token_cache import VerifiedTokenCache
from sqr_reports.auth.tokens import InvalidToken, TokenClaims, TokenCodec
from sqr_reports.container import Container
from sqr_reports.orgs.models import Org, OrgStatus
from tests.support import ClientCredentials, assert_envelope, set_scopes

JOB = "/v1/document/api/3fa85f64-5717-4562-b3fc-2c963f66afa6"


class WallClock:
    """Unix seconds that a test moves: the clock a codec checks `exp` by, and its cache too."""

    def __init__(self) -> None:
        self.seconds = time.time()

    def __call__(self) -> float:
        return self.seconds


Poll = Callable[[], Awaitable[httpx.Response]]


async def _cached_poll(http: httpx.AsyncClient, container: Container, token: str) -> Poll:
    """A status poll whose token is in the cache already (the first poll put it there)."""

    async def poll() -> httpx.Response:
        return await http.get(JOB, headers={"Authorization": f"Bearer {token}"})

    assert (await poll()).status_code == 404  # a valid token; no such job
    assert len(container.tokens) == 1
    return poll


def _codec_on(container: Container, clock: WallClock) -> TokenCodec:
    auth = container.settings.auth
    return TokenCodec(
        container.keys, issuer=auth.issuer, audience=auth.audience, ttl=auth.token_ttl_seconds,
        leeway=auth.clock_leeway_seconds, now=clock,
    )  # fmt: skip


def _issue(codec: TokenCodec, creds: ClientCredentials, clock: WallClock) -> str:
    now = datetime.fromtimestamp(clock(), UTC)
    return codec.issue(client_id=creds.client_id, org_id=creds.org_id, scopes=["read:reports"],
                       now=now)  # fmt: skip


async def test_a_revoked_client_is_refused_on_the_next_call_with_a_cached_token(
    http: httpx.AsyncClient, container: Container, org_a: ClientCredentials, token_a: str
) -> None:
    poll = await _cached_poll(http, container, token_a)
    async with container.sessions.begin() as session:
        await revoke_client(session, container.db_clock, org_a.client_id)

    response = await poll()

    assert_envelope(response, 401, "UNAUTHORIZED")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


async def test_a_suspended_org_is_refused_on_the_next_call_with_a_cached_token(
    http: httpx.AsyncClient, container: Container, org_a: ClientCredentials, token_a: str
) -> None:
    poll = await _cached_poll(http, container, token_a)
    async with container.sessions.begin() as session:
        await session.execute(
            update(Org).where(Org.id == org_a.org_id).values(status=OrgStatus.SUSPENDED)
        )

    response = await poll()

    assert_envelope(response, 403, "FORBIDDEN")


async def test_a_removed_scope_is_refused_on_the_next_call_with_a_cached_token(
    http: httpx.AsyncClient, container: Container, org_a: ClientCredentials, token_a: str
) -> None:
    poll = await _cached_poll(http, container, token_a)
    await set_scopes(container, org_a.client_id, "write:reports download:reports")

    response = await poll()

    assert_envelope(response, 403, "FORBIDDEN")
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


async def test_an_expired_token_is_refused_although_it_was_cached(
    http: httpx.AsyncClient, container: Container, org_a: ClientCredentials
) -> None:
    clock = WallClock()
    codec = _codec_on(container, clock)
    container.tokens = VerifiedTokenCache(codec, max_entries=100)
    token = _issue(codec, org_a, clock)
    poll = await _cached_poll(http, container, token)

    clock.seconds += codec.ttl + container.settings.auth.clock_leeway_seconds
    response = await poll()

    assert_envelope(response, 401, "UNAUTHORIZED")
    assert "expired" in response.json()["message"].lower()
    assert len(container.tokens) == 0


async def test_no_entry_outlives_its_tokens_exp_even_within_the_leeway(
    http: httpx.AsyncClient, container: Container, org_a: ClientCredentials
) -> None:
    """Past `exp` but within the leeway the token is still good, verified afresh each time."""
    clock = WallClock()
    codec = _codec_on(container, clock)
    container.tokens = VerifiedTokenCache(codec, max_entries=100)
    token = _issue(codec, org_a, clock)
    poll = await _cached_poll(http, container, token)

    clock.seconds += codec.ttl  # exactly exp
    response = await poll()

    assert response.status_code == 404
    assert len(container.tokens) == 0


def _codec_and_tokens(container: Container) -> tuple[TokenCodec, list[str]]:
    """The container's codec, with its `verify` calls counted, and three of its tokens."""
    codec = container.codec
    now = datetime.now(UTC)
    tokens = [
        codec.issue(client_id=f"client-{n}", org_id="org", scopes=["read:reports"], now=now)
        for n in range(3)
    ]
    return codec, tokens


def _count_verifications(codec: TokenCodec, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    verified: list[str] = []
    real = codec.verify

    def verify(token: str) -> TokenClaims:
        verified.append(token)
        return real(token)

    monkeypatch.setattr(codec, "verify", verify)
    return verified


def test_the_cache_is_bounded_and_keeps_the_tokens_in_use(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    codec, (first, second, third) = _codec_and_tokens(container)
    verified = _count_verifications(codec, monkeypatch)
    cache = VerifiedTokenCache(codec, max_entries=2)

    for token in (first, second, first, third):  # `first` used again: `second` is the oldest
        cache.verify(token)
    for token in (first, third, second):
        cache.verify(token)

    assert len(cache) == 2
    assert verified == [first, second, third, second]


def test_it_remembers_verified_tokens_only(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    codec, (token, _, _) = _codec_and_tokens(container)
    verified = _count_verifications(codec, monkeypatch)
    cache = VerifiedTokenCache(codec, max_entries=10)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")

    for _ in range(2):
        with pytest.raises(InvalidToken):
            cache.verify(forged)
    assert cache.verify(token) == cache.verify(token)

    assert verified == [forged, forged, token]
    assert len(cache) == 1


def test_a_size_of_zero_turns_it_off(container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    codec, (token, _, _) = _codec_and_tokens(container)
    verified = _count_verifications(codec, monkeypatch)
    cache = VerifiedTokenCache(codec, max_entries=0)

    cache.verify(token)
    cache.verify(token)

    assert verified == [token, token]
    assert len(cache) == 0
