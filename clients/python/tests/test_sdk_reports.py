"""The main flow against the live service: create, get, wait, mint a URL, download and verify."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime
from pathlib import Path

import pytest

from sdk_doubles import RequestLog
from sdk_live import Org, Service, open_client, unknown_user_id
from sqr_reports_client import (
    Client,
    Gone,
    IntegrityError,
    Job,
    JobErrorCode,
    JobFailed,
    JobStatus,
    Unprocessable,
    WaitTimeout,
)

CLEAN_PASS = "Clean pass: every check passes"


@pytest.fixture(scope="module")
def reports_org(service: Service) -> Org:
    """An org of this module's own, so its jobs spend no other test's creation quota."""
    return service.new_org()


@pytest.fixture(scope="module")
def complete_job(service: Service, reports_org: Org) -> Job:
    with open_client(service, reports_org) as client:
        assert reports_org.user_id is not None
        return client.wait(client.create(reports_org.user_id).job_id, raise_on_failure=True)


@pytest.fixture(scope="module")
def failed_job(service: Service, reports_org: Org) -> Job:
    with open_client(service, reports_org) as client:
        return client.wait(client.create(unknown_user_id()).job_id)


def test_create_wait_and_download_a_verified_report(
    service: Service, demo: Org, log: RequestLog, tmp_path: Path
) -> None:
    seen: list[Job] = []
    with open_client(service, demo, log) as client:
        created = client.create(service.demo_users[CLEAN_PASS])
        done = client.wait(created.job_id, on_progress=seen.append)
        saved = client.download(done, tmp_path / "report.pdf")

    assert created.status == JobStatus.PENDING
    assert created.user_id == service.demo_users[CLEAN_PASS]
    assert done.job_id == created.job_id
    assert done.status == JobStatus.COMPLETE
    assert seen[-1] == done
    assert done.error_code is None
    assert done.page_count is not None
    assert done.page_count > 0
    assert done.completed_at is not None
    assert done.started_at is not None
    assert done.created_at <= done.started_at <= done.completed_at
    assert done.created_at.utcoffset() is not None
    content = saved.read_bytes()
    assert saved == tmp_path / "report.pdf"
    assert content.startswith(b"%PDF")
    assert len(content) == done.size_bytes
    assert hashlib.sha256(content).hexdigest() == done.sha256
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]  # no temporary file left
    (download,) = [r for r in log.requests if r.url.path.startswith("/v1/downloads/")]
    assert "authorization" not in download.headers  # the token never goes with the URL


def test_get_shows_what_wait_returned(
    service: Service, reports_org: Org, complete_job: Job
) -> None:
    with open_client(service, reports_org) as client:
        assert client.get(complete_job.job_id) == complete_job


def test_a_download_url_is_absolute_and_short_lived(
    service: Service, reports_org: Org, complete_job: Job
) -> None:
    with open_client(service, reports_org) as client:
        link = client.download_url(complete_job.job_id)
    assert link.url.startswith(("http://", "https://"))
    assert link.expires_in_seconds == 300
    assert isinstance(link.expires_at, datetime)
    assert complete_job.completed_at is not None
    assert link.expires_at > complete_job.completed_at
    assert link.url not in repr(link)


def test_download_by_job_id(
    service: Service, reports_org: Org, complete_job: Job, tmp_path: Path
) -> None:
    with open_client(service, reports_org) as client:
        saved = client.download(complete_job.job_id, tmp_path / "by-id.pdf")
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == complete_job.sha256


def test_a_report_that_does_not_verify_is_not_saved(
    service: Service, reports_org: Org, complete_job: Job, tmp_path: Path
) -> None:
    expected_other = dataclasses.replace(complete_job, sha256="0" * 64)
    with open_client(service, reports_org) as client, pytest.raises(IntegrityError):
        client.download(expected_other, tmp_path / "report.pdf")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_download_keeps_the_previous_file(
    service: Service, reports_org: Org, failed_job: Job, tmp_path: Path
) -> None:
    previous = tmp_path / "report.pdf"
    previous.write_bytes(b"yesterday's report")
    with open_client(service, reports_org) as client, pytest.raises(Unprocessable):
        client.download(failed_job.job_id, previous)
    assert previous.read_bytes() == b"yesterday's report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]


def test_wait_returns_a_failed_job_with_its_error_code(failed_job: Job) -> None:
    assert failed_job.status == JobStatus.FAILED
    assert failed_job.error_code == JobErrorCode.USER_NOT_FOUND
    assert failed_job.error_message


def test_wait_raises_job_failed_when_asked(
    service: Service, reports_org: Org, failed_job: Job
) -> None:
    with open_client(service, reports_org) as client, pytest.raises(JobFailed) as raised:
        client.wait(failed_job.job_id, raise_on_failure=True)
    assert raised.value.error_code == JobErrorCode.USER_NOT_FOUND
    assert raised.value.error_message == failed_job.error_message
    assert raised.value.job == failed_job
    assert "USER_NOT_FOUND" in str(raised.value)


def test_a_user_who_withdrew_consent_fails_with_user_not_connected(
    service: Service, client: Client
) -> None:
    withdrawn = service.demo_users["Withdrawn consent: the job fails with USER_NOT_CONNECTED"]
    with pytest.raises(JobFailed) as raised:
        client.wait(client.create(withdrawn).job_id, raise_on_failure=True)
    assert raised.value.error_code == JobErrorCode.USER_NOT_CONNECTED


def test_a_url_for_a_job_that_is_not_complete_is_unprocessable(
    service: Service, reports_org: Org, failed_job: Job, idle_service: Service
) -> None:
    with open_client(service, reports_org) as client, pytest.raises(Unprocessable) as raised:
        client.download_url(failed_job.job_id)
    assert raised.value.status_code == 422
    assert raised.value.error == "UNPROCESSABLE_ENTITY"

    with open_client(idle_service, idle_service.demo) as idle:
        pending = idle.create(unknown_user_id())
        with pytest.raises(Unprocessable, match="PENDING"):
            idle.download_url(pending.job_id)


def test_wait_times_out_with_the_last_status_and_asks_the_service_to_hold(
    idle_service: Service, log: RequestLog
) -> None:
    seen: list[Job] = []
    with open_client(idle_service, idle_service.demo, log) as client:
        pending = client.create(unknown_user_id())
        with pytest.raises(WaitTimeout) as raised:
            client.wait(pending.job_id, timeout=1.5, on_progress=seen.append)
    assert raised.value.job.status == JobStatus.PENDING
    assert raised.value.timeout == 1.5
    assert seen
    assert all(job.status == JobStatus.PENDING for job in seen)
    polls = log.sent("GET", f"/v1/document/api/{pending.job_id}")
    assert polls[0].headers["prefer"] == "wait=1"


def test_delete_removes_the_report_and_a_second_delete_still_succeeds(service: Service) -> None:
    org = service.new_org(scopes="write:reports read:reports download:reports delete:reports")
    with open_client(service, org) as client:
        assert org.user_id is not None
        job = client.wait(client.create(org.user_id).job_id, raise_on_failure=True)
        client.delete(job.job_id)
        client.delete(job.job_id)  # the effect holds: a retried delete is not an error
        with pytest.raises(Gone) as gone:
            client.download_url(job.job_id)
        after = client.get(job.job_id)

    assert gone.value.error == "REPORT_DELETED"
    assert after.status == JobStatus.COMPLETE
    assert after.deleted_at is not None
