"""`AsyncClient` against the live service: the same main flow as `Client`."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest

from sdk_doubles import RequestLog
from sdk_live import Org, Service
from sqr_reports_client import AsyncClient, Job, JobStatus, NotFound

CLEAN_PASS = "Clean pass: every check passes"


async def test_create_wait_download(
    service: Service, async_client: AsyncClient, log: RequestLog, tmp_path: Path
) -> None:
    seen: list[Job] = []
    created = await async_client.create(service.demo_users[CLEAN_PASS])
    done = await async_client.wait(created.job_id, on_progress=seen.append)
    link = await async_client.download_url(done.job_id)
    saved = await async_client.download(done.job_id, tmp_path / "report.pdf")
    listed = [job async for job in async_client.list(user_id=created.user_id, limit=1)]

    assert done.status == JobStatus.COMPLETE
    assert seen[-1] == done
    assert await async_client.get(done.job_id) == done
    assert link.expires_in_seconds == 300
    content = saved.read_bytes()
    assert content.startswith(b"%PDF")
    assert hashlib.sha256(content).hexdigest() == done.sha256
    assert listed == [done]
    assert os.listdir(tmp_path) == ["report.pdf"]
    (download,) = [r for r in log.requests if r.url.path.startswith("/v1/downloads/")]
    assert "authorization" not in download.headers


async def test_errors_are_the_same_exceptions(async_client: AsyncClient) -> None:
    with pytest.raises(NotFound) as raised:
        await async_client.get(str(uuid.uuid4()))
    assert raised.value.status_code == 404


async def test_from_env_and_context_manager(
    service: Service, demo: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SQR_API_URL", service.url)
    monkeypatch.setenv("SQR_CLIENT_ID", demo.client_id)
    monkeypatch.setenv("SQR_CLIENT_SECRET", demo.client_secret)
    async with AsyncClient.from_env() as client:
        assert demo.client_secret not in repr(client)
        with pytest.raises(NotFound):  # authenticated: bad credentials would be a 401
            await client.get(str(uuid.uuid4()))
