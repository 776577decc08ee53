"""Webhooks end to end: a job's terminal state reaches a real receiver through the queue, once
under normal running, later when the receiver was down, and after a worker was killed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Any

import pytest

from sqr_reports.config import Settings
from sqr_reports.container import Container
from sqr_reports.queue.worker import Worker
from sqr_reports.webhooks import service
from tests.conftest import ALICE, add_user, connected
from tests.support import Api, ClientCredentials, MovableClock, load_job
from tests.webhook_receiver import Received, Receiver, Reply, readme_verifier

#: An attempt's lease (total timeout 10 s + 3 heartbeats) and the longest first backoff (6 s).
DELIVERY_LEASE = 40
FIRST_BACKOFF = 6


pytestmark = pytest.mark.usefixtures("local_targets")


async def _register(container: Container, org_id: str, url: str) -> str:
    async with container.sessions.begin() as session:
        _, secret = await service.set_endpoint(
            session, org_id, url, clock=container.db_clock, settings=container.settings.webhooks
        )
    return secret


def _event(received: Received) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(received.body)
    return body


async def test_a_completed_job_is_delivered_once_signed_and_without_a_url(
    container: Container, api: Api, token_a: str, org_a: ClientCredentials, alice: str,
    receiver: Receiver, worker: Worker,
) -> None:  # fmt: skip
    secret = await _register(container, org_a.org_id, receiver.url())
    job_id = (await api.create(token_a, alice)).json()["jobId"]

    await worker.drain()
    await worker.drain()  # nothing more: one terminal state, one delivery

    [received] = receiver.requests
    event = _event(received)
    job = await load_job(container, job_id)
    assert (event["event_type"], event["version"]) == ("REPORT_COMPLETED", 1)
    assert event["data"] == {
        "job_id": job_id, "user_id": ALICE, "status": "COMPLETE", "error_code": None,
        "size_bytes": job.size_bytes, "sha256": job.sha256, "page_count": job.page_count,
    }  # fmt: skip
    assert received.headers["x_event_id"] == event["event_id"]
    readme = readme_verifier()
    signatures = readme["signatures_of"](received.headers)
    assert readme["verify"](secret, received.body, signatures, received.headers["x_timestamp"])
    assert not readme["verify"](
        "whsec_wrong", received.body, signatures, received.headers["x_timestamp"]
    )
    assert b"http" not in received.body  # never a download URL


async def test_a_failed_job_is_announced_with_its_error_code(
    container: Container, api: Api, token_a: str, org_a: ClientCredentials,
    receiver: Receiver, worker: Worker,
) -> None:  # fmt: skip
    await _register(container, org_a.org_id, receiver.url())
    user = await add_user(
        container, id="USWITHDRAWN00001", connections=connected(org_a.org_id, agreed=False)
    )
    job_id = (await api.create(token_a, user)).json()["jobId"]

    await worker.drain()

    [received] = receiver.requests
    event = _event(received)
    assert event["event_type"] == "REPORT_FAILED"
    assert event["data"]["job_id"] == job_id
    assert (event["data"]["status"], event["data"]["error_code"]) == (
        "FAILED",
        "USER_NOT_CONNECTED",
    )


async def test_a_receiver_that_was_down_gets_the_event_once_it_is_back(
    container: Container, api: Api, token_a: str, org_a: ClientCredentials, alice: str,
    receiver: Receiver, worker: Worker, clock: MovableClock,
) -> None:  # fmt: skip
    await _register(container, org_a.org_id, receiver.url())
    receiver.reply = Reply(status=503)
    await api.create(token_a, alice)

    await worker.drain()
    clock.advance(FIRST_BACKOFF - 5)
    await worker.drain()  # still backing off: no second attempt yet
    assert len(receiver.requests) == 1
    receiver.reply = Reply(status=204, body=b"")
    clock.advance(5)
    await worker.drain()

    first, second = receiver.requests
    assert first.headers["x_event_id"] == second.headers["x_event_id"]
    assert first.body == second.body


async def test_each_org_receives_only_its_own_events(
    container: Container, api: Api, token_a: str, token_b: str, org_a: ClientCredentials,
    org_b: ClientCredentials, alice: str, receiver: Receiver, worker: Worker,
) -> None:  # fmt: skip
    await _register(container, org_a.org_id, receiver.url("/alpha"))
    await _register(container, org_b.org_id, receiver.url("/beta"))
    bob = await add_user(container, id="USBOB00000000001", connections=connected(org_b.org_id))
    job_a = (await api.create(token_a, alice)).json()["jobId"]
    job_b = (await api.create(token_b, bob)).json()["jobId"]

    await worker.drain()

    by_path = {r.path: _event(r)["data"]["job_id"] for r in receiver.requests}
    assert by_path == {"/alpha": job_a, "/beta": job_b}


KILLED_WORKER = """
import asyncio
from sqr_reports.config import Settings
from sqr_reports.container import build_container

async def main():
    container = build_container(Settings())
    await container.renderer.start()
    await container.new_worker().run()

asyncio.run(main())
"""


async def test_a_worker_killed_between_the_job_and_its_delivery_loses_no_event(
    container: Container, settings: Settings, api: Api, token_a: str, org_a: ClientCredentials,
    alice: str, receiver: Receiver, worker: Worker, clock: MovableClock,
) -> None:  # fmt: skip
    await _register(container, org_a.org_id, receiver.url())
    receiver.reply = Reply(hang=True)  # the first POST never gets an answer
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    env = {
        **os.environ,
        "SQR_REPORTS_DATABASE_URL": settings.resolved_database_url(),
        "SQR_REPORTS_DATA_DIR": str(settings.data_dir),
        "SQR_REPORTS_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true",
    }
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", KILLED_WORKER, env=env)
    try:
        await asyncio.wait_for(receiver.arrived.wait(), 60)
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    assert (await load_job(container, job_id)).status == "COMPLETE"  # the state committed ...
    receiver.reply = Reply(status=200)

    clock.advance(DELIVERY_LEASE + 1)
    await worker.drain()  # ... and its event outlives the worker: reaped, then retried
    clock.advance(FIRST_BACKOFF + 1)
    await worker.drain()

    first, second = receiver.requests
    assert first.headers["x_event_id"] == second.headers["x_event_id"]
    assert _event(second)["data"]["job_id"] == job_id
