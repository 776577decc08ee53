"""The whole documented flow with reports in S3 (LocalStack, which verifies signatures).

Runs when SQR_REPORTS_TEST_S3_ENDPOINT is set (CI sets it after `scripts/localstack.sh`).
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pypdf import PdfReader

from sqr_reports.config import Settings
from sqr_reports.container import build_store
from sqr_reports.queue.worker import Worker
from sqr_reports.storage.s3 import S3BlobStore
from tests.support import Api, MovableClock
from tests.test_s3_store import (
    S3_ENDPOINT,
    _raw_client,
    requires_localstack,
    settings_on_localstack,
    temporary_bucket,
)

pytestmark = requires_localstack


@pytest.fixture(scope="module")
def bucket() -> Iterator[str]:
    with temporary_bucket("sqr-reports-flow") as name:
        yield name


@pytest.fixture
def settings(tmp_path: Path, database_url: str, bucket: str) -> Settings:
    return settings_on_localstack(tmp_path / "data", database_url, bucket)


async def test_report_is_stored_in_s3_and_downloaded_through_a_presigned_url(
    api: Api, token_a: str, alice: str, worker: Worker, bucket: str, clock: MovableClock
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    await worker.drain()
    job = (await api.status(token_a, job_id)).json()
    assert job["status"] == "COMPLETE"

    link = (await api.url(token_a, job_id)).json()
    async with httpx.AsyncClient() as direct:
        download = await direct.get(link["url"])
        tampered = await direct.get(link["url"].replace(job_id, str(uuid.uuid4())))

    assert link["url"].startswith(S3_ENDPOINT)
    assert "X-Amz-Expires=300" in link["url"]
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment; filename=")
    assert hashlib.sha256(download.content).hexdigest() == job["sha256"]
    assert alice in PdfReader(io.BytesIO(download.content)).pages[0].extract_text()
    assert tampered.status_code == 403
    keys = [o["Key"] for o in _raw_client().list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert any(key.endswith(f"/{job_id}/1.pdf") for key in keys)


async def test_the_local_download_route_serves_nothing_with_s3(
    api: Api, http: httpx.AsyncClient, token_a: str
) -> None:
    response = await http.get("/v1/downloads/reports/any/thing/1.pdf?expires=1&signature=x")

    assert response.status_code == 404


def test_the_container_uses_the_s3_store(settings: Settings) -> None:
    assert isinstance(build_store(settings), S3BlobStore)
