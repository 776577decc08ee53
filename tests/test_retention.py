"""Retention: a report expires its org's period (or the deployment's) after its job ends; the
workers' sweep then deletes it, once, however many workers sweep; its PDFs are purged through
the queue, which retries a store that is down and survives a worker dying halfway."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update

from sqr_reports.audit.models import AuditRecord
from sqr_reports.clock import isoformat_ms
from sqr_reports.container import Container
from sqr_reports.lifecycle.models import PurgeStatus, ReportPurge
from sqr_reports.lifecycle.work import PurgeWork
from sqr_reports.queue.store import SqlQueue
from sqr_reports.queue.worker import Worker
from sqr_reports.reports.models import ReportJob
from sqr_reports.storage import BlobStore, StorageError
from tests.conftest import POSTGRES_URL, Run
from tests.fakes import FakeRenderer
from tests.support import Api, ClientCredentials, MovableClock, assert_envelope, load_job

DAY = 86400.0
DEFAULT_DAYS = 30


@pytest.fixture
def renderer() -> FakeRenderer:
    return FakeRenderer()


def _purges(container: Container, store: BlobStore | None = None) -> tuple[SqlQueue, PurgeWork]:
    """The purge queue and its kind of work (with another store, if given), to drive by hand."""
    work = container.new_purge_work()
    if store is not None:
        work._store = store
    return SqlQueue(container.sessions, container.db_clock), work


async def _sweep(container: Container) -> None:
    queue, work = _purges(container)
    await queue.housekeeping(work)


async def _completed(api: Api, token: str, user: str, worker: Worker) -> dict[str, Any]:
    job_id = (await api.create(token, user)).json()["jobId"]
    await worker.drain()
    body: dict[str, Any] = (await api.status(token, job_id)).json()
    return body


def _when(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def _pdf(container: Container, org_id: str, job_id: str) -> Path:
    return container.settings.resolved_blob_dir() / "reports" / org_id / job_id / "1.pdf"


async def _events(container: Container, event: str) -> list[AuditRecord]:
    async with container.read_sessions() as session:
        found = await session.execute(select(AuditRecord).where(AuditRecord.event == event))
        return list(found.scalars())


async def test_a_report_expires_its_retention_period_after_its_job_ends(
    api: Api, token_a: str, alice: str, worker: Worker
) -> None:
    job = await _completed(api, token_a, alice, worker)
    failed = await _completed(api, token_a, "US0NOBODY0000001", worker)

    assert _when(job["expiresAt"]) - _when(job["completedAt"]) == timedelta(days=DEFAULT_DAYS)
    assert failed["status"] == "FAILED"
    assert _when(failed["expiresAt"]) - _when(failed["completedAt"]) == timedelta(days=30)
    assert job["deletedAt"] is None


async def test_a_running_job_has_no_expiry_yet(api: Api, token_a: str, alice: str) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    assert (await api.status(token_a, job_id)).json()["expiresAt"] is None


async def test_an_orgs_own_period_applies_to_the_reports_it_keeps_already(
    run: Run, api: Api, token_a: str, alice: str, worker: Worker, org_a: ClientCredentials,
    container: Container,
) -> None:  # fmt: skip
    job = await _completed(api, token_a, alice, worker)

    code, out, _ = run("org", "retention", "Alpha Gaming Ltd", "7", "--json")
    seven = (await api.status(token_a, job["jobId"])).json()
    run("org", "retention", org_a.org_id, "default")
    default = (await api.status(token_a, job["jobId"])).json()
    later = await _completed(api, token_a, alice, worker)
    with pytest.raises(SystemExit) as refused:  # argparse: a usage error
        run("org", "retention", org_a.org_id, "0")

    assert code == 0
    assert json.loads(out) == {"org_id": org_a.org_id, "retention_days": 7, "own": True,
                               "rescheduled_reports": 1}  # fmt: skip
    assert _when(seven["expiresAt"]) - _when(job["completedAt"]) == timedelta(days=7)
    assert default["expiresAt"] == job["expiresAt"]
    assert _when(later["expiresAt"]) - _when(later["completedAt"]) == timedelta(days=30)
    assert refused.value.code == 2
    changes = await _events(container, "org.retention_changed")
    assert [(c.org_id, c.details["days"], c.details["own_days"]) for c in changes] == [
        (org_a.org_id, 7, 7), (org_a.org_id, 30, None),
    ]  # fmt: skip
    assert all(c.actor.startswith("admin:") for c in changes)


async def test_the_sweep_deletes_what_is_due_and_leaves_the_rest(
    api: Api, token_a: str, alice: str, worker: Worker, container: Container, clock: MovableClock,
    org_a: ClientCredentials,
) -> None:  # fmt: skip
    old = await _completed(api, token_a, alice, worker)
    clock.advance(10 * DAY)
    young = await _completed(api, token_a, alice, worker)
    pdf = _pdf(container, org_a.org_id, old["jobId"])

    clock.advance(21 * DAY)
    await _sweep(container)
    expired = (await api.status(token_a, old["jobId"])).json()
    await worker.drain()

    assert expired["deletedAt"] is not None
    assert expired["userId"] == ""
    assert expired["expiresAt"] == old["expiresAt"]
    assert not pdf.exists()
    assert_envelope(await api.url(token_a, old["jobId"]), 410, "REPORT_EXPIRED")
    assert (await api.status(token_a, young["jobId"])).json()["deletedAt"] is None
    assert (await api.url(token_a, young["jobId"])).status_code == 200
    [record] = await _events(container, "report.expired")
    assert (record.actor, record.org_id, record.job_id) == ("system", org_a.org_id, old["jobId"])
    assert (await load_job(container, old["jobId"])).deletion == "EXPIRED"


async def test_jobs_ended_without_an_expiry_get_one_from_the_sweep(
    api: Api, token_a: str, alice: str, worker: Worker, container: Container
) -> None:
    """Ended by a replica of the previous release during a rollout, or before expiries were."""
    job = await _completed(api, token_a, alice, worker)
    async with container.sessions.begin() as session:
        await session.execute(update(ReportJob).values(expires_at=None))

    await _sweep(container)

    assert (await api.status(token_a, job["jobId"])).json()["expiresAt"] == job["expiresAt"]


async def test_workers_sweeping_at_once_expire_each_report_once(
    api: Api, token_a: str, alice: str, worker: Worker, container: Container, clock: MovableClock
) -> None:
    for _ in range(5):
        await api.create(token_a, alice)
    await worker.drain()
    clock.advance(31 * DAY)

    await asyncio.gather(*(_sweep(container) for _ in range(4)))

    async with container.read_sessions() as session:
        purges = (await session.execute(select(ReportPurge))).scalars().all()
    assert len(purges) == 5
    assert len(await _events(container, "report.expired")) == 5


async def test_the_sweep_finds_what_is_due_through_an_index(container: Container) -> None:
    """When nothing is due, a sweep is two probes of ix_report_jobs_expiry, not a scan."""
    if POSTGRES_URL:
        pytest.skip("SQLite's plan is checked; PostgreSQL plans tiny tables with a scan")
    due = (
        "SELECT id FROM report_jobs WHERE deleted_at IS NULL AND expires_at <= :now "
        "ORDER BY expires_at LIMIT 200"
    )
    ended = (
        "SELECT id FROM report_jobs WHERE deleted_at IS NULL AND expires_at IS NULL "
        "AND status IN ('COMPLETE', 'FAILED') LIMIT 200"
    )
    async with container.read_sessions() as session:
        plans = [
            " ".join(str(row[-1]) for row in await session.execute(text(f"EXPLAIN QUERY PLAN {q}"),
                                                                    {"now": "2030-01-01"}))
            for q in (due, ended)
        ]  # fmt: skip
    assert all("USING INDEX ix_report_jobs_expiry" in plan for plan in plans), plans


class _DownStore:
    """The container's store, whose deletes fail while `down` (an unreachable bucket)."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.down = True
        self.tries = 0

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        await self.inner.put(key, data, content_type=content_type)

    async def delete(self, key: str) -> None:
        self.tries += 1
        if self.down:
            raise StorageError("S3 delete failed: ServiceUnavailable (HTTP 503)")
        await self.inner.delete(key)

    async def check(self) -> None:
        await self.inner.check()

    def presign_get(self, key: str, *, filename: str, expires_at: datetime) -> str:
        return self.inner.presign_get(key, filename=filename, expires_at=expires_at)


