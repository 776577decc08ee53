"""`sqr-reports jobs list|show|retry`: an operator's view of the queue, and a second chance."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sqr_reports.container import Container
from sqr_reports.queue.store import requeue
from sqr_reports.queue.worker import Worker
from sqr_reports.reports.models import JobStatus, ReportJob
from tests.conftest import ALICE, Run, add_user, connected
from tests.support import ALL_SCOPES, Api, ClientCredentials, load_job, set_scopes

SHOWN = {
    "id", "org_id", "client_id", "user_id", "status", "attempts", "max_attempts", "error_code",
    "error_message", "template_version", "policy_version", "page_count", "size_bytes", "sha256",
    "request_id", "lease_owner", "lease_expires_at", "run_after", "created_at", "updated_at",
    "started_at", "completed_at", "expires_at", "deleted_at",
}  # fmt: skip


def _json(run: Run, *args: str) -> dict[str, Any]:
    code, out, err = run(*args, "--json")
    assert (code, err) == (0, ""), err
    record: dict[str, Any] = json.loads(out)
    return record


async def _failed_job(api: Api, token: str, worker: Worker) -> str:
    """A job for a user this org does not have: it fails at once (USER_NOT_FOUND)."""
    job_id: str = (await api.create(token, ALICE)).json()["jobId"]
    assert await worker.drain() == 1
    return job_id


async def test_list_filters_by_org_name_status_and_limit(
    run: Run, api: Api, token_a: str, token_b: str, alice: str, worker: Worker,
    org_b: ClientCredentials,
) -> None:  # fmt: skip
    done = (await api.create(token_a, alice)).json()["jobId"]
    await worker.drain()
    failed = await _failed_job(api, token_b, worker)

    every = _json(run, "jobs", "list")
    of_b = _json(run, "jobs", "list", "--org", "Beta eSports GmbH")
    complete = _json(run, "jobs", "list", "--status", "COMPLETE")
    one = _json(run, "jobs", "list", "--limit", "1")
    code, text, _ = run("jobs", "list")

    assert [j["id"] for j in every["jobs"]] == [failed, done]  # newest first
    assert [(j["id"], j["org_id"]) for j in of_b["jobs"]] == [(failed, org_b.org_id)]
    assert [j["id"] for j in complete["jobs"]] == [done]
    assert [j["id"] for j in one["jobs"]] == [failed]
    assert code == 0
    assert "USER_NOT_FOUND" in text
    assert "1/3" in text


def test_list_refuses_a_bad_status_or_limit(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    for option in (["--status", "DONE"], ["--limit", "0"]):
        with pytest.raises(SystemExit) as exit_:
            run("jobs", "list", *option)
        assert exit_.value.code == 2
        assert f"argument {option[0]}" in capsys.readouterr().err


async def test_show_has_the_state_and_no_personal_field(
    run: Run, api: Api, token_a: str, alice: str, worker: Worker
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    await worker.drain()

    shown = _json(run, "jobs", "show", job_id)
    code, text, _ = run("jobs", "show", job_id)

    assert set(shown) == SHOWN
    assert (shown["status"], shown["user_id"], shown["page_count"] > 0) == ("COMPLETE", alice, True)
    assert code == 0
    for personal in ("Alice", "Øvergård", "alice@example.com", "1991"):
        assert personal not in json.dumps(shown, ensure_ascii=False) + text
    assert run("jobs", "show", "nope") == (1, "", "error: No job with id nope\n")


async def test_retry_puts_a_failed_job_back_with_fresh_attempts_and_it_completes(
    run: Run, api: Api, container: Container, token_a: str, org_a: ClientCredentials,
    worker: Worker,
) -> None:  # fmt: skip
    job_id = await _failed_job(api, token_a, worker)
    before = await load_job(container, job_id)
    await add_user(container, id=ALICE, first_name="Alice", connections=connected(org_a.org_id))

    retried = _json(run, "jobs", "retry", job_id)
    assert await worker.drain() == 1
    after = (await api.status(token_a, job_id)).json()

    assert (before.status, before.error_code) == ("FAILED", "USER_NOT_FOUND")
    assert retried["status"] == "PENDING"
    assert (retried["error_code"], retried["completed_at"]) == (None, None)
    assert retried["max_attempts"] == before.attempts + container.settings.worker.max_attempts
    assert (after["status"], after["errorCode"]) == ("COMPLETE", None)


async def test_retry_refuses_a_job_that_has_not_failed(
    run: Run, api: Api, token_a: str, alice: str, worker: Worker
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]

    pending = run("jobs", "retry", job_id)
    await worker.drain()
    complete = run("jobs", "retry", job_id)

    assert pending == (1, "", f"error: Job {job_id} is PENDING: only a FAILED job can be retried\n")
    assert complete[0] == 1
    assert "is COMPLETE" in complete[2]


async def test_retry_refuses_a_deleted_job(
    run: Run, api: Api, container: Container, org_a: ClientCredentials, worker: Worker
) -> None:
    await set_scopes(container, org_a.client_id, f"{ALL_SCOPES} delete:reports")
    token = await api.token(org_a)
    job_id = await _failed_job(api, token, worker)
    deleted = await api.http.delete(
        f"/v1/document/api/{job_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert deleted.status_code == 204

    refused = run("jobs", "retry", job_id)

    assert refused[0] == 1
    assert "was deleted" in refused[2]
    assert (await load_job(container, job_id)).status == JobStatus.FAILED


async def test_a_retry_is_fenced_by_the_attempt_it_saw(
    api: Api, container: Container, token_a: str, worker: Worker
) -> None:
    job_id = await _failed_job(api, token_a, worker)
    job = await load_job(container, job_id)

    async with container.sessions.begin() as session:
        now = await container.db_clock.now(session)
        stale = await requeue(session, ReportJob, job_id, failed_status=JobStatus.FAILED,
                              attempts=job.attempts - 1, budget=3, now=now)  # fmt: skip
        first = await requeue(session, ReportJob, job_id, failed_status=JobStatus.FAILED,
                              attempts=job.attempts, budget=3, now=now)  # fmt: skip
        second = await requeue(session, ReportJob, job_id, failed_status=JobStatus.FAILED,
                               attempts=job.attempts, budget=3, now=now)  # fmt: skip

    assert (stale, first, second) == (False, True, False)
    assert (await load_job(container, job_id)).max_attempts == job.attempts + 3
