"""The job table as a queue: leases, fencing, retries, and crashes that lose nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update

from sqr_reports.config import Settings
from sqr_reports.container import Container
from sqr_reports.queue.work import Claim, exponential_backoff
from sqr_reports.queue.worker import Worker
from sqr_reports.rendering.typst_renderer import TypstRenderer
from sqr_reports.reports.models import ReportJob
from sqr_reports.reports.service import Artifact
from tests.fakes import FakeRenderer, MemoryStore
from tests.support import Api, MovableClock, load_job, report_queue, worker_with

LEASE = 30.0


@pytest.fixture
def renderer() -> FakeRenderer:
    """The queue is the subject here, not the PDF: renders are instant stand-ins."""
    return FakeRenderer()


async def _claim(container: Container, owner: str) -> Claim | None:
    queue, work = report_queue(container)
    return await queue.claim(work, owner)


async def test_a_job_is_claimed_once(
    container: Container, api: Api, token_a: str, alice: str
) -> None:
    await api.create(token_a, alice)

    first = await _claim(container, "worker-1")
    second = await _claim(container, "worker-2")

    assert first is not None
    assert first.attempt == 1
    assert second is None


async def test_a_claim_with_nothing_due_takes_no_lock(
    container: Container, api: Api, token_a: str, alice: str
) -> None:
    """Every wake-up tries every kind of work, and most tries find nothing; on SQLite a claim's
    transaction holds the one write lock that every POST waits for, so such a try must not
    begin one (nor lock rows on PostgreSQL)."""
    queue, work = report_queue(container)
    writer = container.engines.writer.sync_engine
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(writer, "before_cursor_execute", record)
    try:
        assert await queue.claim(work, "worker-1") is None
    finally:
        event.remove(writer, "before_cursor_execute", record)
    if writer.dialect.name == "sqlite":
        assert statements == []
    assert not [s for s in statements if "FOR UPDATE" in s or s.startswith("UPDATE")]

    await api.create(token_a, alice)  # and with something due, the claim takes it
    assert await queue.claim(work, "worker-1") is not None


async def test_concurrent_claims_never_share_a_job(
    container: Container, api: Api, token_a: str, alice: str
) -> None:
    created = {(await api.create(token_a, alice)).json()["jobId"] for _ in range(10)}

    claims = await asyncio.gather(*(_claim(container, f"w{i}") for i in range(20)))

    won = [c.id for c in claims if c is not None]
    assert sorted(won) == sorted(created)


async def test_expired_lease_returns_the_job_and_the_stale_worker_is_fenced_off(
    container: Container, api: Api, token_a: str, alice: str, clock: MovableClock, worker: Worker
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    stale = await _claim(container, "crashed-worker")
    assert stale is not None

    clock.advance(LEASE + 1)
    await worker.drain()  # reaps: back to PENDING with a backoff
    assert (await load_job(container, job_id)).status == "PENDING"
    clock.advance(60)
    assert await worker.drain() == 1

    job = await load_job(container, job_id)
    assert job.status == "COMPLETE"
    assert job.attempts == 2
    queue, work = report_queue(container)
    assert not await queue.complete(work, stale, Artifact("reports/x.pdf", 1, "0" * 64, 1))
    assert not await queue.heartbeat(work, stale)
    assert (await load_job(container, job_id)).sha256 == job.sha256


async def test_a_job_whose_workers_keep_dying_ends_failed(
    container: Container, api: Api, token_a: str, alice: str, clock: MovableClock, worker: Worker
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    for attempt in range(1, 4):
        claim = await _claim(container, f"doomed-{attempt}")
        assert claim is not None
        assert claim.attempt == attempt
        clock.advance(LEASE + 1)
        await worker.drain()  # reaps the expired lease
        clock.advance(60)  # past the backoff

    job = await load_job(container, job_id)
    assert (job.status, job.error_code) == ("FAILED", "INTERNAL_ERROR")
    assert job.completed_at is not None


async def test_transient_storage_failure_is_retried_with_backoff(
    container: Container, api: Api, token_a: str, alice: str, clock: MovableClock
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    store = MemoryStore(failures=1)
    worker = worker_with(container, store=store)

    await worker.drain()
    job = await load_job(container, job_id)
    assert job.status == "PENDING"
    assert job.run_after > clock.now()  # backing off, not hot-looping

    clock.advance(60)
    await worker.drain()

    job = await load_job(container, job_id)
    assert job.status == "COMPLETE"
    assert [key.rsplit("/", 1)[1] for key in store.put_keys] == ["1.pdf", "2.pdf"]
    assert list(store.objects) == [job.storage_key]


async def test_persistent_storage_failure_ends_failed_after_the_last_attempt(
    container: Container, api: Api, token_a: str, alice: str, clock: MovableClock
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    store = MemoryStore(failures=99)
    worker = worker_with(container, store=store)

    for _ in range(3):
        await worker.drain()
        clock.advance(120)

    job = await load_job(container, job_id)
    assert (job.status, job.error_code, job.attempts) == ("FAILED", "STORAGE_FAILED", 3)
    assert len(store.put_keys) == 3
    assert store.objects == {}


async def test_render_over_its_time_limit_fails_with_render_timeout(
    container: Container, api: Api, token_a: str, alice: str
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    slow = TypstRenderer(
        processes=1, timeout_seconds=0.001, memory_limit_mib=0, max_renders_per_process=10
    )
    try:
        await worker_with(container, renderer=slow).drain()
    finally:
        await slow.close()

    job = await load_job(container, job_id)
    assert (job.status, job.error_code) == ("FAILED", "RENDER_TIMEOUT")


async def test_unknown_template_version_fails_with_render_failed(
    container: Container, api: Api, token_a: str, alice: str, worker: Worker
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    async with container.sessions.begin() as session:
        await session.execute(
            update(ReportJob).where(ReportJob.id == job_id).values(template_version="v999")
        )

    await worker.drain()

    job = await load_job(container, job_id)
    assert (job.status, job.error_code) == ("FAILED", "RENDER_FAILED")


CLAIM_AND_HANG = """
import asyncio, sys
from sqr_reports.config import Settings
from sqr_reports.container import build_container