async def _run_purges(queue: SqlQueue, work: PurgeWork, container: Container) -> int:
    runner = Worker(queue=queue, works=[work], wakeup=container.wakeup, poll_seconds=1,
                    shutdown_grace_seconds=0)  # fmt: skip
    done = 0
    while (claim := await queue.claim(work, runner.owner)) is not None:
        await runner.process(work, claim)
        done += 1
    return done


async def _purge(container: Container, job_id: str) -> ReportPurge:
    async with container.read_sessions() as session:
        purge = await session.get(ReportPurge, job_id)
    assert purge is not None
    return purge


async def test_a_store_that_is_down_only_delays_the_deletion(
    api: Api, token_a: str, alice: str, worker: Worker, container: Container,
    clock: MovableClock, org_a: ClientCredentials,
) -> None:  # fmt: skip
    job = await _completed(api, token_a, alice, worker)
    clock.advance(31 * DAY)
    await _sweep(container)
    store = _DownStore(container.store)
    queue, work = _purges(container, store)

    await _run_purges(queue, work, container)
    waiting = await _purge(container, job["jobId"])
    store.down = False
    clock.advance(60)
    await _run_purges(queue, work, container)
    done = await _purge(container, job["jobId"])

    assert (waiting.status, waiting.attempts) == (PurgeStatus.PENDING, 1)
    assert (done.status, done.attempts, done.last_error) == (PurgeStatus.DONE, 2, None)
    assert not _pdf(container, org_a.org_id, job["jobId"]).exists()
    assert (await api.status(token_a, job["jobId"])).json()["deletedAt"] is not None


