"""Deleting and expiring reports kept in S3 (LocalStack): the objects of every attempt really go.

Runs when SQR_REPORTS_TEST_S3_ENDPOINT is set (CI sets it after `scripts/localstack.sh`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sqr_reports.auth import scopes
from sqr_reports.config import Settings
from sqr_reports.container import Container
from sqr_reports.queue.worker import Worker
from tests.conftest import add_user, connected, register_org
from tests.fakes import FakeRenderer
from tests.support import Api, MovableClock, assert_envelope
from tests.test_s3_store import (
    _raw_client,
    requires_localstack,
    settings_on_localstack,
    temporary_bucket,
)

pytestmark = requires_localstack


@pytest.fixture(scope="module")
def bucket() -> Iterator[str]:
    with temporary_bucket("sqr-reports-lifecycle") as name:
        yield name


@pytest.fixture
def settings(tmp_path: Path, database_url: str, bucket: str) -> Settings:
    return settings_on_localstack(tmp_path / "data", database_url, bucket)


@pytest.fixture
def renderer() -> FakeRenderer:
    return FakeRenderer()


def _keys(bucket: str, job_id: str) -> list[str]:
    listed = _raw_client().list_objects_v2(Bucket=bucket).get("Contents", [])
    return [o["Key"] for o in listed if f"/{job_id}/" in o["Key"]]


async def test_deleted_and_expired_reports_leave_the_bucket(
    api: Api, http: httpx.AsyncClient, container: Container, worker: Worker, bucket: str,
    clock: MovableClock,
) -> None:  # fmt: skip
    org = await register_org(container, "Sigma S3 Ltd", list(scopes.ALL))
    user = await add_user(container, id="US0S3USER0000001", connections=connected(org.org_id))
    token = await api.token(org)
    deleted, expired = [(await api.create(token, user)).json()["jobId"] for _ in range(2)]
    await worker.drain()
    assert _keys(bucket, deleted)
    assert _keys(bucket, expired)

    answer = await http.delete(
        f"/v1/document/api/{deleted}", headers={"Authorization": f"Bearer {token}"}
    )
    await worker.drain()
    clock.advance(31 * 86400)
    await worker.drain()  # the sweep (housekeeping), then the purge it queued

    assert answer.status_code == 204
    assert _keys(bucket, deleted) == []
    assert _keys(bucket, expired) == []
    assert_envelope(await api.url(token, deleted), 410, "REPORT_DELETED")
    assert_envelope(await api.url(token, expired), 410, "REPORT_EXPIRED")
