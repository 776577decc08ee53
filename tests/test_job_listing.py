"""Listing an org's jobs: newest first, filtered, walked a page at a time by an opaque cursor,
scoped to the caller's org whatever the cursor says."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sqr_reports.auth.service import Principal
from sqr_reports.container import Container
from sqr_reports.errors import ValidationFailed
from sqr_reports.reports import paging, repository, service
from sqr_reports.reports.models import JobStatus, ReportJob
from tests.conftest import ALICE
from tests.support import Api, ClientCredentials, assert_envelope, set_scopes

JOBS = "/v1/document/api"
BOB = "US9Z8Y7X6W5V4U3T"
#: A fixed past: rows inserted here are older than any job the API creates during a test.
START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def _job(
    org: ClientCredentials,
    created_at: datetime,
    *,
    user_id: str = ALICE,
    status: JobStatus = JobStatus.COMPLETE,
) -> ReportJob:
    """A job row as the worker leaves it, with every field the status view shows set."""
    done = status in (JobStatus.COMPLETE, JobStatus.FAILED)
    return ReportJob(
        id=str(uuid.uuid4()), org_id=org.org_id, client_id=org.client_id, user_id=user_id,
        status=status, attempts=1 if status != JobStatus.PENDING else 0, max_attempts=3,
        run_after=created_at, created_at=created_at,
        updated_at=created_at + timedelta(seconds=4 if done else 0),
        template_version="v2", policy_version=0,
        started_at=created_at + timedelta(seconds=1) if status != JobStatus.PENDING else None,
        completed_at=created_at + timedelta(seconds=4) if done else None,
        size_bytes=88565 if status == JobStatus.COMPLETE else None,
        sha256="ab" * 32 if status == JobStatus.COMPLETE else None,
        page_count=3 if status == JobStatus.COMPLETE else None,
        storage_key="reports/x.pdf" if status == JobStatus.COMPLETE else None,
        error_code="USER_NOT_FOUND" if status == JobStatus.FAILED else None,
        error_message="No such user is connected" if status == JobStatus.FAILED else None,
    )  # fmt: skip


async def _insert(container: Container, *jobs: ReportJob) -> list[str]:
    """Insert rows directly (the creation rate limit is POST's); their ids, newest first."""
    async with container.sessions.begin() as session:
        await repository.add(session, *jobs)
    return [job.id for job in sorted(jobs, key=lambda j: (j.created_at, j.id), reverse=True)]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _list(http: httpx.AsyncClient, token: str, **params: Any) -> httpx.Response:
    return await http.get(JOBS, params=params, headers=_auth(token))


async def _walk(
    http: httpx.AsyncClient, token: str, cursor: str | None = None, **params: Any
) -> list[str]:
    """Follow nextCursor (from `cursor`) to the end; every job id seen, in order."""
    seen: list[str] = []
    for _ in range(1000):
        response = await _list(http, token, **params, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [item["jobId"] for item in body["items"]]
        cursor = body["nextCursor"]
        if cursor is None:
            return seen
    raise AssertionError("the walk never ended")


async def test_jobs_are_listed_newest_first_each_as_its_status_shows_it(
    http: httpx.AsyncClient, api: Api, container: Container, org_a: ClientCredentials,
    token_a: str,
) -> None:  # fmt: skip
    inserted = await _insert(
        container,
        _job(org_a, START, status=JobStatus.COMPLETE),
        _job(org_a, START + timedelta(minutes=1), status=JobStatus.FAILED),
        _job(org_a, START + timedelta(minutes=2), status=JobStatus.PROCESSING),
    )
    created = (await api.create(token_a, BOB)).json()["jobId"]

    response = await _list(http, token_a)

    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"items", "nextCursor"}
    assert [item["jobId"] for item in body["items"]] == [created, *inserted]
    assert body["nextCursor"] is None
    for item in body["items"]:
        assert item == (await api.status(token_a, item["jobId"])).json()


async def test_filters_by_status_and_user(
    http: httpx.AsyncClient, container: Container, org_a: ClientCredentials, token_a: str
) -> None:
    done, failed, bobs_failed, pending = (
        _job(org_a, START, status=JobStatus.COMPLETE),
        _job(org_a, START + timedelta(seconds=1), status=JobStatus.FAILED),
        _job(org_a, START + timedelta(seconds=2), status=JobStatus.FAILED, user_id=BOB),
        _job(org_a, START + timedelta(seconds=3), status=JobStatus.PENDING, user_id=BOB),
    )
    await _insert(container, done, failed, bobs_failed, pending)

    async def ids(**params: str) -> list[str]:
        response = await _list(http, token_a, **params)
        assert response.status_code == 200, response.text
        return [item["jobId"] for item in response.json()["items"]]

    assert await ids(status="FAILED") == [bobs_failed.id, failed.id]
    assert await ids(status="PENDING") == [pending.id]
    assert await ids(status="PROCESSING") == []
    assert await ids(userId=BOB) == [pending.id, bobs_failed.id]
    assert await ids(userId=BOB, status="FAILED") == [bobs_failed.id]
    assert await ids(userId="US0000000000NONE") == []


@pytest.mark.parametrize("limit", [1, 4, 7, 100])
async def test_a_walk_lists_every_job_once_even_when_they_share_a_created_at(
    http: httpx.AsyncClient, container: Container, org_a: ClientCredentials, token_a: str,
    limit: int,
) -> None:  # fmt: skip
    # Five instants, five jobs each: pages end in the middle of a tie.
    jobs = [_job(org_a, START + timedelta(seconds=i // 5)) for i in range(25)]
    newest_first = await _insert(container, *jobs)

    walked = await _walk(http, token_a, limit=limit)

    assert walked == newest_first


async def test_pages_are_full_and_only_the_last_has_no_next_cursor(
    http: httpx.AsyncClient, container: Container, org_a: ClientCredentials, token_a: str
) -> None:
    await _insert(container, *[_job(org_a, START + timedelta(seconds=i)) for i in range(8)])

    first = (await _list(http, token_a, limit=4)).json()
    second = (await _list(http, token_a, limit=4, cursor=first["nextCursor"])).json()

    assert len(first["items"]) == 4
    assert first["nextCursor"] is not None
    # Exactly two pages' worth: the second is full, and nothing follows it.
    assert len(second["items"]) == 4
    assert second["nextCursor"] is None


async def test_the_default_page_is_20_jobs(
    http: httpx.AsyncClient, container: Container, org_a: ClientCredentials, token_a: str
) -> None:
    await _insert(container, *[_job(org_a, START + timedelta(seconds=i)) for i in range(21)])

    body = (await _list(http, token_a)).json()

    assert len(body["items"]) == 20
    assert body["nextCursor"] is not None


async def test_jobs_created_during_a_walk_neither_shift_nor_repeat_its_pages(
    http: httpx.AsyncClient, api: Api, container: Container, org_a: ClientCredentials,
    token_a: str,
) -> None:  # fmt: skip
    newest_first = await _insert(
        container, *[_job(org_a, START + timedelta(seconds=i)) for i in range(6)]
    )
    first = (await _list(http, token_a, limit=3)).json()

    assert (await api.create(token_a, ALICE)).status_code == 202  # newer than every listed job
    rest = await _walk(http, token_a, limit=3, cursor=first["nextCursor"])

    assert [item["jobId"] for item in first["items"]] + rest == newest_first


async def test_another_org_sees_none_of_the_jobs_even_with_their_cursor(
    http: httpx.AsyncClient, container: Container, org_a: ClientCredentials,
    org_b: ClientCredentials, token_a: str, token_b: str,
) -> None:  # fmt: skip
    a_jobs = await _insert(
        container, *[_job(org_a, START + timedelta(seconds=i)) for i in range(5)]
    )
    b_jobs = await _insert(container, _job(org_b, START - timedelta(days=1)))
    a_cursor = (await _list(http, token_a, limit=2)).json()["nextCursor"]
    # A cursor that positions after every job there could be.
    made_up = paging.encode(paging.Position(START + timedelta(days=3650), str(uuid.uuid4())))

    assert await _walk(http, token_b) == b_jobs
    assert await _walk(http, token_b, cursor=a_cursor) == b_jobs
    assert await _walk(http, token_b, cursor=made_up) == b_jobs
    assert await _walk(http, token_b, userId=ALICE) == b_jobs
    assert await _walk(http, token_a, cursor=made_up) == a_jobs


async def test_the_repository_reads_only_the_orgs_jobs(
    container: Container, org_a: ClientCredentials, org_b: ClientCredentials
) -> None:
    await _insert(container, *[_job(org_a, START + timedelta(seconds=i)) for i in range(3)])
    b_jobs = await _insert(container, _job(org_b, START))
    everything = (START + timedelta(days=1), "ffffffff-ffff-ffff-ffff-ffffffffffff")

    async with container.sessions() as session:
        unpositioned = await repository.page_for_org(session, org_b.org_id, limit=100)
        positioned = await repository.page_for_org(
            session, org_b.org_id, limit=100, after=everything
        )

    assert [job.id for job in unpositioned] == b_jobs
    assert [job.id for job in positioned] == b_jobs


async def test_a_token_without_read_reports_is_403(
    http: httpx.AsyncClient, api: Api, org_a: ClientCredentials
) -> None:
    token = await api.token(org_a, scope="write:reports download:reports")

    response = await _list(http, token, limit=0)  # refused before its parameters are read

    assert_envelope(response, 403, "FORBIDDEN")
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


async def test_read_reports_removed_in_the_database_is_403_despite_the_token(
    http: httpx.AsyncClient, container: Container, org_a: ClientCredentials, token_a: str
) -> None:
    await set_scopes(container, org_a.client_id, "write:reports")

    response = await _list(http, token_a)

    assert_envelope(response, 403, "FORBIDDEN")
    assert 'scope="read:reports"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer not-a-token"}], ids=["anonymous", "bad-token"]
)
async def test_no_valid_token_is_401_before_any_parameter_is_judged(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await http.get(
        JOBS, params={"status": "DONE", "limit": "0", "cursor": "!"}, headers=headers
    )

    assert_envelope(response, 401, "UNAUTHORIZED")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def _cursor_of(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


_UUID = b"3fa85f64-5717-4562-b3fc-2c963f66afa6"
_VALID = paging.encode(paging.Position(START, _UUID.decode()))
_TAMPERED = _VALID[:10] + ("A" if _VALID[10] != "A" else "B") + _VALID[11:]


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"status": "DONE"}, "status", "enum"),
        ({"status": "complete"}, "status", "enum"),
        ({"status": ""}, "status", "enum"),
        ({"userId": ""}, "userId", "minLength"),
        ({"userId": "US1234567890ABCDE"}, "userId", "maxLength"),
        ({"userId": "US1\x01"}, "userId", "pattern"),
        ({"limit": "0"}, "limit", "minimum"),
        ({"limit": "101"}, "limit", "maximum"),
        ({"limit": "ten"}, "limit", "type"),
        ({"cursor": "x" * (paging.MAX_LENGTH + 1)}, "cursor", "maxLength"),
        ({"cursor": ""}, "cursor", "format"),
        ({"cursor": "not a cursor!"}, "cursor", "format"),
        ({"cursor": _TAMPERED}, "cursor", "format"),
        ({"cursor": _VALID + "="}, "cursor", "format"),
        ({"cursor": _VALID[:-1]}, "cursor", "format"),
        ({"cursor": _cursor_of(b"2|2025-01-06T09:00:00.000000Z|" + _UUID)}, "cursor",
         "format"),
        ({"cursor": _cursor_of(b"1|2025-01-06 09:00:00|" + _UUID)},
         "cursor", "format"),
        ({"cursor": _cursor_of(b"1|2025-01-06T09:00:00.000000Z|' OR 1=1 --")}, "cursor",
         "format"),
        ({"cursor": _cursor_of(b"1|2025-01-06T09:00:00.000000Z|" + b"\xff" * 8)}, "cursor",
         "format"),
    ],
)  # fmt: skip
async def test_bad_parameters_are_400_in_the_envelope(
    http: httpx.AsyncClient, container: Container, org_a: ClientCredentials, token_a: str,
    params: dict[str, str], field: str, code: str,
) -> None:  # fmt: skip
    await _insert(container, _job(org_a, START))

    response = await _list(http, token_a, **params)

    body = assert_envelope(response, 400, "BAD_REQUEST")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(field, code)]
    assert body["errorCount"] == 1