async def test_a_worker_dying_between_the_store_and_the_database_loses_no_deletion(
    api: Api, token_a: str, alice: str, worker: Worker, container: Container,
    clock: MovableClock, org_a: ClientCredentials,
) -> None:  # fmt: skip
    job = await _completed(api, token_a, alice, worker)
    clock.advance(31 * DAY)
    await _sweep(container)
    queue, work = _purges(container)
    claim = await queue.claim(work, "doomed-worker")
    assert claim is not None
    await work.perform(claim)  # the PDFs are gone; then the worker dies, recording nothing

    assert (await _purge(container, job["jobId"])).status == PurgeStatus.PROCESSING
    clock.advance(container.settings.worker.lease_seconds + 1)
    assert await queue.reap(work) == 1
    clock.advance(DAY)
    assert await _run_purges(queue, work, container) == 1

    done = await _purge(container, job["jobId"])
    assert (done.status, done.attempts) == (PurgeStatus.DONE, 2)
    assert not _pdf(container, org_a.org_id, job["jobId"]).exists()


async def test_expiries_are_shown_in_the_listing_too(
    api: Api, token_a: str, alice: str, worker: Worker, container: Container
) -> None:
    job = await _completed(api, token_a, alice, worker)
    listed = (
        await api.http.get("/v1/document/api", headers={"Authorization": f"Bearer {token_a}"})
    ).json()

    assert listed["items"][0]["expiresAt"] == job["expiresAt"]
    stored = await load_job(container, job["jobId"])
    assert stored.expires_at is not None
    assert isoformat_ms(stored.expires_at) == job["expiresAt"]
