"""The job table as a queue: leases, fencing, retries, and crashes that lose nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from sqlalchemy import update

from sqr_reports.config import Settings
from sqr_reports.container import Container
from sqr_reports.rendering.typst_renderer import TypstRenderer
from sqr_reports.reports import queue
from sqr_reports.reports.models import ReportJob
from sqr_reports.storage import BlobStore, StorageError
from sqr_reports.worker.runner import Worker
from tests.support import Api, MovableClock

LEASE = 30.0


async def _job(container: Container, job_id: str) -> ReportJob:
    async with container.sessions() as session:
        job = await session.get(ReportJob, job_id)
    assert job is not None
    return job


async def _claim(container: Container, owner: str) -> queue.Claim | None:
    async with container.sessions.begin() as session:
        return await queue.claim_next(
            session, container.settings.worker, owner, container.clock.now()
        )


async def test_a_job_is_claimed_once(
    container: Container, api: Api, token_a: str, alice: str
) -> None:
    await api.create(token_a, alice)

    first = await _claim(container, "worker-1")
    second = await _claim(container, "worker-2")

    assert first is not None
    assert first.attempt == 1
    assert second is None


async def test_concurrent_claims_never_share_a_job(
    container: Container, api: Api, token_a: str, alice: str
) -> None:
    created = {(await api.create(token_a, alice)).json()["jobId"] for _ in range(10)}

    claims = await asyncio.gather(*(_claim(container, f"w{i}") for i in range(20)))

    won = [c.job_id for c in claims if c is not None]
    assert sorted(won) == sorted(created)


async def test_expired_lease_returns_the_job_and_the_stale_worker_is_fenced_off(
    container: Container, api: Api, token_a: str, alice: str, clock: MovableClock, worker: Worker
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    stale = await _claim(container, "crashed-worker")
    assert stale is not None

    clock.advance(LEASE + 1)
    await worker.drain()  # reaps: back to PENDING with a backoff
    assert (await _job(container, job_id)).status == "PENDING"
    clock.advance(60)
    assert await worker.drain() == 1

    job = await _job(container, job_id)
    assert job.status == "COMPLETE"
    assert job.attempts == 2
    artifact = queue.Artifact("reports/x.pdf", 1, "0" * 64, 1)
    async with container.sessions.begin() as session:
        assert not await queue.complete(session, stale, artifact, clock.now())
        assert not await queue.heartbeat(session, container.settings.worker, stale, clock.now())
    assert (await _job(container, job_id)).sha256 == job.sha256


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

    job = await _job(container, job_id)
    assert (job.status, job.error_code) == ("FAILED", "INTERNAL_ERROR")
    assert job.completed_at is not None


class FlakyStore:
    """The storage boundary failing a given number of times, then working."""

    def __init__(self, real: BlobStore, failures: int):
        self.real = real
        self.failures = failures
        self.attempts = 0

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise StorageError("bucket unreachable")
        await self.real.put(key, data, content_type=content_type)

    async def delete(self, key: str) -> None:
        await self.real.delete(key)

    def presign_get(self, key: str, **kwargs: object) -> str:  # pragma: no cover - unused
        raise NotImplementedError


def _worker_with(container: Container, store: object, renderer: object | None = None) -> Worker:
    return Worker(
        sessions=container.sessions, read_sessions=container.read_sessions,
        queue_clock=container.db_clock, settings=container.settings.worker,
        renderer=renderer or container.renderer, store=store,  # type: ignore[arg-type]
        wakeup=container.wakeup,
    )  # fmt: skip


async def test_transient_storage_failure_is_retried_with_backoff(
    container: Container, api: Api, token_a: str, alice: str, clock: MovableClock
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    store = FlakyStore(container.store, failures=1)
    worker = _worker_with(container, store)

    await worker.drain()
    job = await _job(container, job_id)
    assert job.status == "PENDING"
    assert job.run_after > clock.now()  # backing off, not hot-looping

    clock.advance(60)
    await worker.drain()

    assert (await _job(container, job_id)).status == "COMPLETE"
    assert store.attempts == 2


async def test_persistent_storage_failure_ends_failed_after_the_last_attempt(
    container: Container, api: Api, token_a: str, alice: str, clock: MovableClock
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    worker = _worker_with(container, FlakyStore(container.store, failures=99))

    for _ in range(3):
        await worker.drain()
        clock.advance(120)

    job = await _job(container, job_id)
    assert (job.status, job.error_code, job.attempts) == ("FAILED", "STORAGE_FAILED", 3)


async def test_render_over_its_time_limit_fails_with_render_timeout(
    container: Container, api: Api, token_a: str, alice: str
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    slow = TypstRenderer(
        processes=1, timeout_seconds=0.001, memory_limit_mib=0, max_renders_per_process=10
    )
    try:
        await _worker_with(container, container.store, slow).drain()
    finally:
        await slow.close()

    job = await _job(container, job_id)
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

    job = await _job(container, job_id)
    assert (job.status, job.error_code) == ("FAILED", "RENDER_FAILED")


CLAIM_AND_HANG = """
import asyncio, sys
from sqr_reports.config import Settings
from sqr_reports.container import build_container
from sqr_reports.reports import queue

async def main():
    container = build_container(Settings())
    async with container.sessions.begin() as session:
        claim = await queue.claim_next(
            session, container.settings.worker, "doomed", container.clock.now()
        )
    print(claim.job_id if claim else "none", flush=True)
    await asyncio.sleep(3600)

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
        assert (await _job(container, job_id)).status == "PROCESSING"
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()

    assert await worker.drain() == 0  # the dead worker's lease still holds
    clock.advance(LEASE + 1)
    await worker.drain()
    clock.advance(60)
    assert await worker.drain() == 1

    job = await _job(container, job_id)
    assert (job.status, job.attempts) == ("COMPLETE", 2)
    stored = list((settings.data_dir / "blobs").rglob("*.pdf"))
    assert [p.name for p in stored] == ["2.pdf"]


async def test_idle_worker_wakes_at_once_for_a_new_job(
    container: Container, api: Api, token_a: str, alice: str
) -> None:
    """The safety-net poll is an hour here, so only the wake-up can start the job."""
    container.settings.worker.poll_seconds = 3600
    worker = container.new_worker()
    running = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0.1)  # let it go idle
        job_id = (await api.create(token_a, alice)).json()["jobId"]
        job = await api.wait_terminal(token_a, job_id, seconds=20)
    finally:
        worker.stop()
        await running

    assert job["status"] == "COMPLETE"


@pytest.mark.parametrize("attempt", [1, 2, 3, 10])
def test_backoff_grows_with_jitter_and_a_cap(attempt: int) -> None:
    settings = Settings().worker
    ceiling = min(settings.backoff_max_seconds, settings.backoff_base_seconds * 2 ** (attempt - 1))

    delays = {queue.backoff_seconds(settings, attempt) for _ in range(20)}

    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(delays) > 1