async def main():
    container = build_container(Settings())
    worker = container.new_worker()
    claim = await worker.queue.claim(worker.works[0], "doomed")
    print(claim.id if claim else "none", flush=True)
    await asyncio.Event().wait()  # holds the claim until the test kills this process

asyncio.run(main())
"""


async def test_worker_killed_mid_job_its_job_still_completes_exactly_once(
    container: Container, settings: Settings, api: Api, token_a: str, alice: str,
    clock: MovableClock, worker: Worker, tmp_path: Path,
) -> None:  # fmt: skip
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    env = {
        **os.environ,
        "SQR_REPORTS_DATABASE_URL": settings.resolved_database_url(),
        "SQR_REPORTS_DATA_DIR": str(settings.data_dir),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLAIM_AND_HANG, env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        claimed = await asyncio.wait_for(process.stdout.readline(), 60)
        assert claimed.decode().strip() == job_id
        assert (await load_job(container, job_id)).status == "PROCESSING"
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()

    assert await worker.drain() == 0  # the dead worker's lease still holds
    clock.advance(LEASE + 1)
    await worker.drain()
    clock.advance(60)
    assert await worker.drain() == 1

    job = await load_job(container, job_id)
    assert (job.status, job.attempts) == ("COMPLETE", 2)
    stored = list((settings.data_dir / "blobs").rglob("*.pdf"))
    assert [p.name for p in stored] == ["2.pdf"]


async def test_idle_worker_wakes_at_once_for_a_new_job(
    container: Container, api: Api, token_a: str, alice: str, renderer: FakeRenderer
) -> None:
    """The safety-net poll is an hour here, so only the wake-up can start the job."""
    container.settings.worker.poll_seconds = 3600
    worker = container.new_worker()
    running = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(worker.wait_until_idle(), 10)
        job_id = (await api.create(token_a, alice)).json()["jobId"]
        await asyncio.wait_for(renderer.started.wait(), 10)
    finally:
        worker.stop()  # lets the job in flight finish
        await running

    assert (await load_job(container, job_id)).status == "COMPLETE"
    assert [request.data["meta"]["report_id"] for request in renderer.requests] == [job_id]


@pytest.mark.parametrize("attempt", [1, 2, 3, 10])
def test_backoff_grows_with_jitter_and_a_cap(attempt: int) -> None:
    settings = Settings().worker
    ceiling = min(settings.backoff_max_seconds, settings.backoff_base_seconds * 2 ** (attempt - 1))

    delays = {
        exponential_backoff(
            attempt, base=settings.backoff_base_seconds, ceiling=settings.backoff_max_seconds
        )
        for _ in range(20)
    }

    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(delays) > 1
