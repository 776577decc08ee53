"""`Idempotency-Key`: a retry returns the same job and uses no rate-limit slot."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from sqr_reports.container import Container
from sqr_reports.queue.worker import Worker
from sqr_reports.reports.models import IdempotencyKey
from tests.fakes import FakeRenderer
from tests.support import Api, MovableClock, assert_envelope


@pytest.fixture
def renderer() -> FakeRenderer:
    """Keys are the subject here, not the PDF: the worker's renders are instant stand-ins."""
    return FakeRenderer()


async def test_same_key_and_body_return_the_same_job(api: Api, token_a: str, alice: str) -> None:
    first = await api.create(token_a, alice, key="order-42")
    again = await api.create(token_a, alice, key="order-42")

    assert first.status_code == again.status_code == 202
    assert again.json()["jobId"] == first.json()["jobId"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]


async def test_replays_use_no_rate_limit_slot(api: Api, token_a: str, alice: str) -> None:
    await api.create(token_a, alice, key="retry-me")
    for _ in range(20):
        assert (await api.create(token_a, alice, key="retry-me")).status_code == 202

    fresh = [await api.create(token_a, alice) for _ in range(10)]

    assert [r.status_code for r in fresh] == [202] * 9 + [429]


async def test_same_key_with_another_body_is_refused(api: Api, token_a: str, alice: str) -> None:
    await api.create(token_a, alice, key="k1")

    response = await api.create(token_a, "USSOMEONEELSE001", key="k1")

    body = assert_envelope(response, 422, "UNPROCESSABLE_ENTITY")
    assert "Idempotency-Key" in body["message"]


async def test_keys_are_per_org(api: Api, token_a: str, token_b: str, alice: str) -> None:
    a = await api.create(token_a, alice, key="shared")
    b = await api.create(token_b, alice, key="shared")

    assert a.json()["jobId"] != b.json()["jobId"]


async def test_concurrent_retries_with_one_key_create_one_job(
    api: Api, token_a: str, alice: str
) -> None:
    responses = await asyncio.gather(*(api.create(token_a, alice, key="burst") for _ in range(8)))

    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["jobId"] for r in responses}) == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "del\x7fchar"])
async def test_malformed_keys_are_400(api: Api, token_a: str, alice: str, key: str) -> None:
    response = await api.create(token_a, alice, key=key)

    body = assert_envelope(response, 400, "BAD_REQUEST")
    assert body["errors"][0]["field"] == "Idempotency-Key"


async def test_a_key_is_remembered_for_24_hours_then_starts_afresh(
    api: Api, token_a: str, alice: str, clock: MovableClock
) -> None:
    # The service's clock moves; the token, checked against real time, stays valid.
    first = (await api.create(token_a, alice, key="daily")).json()["jobId"]
    clock.advance(23 * 3600)
    within = (await api.create(token_a, alice, key="daily")).json()["jobId"]
    clock.advance(2 * 3600)
    after = await api.create(token_a, alice, key="daily")

    assert within == first
    assert after.status_code == 202
    assert after.json()["jobId"] != first
    assert "Idempotent-Replayed" not in after.headers


async def test_workers_purge_expired_keys(
    api: Api, token_a: str, alice: str, clock: MovableClock, container: Container,
    worker: Worker,
) -> None:  # fmt: skip
    await api.create(token_a, alice, key="old")
    clock.advance(25 * 3600)
    await api.create(token_a, alice, key="new")

    await worker.drain()

    async with container.sessions() as session:
        keys = (await session.execute(select(IdempotencyKey.key))).scalars().all()
    assert keys == ["new"]
