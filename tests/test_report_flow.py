"""The documented three-step flow, end to end through HTTP, with the PDF parsed."""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import uuid

import httpx
from pypdf import PdfReader

from sqr_reports.container import Container
from sqr_reports.queue.worker import Worker
from tests.conftest import add_user, connected
from tests.fakes import FakeRenderer
from tests.support import Api, ClientCredentials, MovableClock, load_job, worker_with

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def test_create_returns_202_with_location_and_the_documented_shape(
    api: Api, token_a: str, alice: str
) -> None:
    response = await api.create(token_a, alice)

    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"jobId", "status", "userId", "createdAt", "updatedAt"}
    assert uuid.UUID(body["jobId"]).version == 4
    assert body["status"] == "PENDING"
    assert body["userId"] == alice
    assert ISO_MS.match(body["createdAt"])
    assert ISO_MS.match(body["updatedAt"])
    assert response.headers["Location"] == f"/v1/document/api/{body['jobId']}"


async def test_pending_job_status_carries_retry_after_per_polling_advice(
    api: Api, token_a: str, alice: str, clock: MovableClock
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]

    early = await api.status(token_a, job_id)
    clock.advance(31)
    late = await api.status(token_a, job_id)

    assert early.status_code == 200
    assert early.json()["status"] == "PENDING"
    assert 3 <= int(early.headers["Retry-After"]) <= 5
    assert 10 <= int(late.headers["Retry-After"]) <= 15


async def test_complete_flow_downloads_a_pdf_of_the_users_report(
    api: Api, http: httpx.AsyncClient, token_a: str, alice: str, worker: Worker
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    assert (await api.url(token_a, job_id)).status_code == 422

    assert await worker.drain() == 1
    status = await api.status(token_a, job_id)
    job = status.json()
    assert job["status"] == "COMPLETE"
    assert "Retry-After" not in status.headers
    assert job["errorCode"] is None
    assert job["templateVersion"] == "v2"
    assert ISO_MS.match(job["startedAt"])
    assert ISO_MS.match(job["completedAt"])

    minted = await api.url(token_a, job_id)
    assert minted.status_code == 200
    assert minted.headers["Cache-Control"] == "no-store"
    link = minted.json()
    assert link["expiresInSeconds"] == 300
    assert ISO_MS.match(link["expiresAt"])

    download = await http.get(link["url"])
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "application/pdf"
    assert re.match(r'attachment; filename=".+\.pdf"', download.headers["Content-Disposition"])
    pdf = download.content
    assert len(pdf) == job["sizeBytes"]
    assert hashlib.sha256(pdf).hexdigest() == job["sha256"]
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == job["pageCount"]
    text = " ".join(page.extract_text() for page in reader.pages)
    assert alice in text
    assert "Alice" in text
    assert "Øvergård" in text
    assert job_id in text.replace("\n", "")


async def test_unknown_user_fails_with_user_not_found(
    api: Api, token_a: str, worker: Worker
) -> None:
    job_id = (await api.create(token_a, "USNOSUCHUSER0001")).json()["jobId"]

    await worker.drain()

    job = (await api.status(token_a, job_id)).json()
    assert job["status"] == "FAILED"
    assert job["errorCode"] == "USER_NOT_FOUND"
    assert job["errorMessage"]
    assert (await api.url(token_a, job_id)).status_code == 422


async def test_user_of_another_org_is_not_found(
    api: Api, token_b: str, alice: str, worker: Worker
) -> None:
    job_id = (await api.create(token_b, alice)).json()["jobId"]

    await worker.drain()

    assert (await api.status(token_b, job_id)).json()["errorCode"] == "USER_NOT_FOUND"


async def test_withdrawn_connection_or_consent_fails_with_user_not_connected(
    api: Api, container: Container, org_a: ClientCredentials, token_a: str, worker: Worker
) -> None:
    revoked = await add_user(
        container, id="USREVOKED0000001", connections=connected(org_a.org_id, status="REVOKED")
    )
    no_consent = await add_user(
        container, id="USNOCONSENT00001", connections=connected(org_a.org_id, agreed=False)
    )
    jobs = [(await api.create(token_a, uid)).json()["jobId"] for uid in (revoked, no_consent)]

    await worker.drain()

    for job_id in jobs:
        job = (await api.status(token_a, job_id)).json()
        assert (job["status"], job["errorCode"]) == ("FAILED", "USER_NOT_CONNECTED")


async def test_consent_withdrawn_after_creation_is_honoured_at_render_time(
    api: Api, container: Container, org_a: ClientCredentials, token_a: str, alice: str,
    worker: Worker,
) -> None:  # fmt: skip
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    await add_user(container, id=alice, connections=connected(org_a.org_id, agreed=False))

    await worker.drain()

    assert (await api.status(token_a, job_id)).json()["errorCode"] == "USER_NOT_CONNECTED"


async def test_a_worker_holds_two_claims_per_render_process(
    container: Container, api: Api, token_a: str, alice: str
) -> None:
    """While one report is stored and recorded, its render process is already on the next."""
    container.settings.worker.concurrency = 1
    jobs = [(await api.create(token_a, alice)).json()["jobId"] for _ in range(3)]
    renderer = FakeRenderer(hold=True)
    worker = worker_with(container, renderer=renderer)
    running = asyncio.create_task(worker.run())
    try:
        for _ in range(2000):
            if len(renderer.requests) >= 2:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # time enough to claim a third, were it allowed
        statuses = [(await load_job(container, job_id)).status for job_id in jobs]
    finally:
        worker.stop()
        renderer.release()
        await asyncio.wait_for(running, 20)
    await worker_with(container, renderer=renderer).drain()

    assert sorted(statuses) == ["PENDING", "PROCESSING", "PROCESSING"]
    assert [(await load_job(container, job_id)).status for job_id in jobs] == ["COMPLETE"] * 3
