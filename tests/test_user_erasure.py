"""`sqr-reports user erase`: the right to erasure. The user's data and every report about them
(in every org, or in one) go, from the database and the store; tombstones and an audit record
stay, naming the user by id only; a report being rendered meanwhile leaves no PDF."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from sqr_reports.audit.models import AuditRecord
from sqr_reports.container import Container
from sqr_reports.queue.worker import Worker
from sqr_reports.users.models import AppUser, Connection, MonitoringEvent
from tests.conftest import ALICE, Run, add_user
from tests.fakes import FakeRenderer
from tests.support import Api, ClientCredentials, assert_envelope, worker_with


@pytest.fixture
def renderer() -> FakeRenderer:
    return FakeRenderer()


@pytest.fixture
async def alice_in_both(
    container: Container, org_a: ClientCredentials, org_b: ClientCredentials
) -> str:
    """Alice, connected to both orgs, with a monitoring history."""
    links = [
        {"org_id": org.org_id, "connection_status": "CONNECTED", "data_sharing_agreed": True}
        for org in (org_a, org_b)
    ]
    return await add_user(
        container, id=ALICE, first_name="Alice", email="alice@example.com", connections=links,
        monitoring=[{"kind": "PEP", "status": "CLEAR", "recorded_at": "2026-01-01T00:00:00Z"}],
    )  # fmt: skip


async def _completed(api: Api, token: str, user: str, worker: Worker) -> str:
    job_id: str = (await api.create(token, user)).json()["jobId"]
    await worker.drain()
    return job_id


def _pdf(container: Container, org_id: str, job_id: str) -> Path:
    return container.settings.resolved_blob_dir() / "reports" / org_id / job_id / "1.pdf"


async def _count(container: Container, model: Any) -> int:
    async with container.read_sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def _erase(run: Run, *args: str) -> dict[str, Any]:
    code, out, err = run("user", "erase", *args, "--json")
    assert (code, err) == (0, ""), err
    record: dict[str, Any] = json.loads(out)
    return record


async def test_erasure_removes_the_user_and_every_report_in_every_org(
    run: Run, api: Api, token_a: str, token_b: str, alice_in_both: str, worker: Worker,
    container: Container, org_a: ClientCredentials, org_b: ClientCredentials,
) -> None:  # fmt: skip
    in_a = await _completed(api, token_a, alice_in_both, worker)
    in_b = await _completed(api, token_b, alice_in_both, worker)
    pending = (await api.create(token_a, alice_in_both)).json()["jobId"]

    erased = _erase(run, alice_in_both)

    assert erased == {"user_id": ALICE, "org_id": None, "reports": 3, "connections": 2,
                      "profile_erased": True, "pdf_purges_run": 3}  # fmt: skip
    for model in (AppUser, Connection, MonitoringEvent):
        assert await _count(container, model) == 0
    assert not _pdf(container, org_a.org_id, in_a).exists()
    assert not _pdf(container, org_b.org_id, in_b).exists()
    for token, job_id in ((token_a, in_a), (token_b, in_b), (token_a, pending)):
        status = (await api.status(token, job_id)).json()
        assert status["userId"] == ""
        assert status["deletedAt"] is not None
        assert_envelope(await api.url(token, job_id), 410, "REPORT_DELETED")
    assert (await api.status(token_a, pending)).json()["errorCode"] == "REPORT_DELETED"
    listed = await api.http.get(
        "/v1/document/api", params={"userId": ALICE}, headers={"Authorization": f"Bearer {token_a}"}
    )
    assert listed.json()["items"] == []
    async with container.read_sessions() as session:
        record = (
            await session.execute(select(AuditRecord).where(AuditRecord.event == "user.erased"))
        ).scalar_one()
    assert (record.user_id, record.org_id) == (ALICE, None)
    assert record.actor.startswith("admin:")
    assert record.details == {"reports": 3, "connections": 2, "profile": 1}


async def test_erasure_in_one_org_keeps_the_rest(
    run: Run, api: Api, token_a: str, token_b: str, alice_in_both: str, worker: Worker,
    container: Container, org_a: ClientCredentials, org_b: ClientCredentials,
) -> None:  # fmt: skip
    in_a = await _completed(api, token_a, alice_in_both, worker)
    in_b = await _completed(api, token_b, alice_in_both, worker)

    erased = _erase(run, alice_in_both, "--org", "Alpha Gaming Ltd")

    assert (erased["org_id"], erased["reports"], erased["connections"]) == (org_a.org_id, 1, 1)
    assert erased["profile_erased"] is False  # Beta still has a connection to the user
    assert await _count(container, AppUser) == 1
    assert not _pdf(container, org_a.org_id, in_a).exists()
    assert _pdf(container, org_b.org_id, in_b).is_file()
    assert (await api.status(token_b, in_b)).json()["userId"] == ALICE
    assert (await api.url(token_b, in_b)).status_code == 200

    last = _erase(run, alice_in_both, "--org", org_b.org_id)

    assert (last["reports"], last["connections"], last["profile_erased"]) == (1, 1, True)
    assert await _count(container, AppUser) == 0


def test_erasing_an_unknown_user_is_recorded_and_changes_nothing(run: Run) -> None:
    erased = _erase(run, "US0NOBODY0000001")

    assert (erased["reports"], erased["connections"], erased["profile_erased"]) == (0, 0, False)


async def test_a_report_rendered_during_the_erasure_leaves_no_pdf(
    run: Run, api: Api, token_a: str, alice: str, container: Container,
    org_a: ClientCredentials,
) -> None:  # fmt: skip
    held = FakeRenderer(hold=True)
    rendering_worker = worker_with(container, renderer=held)
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    rendering = asyncio.create_task(rendering_worker.drain())
    await held.started.wait()

    erased = await asyncio.to_thread(_erase, run, alice)
    held.release()
    await rendering

    assert erased["reports"] == 1
    assert not _pdf(container, org_a.org_id, job_id).exists()
    status = (await api.status(token_a, job_id)).json()
    assert (status["status"], status["errorCode"], status["userId"]) == (
        "FAILED", "REPORT_DELETED", "",
    )  # fmt: skip