@pytest.mark.parametrize(("limit", "code"), [(0, "minimum"), (101, "maximum")])
async def test_the_service_keeps_to_the_page_size_whoever_calls_it(
    container: Container, org_a: ClientCredentials, limit: int, code: str
) -> None:
    principal = Principal(client_id=org_a.client_id, org_id=org_a.org_id)

    async with container.sessions() as session:
        with pytest.raises(ValidationFailed) as failure:
            await service.list_jobs(session, principal=principal, limit=limit)

    assert [(e.field, e.code) for e in failure.value.errors] == [("limit", code)]


async def test_a_valid_cursor_is_accepted_as_written(
    http: httpx.AsyncClient, container: Container, org_a: ClientCredentials, token_a: str
) -> None:
    older = await _insert(container, _job(org_a, START - timedelta(seconds=1)))

    response = await _list(http, token_a, cursor=_VALID)

    assert response.status_code == 200, response.text
    assert [item["jobId"] for item in response.json()["items"]] == older


async def test_the_listing_is_documented_with_its_parameters(http: httpx.AsyncClient) -> None:
    spec = (await http.get("/openapi.json")).json()
    operation = spec["paths"][JOBS]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}

    assert set(parameters) == {"status", "userId", "limit", "cursor"}
    assert parameters["limit"]["schema"]["maximum"] == 100
    assert parameters["limit"]["schema"]["default"] == 20
    assert spec["components"]["schemas"]["JobStatus"]["enum"] == [s.value for s in JobStatus]
    assert set(operation["responses"]) >= {"200", "400", "401", "403"}
    listed = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert listed == "#/components/schemas/JobList"
