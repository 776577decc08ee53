"""`DELETE /v1/document/api/{id}` (scope `delete:reports`): the PDF and the job's personal fields
go, the job stays as a tombstone, `/url` answers 410 REPORT_DELETED, every step is audited, and a
job deleted while it renders never leaves a PDF behind."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from sqr_reports.audit.models import AuditRecord
from sqr_reports.auth import scopes
from sqr_reports.container import Container
from sqr_reports.lifecycle.models import PurgeStatus, ReportPurge
from sqr_reports.queue.worker import Worker
from sqr_reports.reports.models import IdempotencyKey
from sqr_reports.webhooks.models import WebhookEvent
from tests.conftest import add_user, connected, register_org
from tests.fakes import FakeRenderer
from tests.support import (
    Api,
    ClientCredentials,
    MovableClock,
    assert_envelope,
    load_job,
    worker_with,
)

JOBS = "/v1/document/api"


@pytest.fixture
def renderer() -> FakeRenderer:
    """What is deleted is the subject, not the PDF: renders are stand-ins (held when asked)."""
    return FakeRenderer()


@pytest.fixture
async def deleter(container: Container) -> ClientCredentials:
    """An org whose client holds every scope, `delete:reports` among them."""
    return await register_org(container, "Delta Deletes Ltd", list(scopes.ALL))


@pytest.fixture
async def token(api: Api, deleter: ClientCredentials) -> str:
    return await api.token(deleter)


@pytest.fixture
async def user(container: Container, deleter: ClientCredentials) -> str:
    return await add_user(container, id="US0DELETE0ME0001", first_name="Dana",
                          connections=connected(deleter.org_id))  # fmt: skip


async def _delete(
    http: httpx.AsyncClient, token: str, job_id: str, **headers: str
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", **headers}
    return await http.delete(f"{JOBS}/{job_id}", headers=headers)


async def _completed(api: Api, token: str, user: str, worker: Worker) -> dict[str, Any]:
    job_id = (await api.create(token, user)).json()["jobId"]
    await worker.drain()
    body: dict[str, Any] = (await api.status(token, job_id)).json()
    assert body["status"] == "COMPLETE"
    return body


def _pdf(container: Container, org_id: str, job_id: str, attempt: int = 1) -> Path:
    return container.settings.resolved_blob_dir() / "reports" / org_id / job_id / f"{attempt}.pdf"


async def _audit(container: Container, event: str) -> list[AuditRecord]:
    async with container.read_sessions() as session:
        found = await session.execute(
            select(AuditRecord).where(AuditRecord.event == event).order_by(AuditRecord.seq)
        )
        return list(found.scalars())


async def test_delete_removes_the_pdf_and_the_personal_fields_and_keeps_a_tombstone(
    api: Api, http: httpx.AsyncClient, token: str, user: str, worker: Worker,
    container: Container, deleter: ClientCredentials,
) -> None:  # fmt: skip
    job = await _completed(api, token, user, worker)
    pdf = _pdf(container, deleter.org_id, job["jobId"])
    assert pdf.is_file()

    deleted = await _delete(http, token, job["jobId"], **{"X-Request-ID": "req-delete-1"})
    status = (await api.status(token, job["jobId"])).json()
    listed = (await http.get(JOBS, headers={"Authorization": f"Bearer {token}"})).json()
    purged = await worker.drain()
    url = await api.url(token, job["jobId"])

    assert (deleted.status_code, deleted.content) == (204, b"")
    assert status["status"] == "COMPLETE"  # a tombstone keeps its status ...
    assert status["userId"] == ""  # ... and forgets whom it was about
    assert status["deletedAt"] is not None
    assert status["sha256"] == job["sha256"]
    assert status["expiresAt"] == job["expiresAt"]
    assert listed["items"] == [status]
    assert purged == 1
    assert not pdf.exists()
    assert not pdf.parent.exists()
    body = assert_envelope(url, 410, "REPORT_DELETED")
    assert "deleted" in body["message"]
    stored = await load_job(container, job["jobId"])
    assert (stored.storage_key, stored.error_message, stored.deletion) == (None, None, "DELETED")
    [record] = await _audit(container, "report.deleted")
    assert record.actor == f"client:{deleter.client_id}"
    assert (record.org_id, record.job_id, record.user_id) == (deleter.org_id, job["jobId"], None)
    assert record.request_id == "req-delete-1"
    assert record.source == "127.0.0.1"


async def test_deleting_again_answers_204_and_changes_nothing(
    api: Api, http: httpx.AsyncClient, token: str, user: str, worker: Worker, container: Container
) -> None:
    job = await _completed(api, token, user, worker)
    await _delete(http, token, job["jobId"])
    first = (await api.status(token, job["jobId"])).json()

    again = await _delete(http, token, job["jobId"])

    assert again.status_code == 204
    assert (await api.status(token, job["jobId"])).json() == first
    assert len(await _audit(container, "report.deleted")) == 1


async def test_delete_needs_its_own_scope(
    api: Api, http: httpx.AsyncClient, token_a: str, alice: str, worker: Worker
) -> None:
    """Clients get the report scopes by default, never `delete:reports`: it is asked for."""
    job_id = (await api.create(token_a, alice)).json()["jobId"]

    refused = await _delete(http, token_a, job_id)

    assert_envelope(refused, 403, "FORBIDDEN")
    assert 'scope="delete:reports"' in refused.headers["WWW-Authenticate"]
    assert (await api.status(token_a, job_id)).json()["deletedAt"] is None


async def test_another_orgs_job_an_unknown_and_a_malformed_id_are_the_same_404(
    api: Api, http: httpx.AsyncClient, token: str, token_a: str, alice: str, container: Container,
    org_a: ClientCredentials,
) -> None:  # fmt: skip
    theirs = (await api.create(token_a, alice)).json()["jobId"]

    answers = [await _delete(http, token, job_id) for job_id in (theirs, str(uuid.uuid4()), "x")]

    for answer in answers:
        assert_envelope(answer, 404, "NOT_FOUND")
    assert (await load_job(container, theirs)).deleted_at is None


async def test_a_pending_job_deleted_ends_failed_and_is_never_rendered(
    api: Api, http: httpx.AsyncClient, token: str, user: str, worker: Worker,
    renderer: FakeRenderer,
) -> None:  # fmt: skip
    job_id = (await api.create(token, user)).json()["jobId"]

    assert (await _delete(http, token, job_id)).status_code == 204
    await worker.drain()
    status = (await api.status(token, job_id)).json()

    assert (status["status"], status["errorCode"]) == ("FAILED", "REPORT_DELETED")
    assert status["deletedAt"] is not None
    assert renderer.requests == []
    assert "Retry-After" not in (await api.status(token, job_id)).headers


async def test_a_job_deleted_while_it_renders_leaves_no_pdf(
    api: Api, http: httpx.AsyncClient, token: str, user: str, container: Container,
    deleter: ClientCredentials, clock: MovableClock,
) -> None:  # fmt: skip
    """The worker's completion is fenced: the deletion ended its claim, so the PDF it stored
    is discarded, and the purge (run once the attempt can no longer be writing) finds the
    store empty."""
    held = FakeRenderer(hold=True)
    worker = worker_with(container, renderer=held)
    job_id = (await api.create(token, user)).json()["jobId"]
    rendering = asyncio.create_task(worker.drain())
    await held.started.wait()

    deleted = await _delete(http, token, job_id)
    held.release()
    await rendering
    status = (await api.status(token, job_id)).json()
    pdf = _pdf(container, deleter.org_id, job_id)

    assert deleted.status_code == 204
    assert not pdf.exists()
    assert (status["status"], status["errorCode"]) == ("FAILED", "REPORT_DELETED")
    clock.advance(container.retention.in_flight_grace.total_seconds() + 1)
    assert await worker.drain() == 1  # the purge, after the attempt's time ran out
    async with container.read_sessions() as session:
        purge = await session.get(ReportPurge, job_id)
    assert purge is not None
    assert purge.status == PurgeStatus.DONE


async def test_minting_and_downloading_are_audited_with_the_clients_address(
    api: Api, http: httpx.AsyncClient, token: str, user: str, worker: Worker,
    container: Container, deleter: ClientCredentials,
) -> None:  # fmt: skip
    container.settings.auth.trusted_proxies = ["127.0.0.1/32"]
    job = await _completed(api, token, user, worker)
    headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": "203.0.113.9",
               "X-Request-ID": "req-mint-1"}  # fmt: skip

    minted = await http.get(f"{JOBS}/{job['jobId']}/url", headers=headers)
    downloaded = await http.get(minted.json()["url"], headers={"X-Forwarded-For": "198.51.100.4"})

    assert (minted.status_code, downloaded.status_code) == (200, 200)
    [mint] = await _audit(container, "report.url_minted")
    [download] = await _audit(container, "report.downloaded")
    assert (mint.actor, mint.org_id, mint.job_id) == (
        f"client:{deleter.client_id}", deleter.org_id, job["jobId"],
    )  # fmt: skip
    assert (mint.source, mint.request_id) == ("203.0.113.9", "req-mint-1")
    assert mint.details == {"expires_in_seconds": 300}
    assert (download.actor, download.org_id, download.job_id) == (
        "signed-url", deleter.org_id, job["jobId"],
    )  # fmt: skip
    assert download.source == "198.51.100.4"
    assert download.seq == mint.seq + 1


async def test_an_untrusted_peers_forwarded_address_is_not_believed(
    api: Api, http: httpx.AsyncClient, token: str, user: str, worker: Worker, container: Container
) -> None:
    job = await _completed(api, token, user, worker)
    headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": "203.0.113.9"}

    await http.get(f"{JOBS}/{job['jobId']}/url", headers=headers)

    [mint] = await _audit(container, "report.url_minted")
    assert mint.source == "127.0.0.1"


async def test_a_url_minted_before_the_deletion_no_longer_downloads(
    api: Api, http: httpx.AsyncClient, token: str, user: str, worker: Worker, container: Container
) -> None:
    """Even while the PDF is still on its way out of the store."""
    job = await _completed(api, token, user, worker)
    url = (await api.url(token, job["jobId"])).json()["url"]

    await _delete(http, token, job["jobId"])
    refused = await http.get(url)

    assert_envelope(refused, 410, "REPORT_DELETED")
    assert await _audit(container, "report.downloaded") == []


async def test_the_deletion_forgets_the_user_in_events_and_idempotency_keys(
    api: Api, http: httpx.AsyncClient, token: str, user: str, worker: Worker,
    container: Container, deleter: ClientCredentials,
) -> None:  # fmt: skip
    job_id = (await api.create(token, user, key="order-7")).json()["jobId"]
    await worker.drain()
    async with container.sessions.begin() as session:
        session.add(WebhookEvent(
            event_id=str(uuid.uuid4()), org_id=deleter.org_id, event_type="REPORT_COMPLETED",
            occurred_at=datetime.now(UTC), version=1, data={"job_id": job_id, "user_id": user},
            job_id=job_id,
        ))  # fmt: skip

    await _delete(http, token, job_id)

    async with container.read_sessions() as session:
        event = (await session.execute(select(WebhookEvent))).scalar_one()
        keys = (await session.execute(select(IdempotencyKey))).scalars().all()
    assert event.data == {"job_id": job_id, "user_id": ""}
    assert keys == []
