"""`Prefer: wait=N` (RFC 7240): a request held until its job settles or N seconds pass, holding
no database connection meanwhile, and hearing of settlements in other processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import httpx
import pytest

from sqr_reports.auth.service import revoke_client
from sqr_reports.container import Container
from sqr_reports.queue.worker import Worker
from sqr_reports.reports.waiting import MAX_WAIT_SECONDS, Waiting, requested_wait
from tests.conftest import POSTGRES_URL
from tests.support import Api, ClientCredentials, assert_envelope, listening

JOBS = "/v1/document/api"
T = TypeVar("T")


@pytest.mark.parametrize(
    ("prefer", "seconds"),
    [
        (["wait=5"], 5),
        (["WAIT = 7"], 7),
        (['wait="9"'], 9),
        (["respond-async, wait=3"], 3),
        (["respond-async", "wait=4;foo=bar"], 4),
        ([f"wait={MAX_WAIT_SECONDS + 1}"], MAX_WAIT_SECONDS),
        (["wait=99999999999999999999"], MAX_WAIT_SECONDS),
        (["wait=0"], None),
        (["wait=-1"], None),
        (["wait=1.5"], None),
        (["wait=²"], None),  # a digit to str.isdigit, not to RFC 7240
        (["wait=٣"], None),
        (["wait"], None),
        (["waitress=5"], None),
        (["respond-async"], None),
        ([""], None),
    ],
)
def test_the_wait_preference_is_read_as_rfc_7240_writes_it(
    prefer: list[str], seconds: int | None
) -> None:
    assert requested_wait(prefer) == seconds


async def test_a_held_status_poll_answers_as_soon_as_the_job_completes(
    api: Api, container: Container, worker: Worker, token_a: str, alice: str
) -> None:
    _recheck_only_after(container, 60)  # only the settlement can answer it in time
    job_id = (await api.create(token_a, alice)).json()["jobId"]

    held = asyncio.create_task(_status(api, token_a, job_id, "wait=15"))
    await _until_held(container)
    assert await worker.drain() == 1
    settled_at = time.monotonic()
    response = await _within(held, 10)

    assert time.monotonic() - settled_at < 5
    assert response.status_code == 200
    assert response.headers["Preference-Applied"] == "wait=15"
    assert "Retry-After" not in response.headers
    body = response.json()
    assert (body["jobId"], body["status"]) == (job_id, "COMPLETE")
    assert len(body["sha256"]) == 64


async def test_a_held_status_poll_holds_no_database_connection(
    api: Api, container: Container, worker: Worker, token_a: str, alice: str
) -> None:
    _recheck_only_after(container, 60)  # no re-read while the pools are watched
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    held = asyncio.create_task(_status(api, token_a, job_id, "wait=15"))
    await _until_held(container)  # the watch is on; its first re-read may still be in flight

    engines = container.engines
    pools = [engines.writer.pool, engines.reader.pool, engines.autocommit.pool]
    if engines.inline is not None:
        pools.append(engines.inline.pool)

    def checked_out() -> list[int]:
        return [pool.checkedout() for pool in pools]  # type: ignore[attr-defined]

    deadline = time.monotonic() + 5
    while checked_out() != [0] * len(pools):
        assert time.monotonic() < deadline, f"connections held while waiting: {checked_out()}"
        await asyncio.sleep(0.01)
    for _ in range(20):  # and none is taken again while the request is held
        await asyncio.sleep(0.02)
        assert checked_out() == [0] * len(pools)
    assert not held.done()

    await worker.drain()
    assert (await _within(held, 10)).json()["status"] == "COMPLETE"


async def test_a_held_status_poll_ends_after_n_seconds_with_the_job_as_it_is(
    api: Api, container: Container, token_a: str, alice: str
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]

    started = time.monotonic()
    response = await _status(api, token_a, job_id, "wait=1")

    assert time.monotonic() - started >= 1
    assert response.status_code == 200
    assert response.json()["status"] == "PENDING"
    assert response.headers["Preference-Applied"] == "wait=1"
    assert response.headers["Retry-After"] == "3"  # the polling advice still holds
    assert container.waiting.settlements.waiting == 0


async def test_a_long_wait_is_capped_and_a_terminal_job_answers_at_once(
    api: Api, worker: Worker, token_a: str, alice: str
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    await worker.drain()

    response = await asyncio.wait_for(_status(api, token_a, job_id, "wait=3600"), 5)

    assert response.headers["Preference-Applied"] == f"wait={MAX_WAIT_SECONDS}"
    assert response.json()["status"] == "COMPLETE"


@pytest.mark.parametrize("prefer", ["wait=0", "wait=soon", "respond-async", "return=minimal"])
async def test_a_preference_not_understood_is_ignored(
    api: Api, token_a: str, alice: str, prefer: str
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]

    response = await asyncio.wait_for(_status(api, token_a, job_id, prefer), 5)

    assert response.status_code == 200
    assert response.json()["status"] == "PENDING"
    assert "Preference-Applied" not in response.headers


async def test_a_held_poll_is_rechecked_and_a_revoked_client_is_refused(
    api: Api, container: Container, worker: Worker, org_a: ClientCredentials, alice: str
) -> None:
    token = await api.token(org_a)
    job_id = (await api.create(token, alice)).json()["jobId"]
    held = asyncio.create_task(_status(api, token, job_id, "wait=15"))
    await _until_held(container)

    async with container.sessions() as session:
        await revoke_client(session, container.db_clock, org_a.client_id)
        await session.commit()
    await worker.drain()

    assert_envelope(await _within(held, 10), 401, "UNAUTHORIZED")


async def test_a_held_poll_of_another_orgs_job_is_the_same_404_at_once(
    api: Api, token_a: str, token_b: str, alice: str
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]

    response = await asyncio.wait_for(_status(api, token_b, job_id, "wait=15"), 5)

    assert_envelope(response, 404, "NOT_FOUND")


async def test_a_held_create_answers_with_the_finished_job(
    api: Api, container: Container, worker: Worker, token_a: str, alice: str
) -> None:
    held = asyncio.create_task(_create(api, token_a, alice, "wait=15"))
    await _until_held(container)
    await worker.drain()
    response = await _within(held, 10)

    assert response.status_code == 202
    assert response.headers["Preference-Applied"] == "wait=15"
    body = response.json()
    assert response.headers["Location"] == f"{JOBS}/{body['jobId']}"
    assert "RateLimit" in response.headers
    assert body["status"] == "COMPLETE"
    assert len(body["sha256"]) == 64


async def test_a_create_by_a_client_that_may_not_read_status_is_not_held(
    api: Api, container: Container, org_a: ClientCredentials, alice: str
) -> None:
    token = await api.token(org_a, scope="write:reports")

    response = await asyncio.wait_for(_create(api, token, alice, "wait=15"), 5)

    assert response.status_code == 202
    assert response.json()["status"] == "PENDING"
    assert "Preference-Applied" not in response.headers
    assert set(response.json()) == {"jobId", "status", "userId", "createdAt", "updatedAt"}


async def test_a_settlement_nobody_announced_here_is_caught_by_the_recheck(
    api: Api, container: Container, second_container: Container, token_a: str, alice: str
) -> None:
    """On SQLite, an `api` process apart from the worker hears nothing: its re-reads answer."""
    _recheck_only_after(container, 0.2)
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    held = asyncio.create_task(_status(api, token_a, job_id, "wait=15"))
    await _until_held(container)

    await second_container.new_worker().drain()

    assert (await _within(held, 10)).json()["status"] == "COMPLETE"


@pytest.mark.skipif(not POSTGRES_URL, reason="needs PostgreSQL (CI runs it there)")
async def test_a_job_settled_by_ansecond_container_wakes_the_held_request_through_notify(
    api: Api, container: Container, second_container: Container, token_a: str, alice: str
) -> None:
    _recheck_only_after(container, 60)  # only NOTIFY can answer it in time
    async with listening(container.new_settlement_listener()):
        job_id = (await api.create(token_a, alice)).json()["jobId"]
        held = asyncio.create_task(_status(api, token_a, job_id, "wait=15"))
        await _until_held(container)

        await second_container.new_worker().drain()
        settled_at = time.monotonic()
        response = await _within(held, 10)

    assert time.monotonic() - settled_at < 5
    assert response.json()["status"] == "COMPLETE"


def _recheck_only_after(container: Container, seconds: float) -> None:
    container.waiting = Waiting(container.waiting.settlements, recheck_seconds=seconds)


async def _status(api: Api, token: str, job_id: str, prefer: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Prefer": prefer}
    return await api.http.get(f"{JOBS}/{job_id}", headers=headers, timeout=30)


async def _create(api: Api, token: str, user_id: str, prefer: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Prefer": prefer}
    return await api.http.post(JOBS, json={"userId": user_id}, headers=headers, timeout=30)


async def _until_held(container: Container, seconds: float = 10) -> None:
    """Until a request is held (its first read found the job unsettled)."""
    deadline = time.monotonic() + seconds
    while container.waiting.settlements.waiting == 0:
        assert time.monotonic() < deadline, "no request was held"
        await asyncio.sleep(0.01)


async def _within(task: Awaitable[T], seconds: float) -> T:
    result: Any = await asyncio.wait_for(task, seconds)
    return result  # type: ignore[no-any-return]
