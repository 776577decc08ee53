"""A retried creation never makes a second job: the same Idempotency-Key on every attempt,
and the live service answers a repeat with the first job (`Idempotent-Replayed: true`)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from sdk_doubles import FailFirstRequest, LoseFirstAnswer, RequestLog
from sdk_live import Org, Service, open_client, unknown_user_id
from sqr_reports_client import Client, Unprocessable
from sqr_reports_client._core import JOBS_PATH


@pytest.fixture(scope="module")
def org(service: Service) -> Org:
    """This module's own org: its jobs use no other test's creation quota."""
    return service.new_org(connected_user=False)


def _jobs_of(client: Client, user_id: str) -> list[str]:
    return [job.job_id for job in client.list(user_id=user_id)]


def test_the_same_key_twice_is_one_job(service: Service, org: Org, log: RequestLog) -> None:
    user_id = unknown_user_id()
    key = f"order-{uuid.uuid4()}"
    with open_client(service, org, log) as client:
        first = client.create(user_id, idempotency_key=key)
        again = client.create(user_id, idempotency_key=key)
        jobs = _jobs_of(client, user_id)
    assert again.job_id == first.job_id
    assert jobs == [first.job_id]
    replayed = [r.headers.get("idempotent-replayed") for r in log.responses
                if r.request.url.path == JOBS_PATH and r.request.method == "POST"]  # fmt: skip
    assert replayed == [None, "true"]


def test_every_creation_carries_a_fresh_uuid4_key(
    service: Service, org: Org, log: RequestLog
) -> None:
    with open_client(service, org, log) as client:
        client.create(unknown_user_id())
    (sent,) = log.creations
    assert uuid.UUID(sent.headers["idempotency-key"]).version == 4


def test_a_creation_whose_answer_was_lost_is_retried_into_the_same_job(
    service: Service, org: Org
) -> None:
    user_id = unknown_user_id()
    flaky = LoseFirstAnswer(JOBS_PATH)
    with (
        httpx.Client(transport=flaky, timeout=30) as http,
        Client(service.url, org.client_id, org.client_secret, http_client=http) as client,
    ):
        job = client.create(user_id)
        jobs = _jobs_of(client, user_id)
    ((first, lost),) = flaky.lost
    ((retry, delivered),) = flaky.delivered
    assert lost.status_code == 202  # the service did create it; the client never heard
    assert lost.json()["jobId"] == job.job_id
    assert delivered.headers["idempotent-replayed"] == "true"
    assert first.headers["idempotency-key"] == retry.headers["idempotency-key"]
    assert jobs == [job.job_id]


def test_a_creation_refused_by_a_failing_proxy_is_retried(service: Service, org: Org) -> None:
    user_id = unknown_user_id()
    proxy = FailFirstRequest(JOBS_PATH)
    with (
        httpx.Client(transport=proxy, timeout=30) as http,
        Client(service.url, org.client_id, org.client_secret, http_client=http) as client,
    ):
        job = client.create(user_id)
        jobs = _jobs_of(client, user_id)
    assert proxy.refused == 1
    assert jobs == [job.job_id]


def test_a_key_reused_for_another_user_is_refused(service: Service, org: Org) -> None:
    key = f"order-{uuid.uuid4()}"
    with open_client(service, org) as client:
        client.create(unknown_user_id(), idempotency_key=key)
        with pytest.raises(Unprocessable) as raised:
            client.create(unknown_user_id(), idempotency_key=key)
    assert raised.value.status_code == 422
