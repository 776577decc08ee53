"""The shared logic, driven step by step: each flow yields the I/O it wants and the test answers.

No service and no clock are involved, so retries, token refresh and the polling schedule are
checked exactly (which action comes next, with which headers and delays), not by timing.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from sqr_reports_client import (
    ApiError,
    AuthenticationError,
    IntegrityError,
    JobErrorCode,
    JobFailed,
    RateLimited,
    TransportError,
    WaitTimeout,
)
from sqr_reports_client._actions import Authorize, Emit, Flow, Send, Sleep, Stream
from sqr_reports_client._config import Credentials
from sqr_reports_client._core import Core
from sqr_reports_client._listing import ListQuery
from sqr_reports_client._retry import RetryPolicy
from sqr_reports_client.models import Job, JobStatus

BASE = "http://reports.test"
JOB_ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


def core(max_retries: int = 2) -> Core:
    credentials = Credentials.of(BASE, "client", "s3cret", None)
    return Core(credentials, timeout=httpx.Timeout(30), retry=RetryPolicy(max_retries))


def job_body(status: str = "PENDING", **fields: Any) -> dict[str, Any]:
    return {
        "jobId": JOB_ID, "status": status, "userId": "US1A2B3C4D5E6F78",
        "createdAt": "2026-12-05T10:00:00.000Z", "updatedAt": "2026-12-05T10:00:00.000Z",
        **fields,
    }  # fmt: skip


def answer(status: int, body: Any = None, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def request_after(flow: Flow[Any], reply: Any = None) -> Send:
    """The next request the flow sends, handing it a token if it asks for one first."""
    action = flow.send(reply)
    if isinstance(action, Authorize):
        action = flow.send("token")
    assert isinstance(action, Send)
    return action


def finish(flow: Flow[Any], reply: Any) -> Any:
    with pytest.raises(StopIteration) as done:
        flow.send(reply)
    return done.value.value


def test_a_creation_retried_after_a_lost_answer_carries_the_same_key_and_body() -> None:
    flow = core().create("US1A2B3C4D5E6F78", None)
    assert next(flow) == Authorize()
    first = flow.send("token-1")
    assert isinstance(first, Send)
    key = first.request.headers["Idempotency-Key"]
    assert uuid.UUID(key).version == 4
    assert first.request.headers["Authorization"] == "Bearer token-1"

    assert isinstance(flow.throw(httpx.ReadError("connection reset")), Sleep)
    second = flow.send(None)

    assert isinstance(second, Send)
    assert second.request == first.request
    job = finish(flow, answer(202, job_body()))
    assert job.job_id == JOB_ID


def test_the_callers_idempotency_key_is_sent_as_given() -> None:
    flow = core().create("US1A2B3C4D5E6F78", "order-42")
    next(flow)
    sent = flow.send("token")
    assert isinstance(sent, Send)
    assert sent.request.headers["Idempotency-Key"] == "order-42"
    assert sent.request.json == {"userId": "US1A2B3C4D5E6F78"}


def test_transport_errors_are_retried_max_retries_times_then_raised() -> None:
    flow = core(max_retries=2).get(JOB_ID)
    next(flow)
    flow.send("token")
    for _ in range(2):
        assert isinstance(flow.throw(httpx.ConnectError("refused")), Sleep)
        assert isinstance(flow.send(None), Send)
    with pytest.raises(TransportError) as raised:
        flow.throw(httpx.ConnectError("refused"))
    assert isinstance(raised.value.__cause__, httpx.ConnectError)


def test_an_answer_that_is_not_the_apis_is_an_api_error() -> None:
    flow = core().get(JOB_ID)
    next(flow)
    flow.send("token")
    with pytest.raises(ApiError) as raised:
        flow.send(httpx.Response(200, text="<html>Welcome to the captive portal</html>"))
    assert (raised.value.status_code, raised.value.error) == (200, "UNEXPECTED_RESPONSE")


def test_a_503_is_retried_after_its_retry_after() -> None:
    flow = core().get(JOB_ID)
    next(flow)
    flow.send("token")
    assert flow.send(answer(503, {"error": "SERVICE_UNAVAILABLE"}, **{"Retry-After": "5"})) == (
        Sleep(5.0)
    )
    assert isinstance(flow.send(None), Send)
    assert finish(flow, answer(200, job_body())).status == JobStatus.PENDING


def test_a_429_whose_slot_frees_in_minutes_is_raised_at_once_not_waited_for() -> None:
    flow = core().create("US1A2B3C4D5E6F78", None)
    next(flow)
    flow.send("token")
    headers = {
        "Retry-After": "412",
        "RateLimit-Policy": '"report-creations";q=10;w=600',
        "RateLimit": '"report-creations";r=0;t=412',
    }
    with pytest.raises(RateLimited) as raised:
        flow.send(
            answer(429, {"code": 429, "error": "TOO_MANY_REQUESTS", "message": "x"}, **headers)
        )
    assert raised.value.retry_after == 412
    assert (raised.value.limit, raised.value.window_seconds) == (10, 600)
    assert (raised.value.remaining, raised.value.reset_seconds) == (0, 412)


def test_a_refused_token_is_replaced_once_and_the_request_repeated() -> None:
    flow = core().get(JOB_ID)
    next(flow)
    flow.send("old-token")
    refused = answer(
        401,
        {"code": 401, "error": "UNAUTHORIZED", "message": "Token has expired"},
        **{"WWW-Authenticate": 'Bearer realm="sqr-reports", error="invalid_token"'},
    )
    assert flow.send(refused) == Authorize(refused="old-token")
    again = flow.send("new-token")
    assert isinstance(again, Send)
    assert again.request.headers["Authorization"] == "Bearer new-token"
    with pytest.raises(AuthenticationError):  # a second refusal is final: no loop
        flow.send(refused)


def test_wait_polls_at_once_when_the_service_already_waited() -> None:
    flow = core().wait(JOB_ID, 120, None, False)
    next(flow)
    held = flow.send("token")
    assert isinstance(held, Send)
    assert held.request.headers["Prefer"] == "wait=20"
    assert held.request.timeout.read == 50  # 30 s plus the 20 the service may hold it
    applied = answer(200, job_body("PROCESSING"), **{"Preference-Applied": "wait=20"})
    pause = flow.send(applied)
    assert isinstance(pause, Sleep)
    assert pause.seconds <= 1  # not the 3-5 s of plain polling


def test_wait_follows_retry_after_when_the_service_did_not_wait() -> None:
    flow = core().wait(JOB_ID, 120, None, False)
    next(flow)
    flow.send("token")
    assert flow.send(answer(200, job_body(), **{"Retry-After": "3"})) == Sleep(3.0)


def test_wait_without_retry_after_follows_the_documented_schedule() -> None:
    flow = core().wait(JOB_ID, 600, None, False)
    next(flow)
    flow.send("token")
    young = flow.send(answer(200, job_body(), Date="Sat, 05 Dec 2026 10:00:10 GMT"))
    assert isinstance(young, Sleep)
    assert 3 <= young.seconds <= 5
    request_after(flow)
    old = flow.send(answer(200, job_body(), Date="Sat, 05 Dec 2026 10:00:45 GMT"))
    assert isinstance(old, Sleep)
    assert 10 <= old.seconds <= 15


def test_wait_gives_up_at_its_timeout_with_the_last_status() -> None:
    clock = [100.0]
    waiting = core()
    waiting.clock = lambda: clock[0]
    seen: list[Job] = []
    flow = waiting.wait(JOB_ID, 5, seen.append, False)
    next(flow)
    flow.send("token")
    assert flow.send(answer(200, job_body(), **{"Retry-After": "10"})) == Sleep(5.0)
    clock[0] = 105.0
    request_after(flow)
    with pytest.raises(WaitTimeout) as raised:
        flow.send(answer(200, job_body("PROCESSING"), **{"Retry-After": "10"}))
    assert raised.value.job.status == JobStatus.PROCESSING
    assert [job.status for job in seen] == [JobStatus.PENDING, JobStatus.PROCESSING]


def test_wait_returns_a_failed_job_or_raises_when_asked() -> None:
    failed = job_body("FAILED", errorCode="USER_NOT_FOUND", errorMessage="No user")
    flow = core().wait(JOB_ID, 60, None, False)
    next(flow)
    flow.send("token")
    assert finish(flow, answer(200, failed)).error_code == JobErrorCode.USER_NOT_FOUND

    flow = core().wait(JOB_ID, 60, None, True)
    next(flow)
    flow.send("token")
    with pytest.raises(JobFailed) as raised:
        flow.send(answer(200, {**failed, "errorCode": "A_CODE_FROM_THE_FUTURE"}))
    assert raised.value.error_code == "A_CODE_FROM_THE_FUTURE"
    assert raised.value.error_message == "No user"


def _page(*created: str, cursor: str | None = None) -> httpx.Response:
    items = [job_body(jobId=str(uuid.uuid4()), createdAt=at, updatedAt=at) for at in created]
    return answer(200, {"items": items, "nextCursor": cursor})


def test_the_listing_stops_at_the_first_job_older_than_created_after() -> None:
    from datetime import datetime

    bound = datetime.fromisoformat("2026-12-05T10:00:02.000Z")
    flow = core().list(ListQuery(created_after=bound, page_size=2))
    next(flow)
    first = flow.send("token")
    assert isinstance(first, Send)
    assert first.request.params == {"limit": "2"}
    emitted = flow.send(_page("2026-12-05T10:00:04.000Z", "2026-12-05T10:00:03.000Z", cursor="c1"))
    assert isinstance(emitted, Emit)
    assert isinstance(flow.send(None), Emit)
    second = request_after(flow)
    assert second.request.params == {"limit": "2", "cursor": "c1"}
    # The page's second job is not after the bound: no third page is asked for.
    assert isinstance(flow.send(_page("2026-12-05T10:00:02.500Z", "2026-12-05T10:00:02.000Z",
                                      cursor="c2")), Emit)  # fmt: skip
    finish(flow, None)


def test_the_listing_stops_at_its_limit_without_asking_for_more() -> None:
    flow = core().list(ListQuery(status=JobStatus.FAILED, limit=1))
    next(flow)
    sent = flow.send("token")
    assert isinstance(sent, Send)
    assert sent.request.params == {"status": "FAILED"}
    assert isinstance(flow.send(_page("2026-12-05T10:00:04.000Z", "2026-12-05T10:00:03.000Z",
                                      cursor="more")), Emit)  # fmt: skip
    finish(flow, None)


def test_a_download_that_is_not_the_jobs_report_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "report.pdf"
    target.write_bytes(b"the previous report")
    complete = Job.from_json(job_body("COMPLETE", sizeBytes=4, sha256="0" * 64))
    flow = core().download(complete, target)
    next(flow)
    flow.send("token")
    stream = flow.send(answer(200, {"url": "http://files.test/x?signature=s",
                                    "expiresInSeconds": 300,
                                    "expiresAt": "2026-12-05T10:05:00.000Z"}))  # fmt: skip
    assert isinstance(stream, Stream)
    assert "Authorization" not in repr(stream)
    stream.sink.write(b"%PDF")
    with pytest.raises(IntegrityError):
        flow.send(httpx.Response(200))
    assert target.read_bytes() == b"the previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.pdf"]
