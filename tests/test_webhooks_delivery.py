"""The outbox and one delivery's steps on the real database: record_event, prepare, attempt
(against a real receiver), settle, the disabling policy, rotation, redelivery and isolation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from sqr_reports.config import WebhookSettings
from sqr_reports.container import Container
from sqr_reports.errors import NotFound, Unprocessable
from sqr_reports.reports.models import ReportJob
from sqr_reports.webhooks import delivery, service
from sqr_reports.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from sqr_reports.webhooks.sender import AttemptResult, WebhookSender
from tests.support import ClientCredentials, MovableClock
from tests.webhook_receiver import Receiver, readme_verifier

LOCAL = WebhookSettings(allow_private_targets=True, read_timeout_seconds=2)


def _data(job_id: str = "job-1", status: str = "COMPLETE") -> dict[str, Any]:
    return {"job_id": job_id, "user_id": "US1A2B3C4D5E6F78", "status": status,
            "error_code": None, "size_bytes": 2048, "sha256": "ab" * 32,
            "page_count": 3}  # fmt: skip


@pytest.fixture
async def sender() -> AsyncIterator[WebhookSender]:
    async with WebhookSender(LOCAL) as built:
        yield built


async def _register(container: Container, org_id: str, url: str) -> str:
    async with container.sessions.begin() as session:
        _, secret = await service.set_endpoint(
            session, org_id, url, clock=container.db_clock, settings=LOCAL
        )
    return secret


async def _record(container: Container, org_id: str, job_id: str = "job-1") -> str | None:
    async with container.sessions.begin() as session:
        return await delivery.record_event(
            session, org_id=org_id, event_type="REPORT_COMPLETED", data=_data(job_id),
            job_id=job_id, now=await container.db_clock.now(session), max_attempts=26,
        )  # fmt: skip


async def _rows(container: Container, model: type[Any]) -> list[Any]:
    async with container.sessions() as session:
        return list((await session.execute(select(model))).scalars())


async def _delivery_of(container: Container, event_id: str) -> WebhookDelivery:
    async with container.sessions() as session:
        found = await session.execute(
            select(WebhookDelivery).where(WebhookDelivery.event_id == event_id)
        )
        return found.scalars().one()


async def _settle(
    container: Container, delivery_id: str, number: int, result: AttemptResult, *,
    final: bool, settings: WebhookSettings = LOCAL,
) -> None:  # fmt: skip
    async with container.sessions.begin() as session:
        now = await container.db_clock.now(session)
        await delivery.settle(session, delivery_id, number, result, final=final, now=now,
                              settings=settings)  # fmt: skip


async def _endpoint(container: Container, org_id: str) -> WebhookEndpoint:
    async with container.sessions() as session:
        return await service.get_endpoint(session, org_id)


FAILED = AttemptResult(ok=False, status_code=503, error="HTTP 503", latency_ms=12)
OK = AttemptResult(ok=True, status_code=200, latency_ms=9, response_excerpt="ok")


def test_event_data_is_the_documented_shape_and_never_a_url() -> None:
    job = ReportJob(id="j1", user_id="US1", status="COMPLETE", error_code=None, size_bytes=10,
                    sha256="ab" * 32, page_count=2, storage_key="reports/o/j1/1.pdf")  # fmt: skip

    data = delivery.event_data_for_job(job)

    assert set(data) == {"job_id", "user_id", "status", "error_code", "size_bytes", "sha256",
                         "page_count"}  # fmt: skip
    assert "reports/" not in repr(data)  # the storage key stays inside
    assert delivery.event_type_for("COMPLETE") == "REPORT_COMPLETED"
    assert delivery.event_type_for("FAILED") == "REPORT_FAILED"
    with pytest.raises(ValueError, match="not terminal"):
        delivery.event_type_for("PENDING")


async def test_no_endpoint_or_a_disabled_one_records_nothing(
    container: Container, org_a: ClientCredentials, receiver: Receiver
) -> None:
    assert await _record(container, org_a.org_id) is None

    await _register(container, org_a.org_id, receiver.url())
    async with container.sessions.begin() as session:
        await service.disable(session, org_a.org_id, "paused", clock=container.db_clock)

    assert await _record(container, org_a.org_id) is None
    assert await _rows(container, WebhookEvent) == []
    assert await _rows(container, WebhookDelivery) == []


async def test_an_enabled_endpoint_gets_the_event_and_a_delivery_due_now(
    container: Container, org_a: ClientCredentials, receiver: Receiver, clock: MovableClock
) -> None:
    await _register(container, org_a.org_id, receiver.url())

    event_id = await _record(container, org_a.org_id)

    [event] = await _rows(container, WebhookEvent)
    queued = await _delivery_of(container, event.event_id)
    assert event_id == event.event_id
    assert (event.event_type, event.version, event.data) == ("REPORT_COMPLETED", 1, _data())
    assert (queued.status, queued.attempts, queued.max_attempts) == ("PENDING", 0, 26)
    assert queued.run_after == event.occurred_at
    assert queued.lease_owner is None


async def test_the_event_is_written_in_the_callers_transaction_only(
    container: Container, org_a: ClientCredentials, receiver: Receiver
) -> None:
    await _register(container, org_a.org_id, receiver.url())

    async with container.sessions() as session:
        await delivery.record_event(session, org_id=org_a.org_id, event_type="REPORT_FAILED",
                                    data=_data(status="FAILED"), job_id="j",
                                    now=datetime.now(UTC), max_attempts=3)  # fmt: skip
        await session.rollback()  # the job's terminal state did not commit: neither may its event

    assert await _rows(container, WebhookEvent) == []


@pytest.mark.parametrize(
    ("event_type", "data"),
    [("REPORT_STARTED", _data()), ("REPORT_COMPLETED", _data() | {"url": "https://x/r.pdf"}),
     ("REPORT_COMPLETED", {"job_id": "j"})],
)  # fmt: skip
async def test_an_unknown_event_or_data_beyond_the_documented_shape_is_a_bug(
    container: Container, org_a: ClientCredentials, event_type: str, data: dict[str, Any]
) -> None:
    async with container.sessions() as session:
        with pytest.raises(ValueError):  # noqa: PT011 (either message)
            await delivery.record_event(session, org_id=org_a.org_id, event_type=event_type,
                                        data=data, job_id="j", now=datetime.now(UTC),
                                        max_attempts=3)  # fmt: skip


async def test_a_delivery_end_to_end_leaves_the_queue_columns_to_the_queue(
    container: Container, org_a: ClientCredentials, receiver: Receiver, sender: WebhookSender
) -> None:
    secret = await _register(container, org_a.org_id, receiver.url())
    event_id = await _record(container, org_a.org_id)
    assert event_id is not None
    before = await _delivery_of(container, event_id)

    async with container.read_sessions() as session:
        prepared = await delivery.prepare(session, before.id)
    assert prepared is not None
    assert secret not in repr(prepared)
    result = await delivery.attempt(prepared, sender=sender, allow_private=True,
                                    now=datetime.now(UTC))  # fmt: skip
    await _settle(container, before.id, 1, result, final=False)

    after = await _delivery_of(container, event_id)
    [row] = await _rows(container, WebhookAttempt)
    [got] = receiver.requests
    assert result.ok
    assert readme_verifier()["verify"](secret, got.body, got.headers["x_signature"],
                                       got.headers["x_timestamp"])  # fmt: skip
    assert got.headers["x_event_id"] == event_id
    assert (row.delivery_id, row.attempt, row.status_code, row.response_excerpt) == (
        before.id, 1, 200, "ok")  # fmt: skip
    assert row.url == receiver.url()
    assert after.delivered_at is not None
    queue_columns = ("status", "attempts", "max_attempts", "run_after", "lease_owner",
                     "lease_expires_at", "updated_at")  # fmt: skip
    assert [getattr(after, c) for c in queue_columns] == [getattr(before, c) for c in queue_columns]


async def test_rotation_signs_with_both_secrets_for_the_overlap_then_only_the_new_one(
    container: Container, org_a: ClientCredentials, receiver: Receiver, sender: WebhookSender,
    clock: MovableClock,
) -> None:  # fmt: skip
    verify, signatures_of = readme_verifier()["verify"], readme_verifier()["signatures_of"]
    old = await _register(container, org_a.org_id, receiver.url())
    async with container.sessions.begin() as session:
        new = await service.rotate_secret(session, org_a.org_id, clock=container.db_clock,
                                          settings=LOCAL)  # fmt: skip
    event_id = await _record(container, org_a.org_id)
    assert event_id is not None
    async with container.read_sessions() as session:
        prepared = await delivery.prepare(session, (await _delivery_of(container, event_id)).id)
    assert prepared is not None

    now = clock.now()
    for moment in (now, now + timedelta(hours=24, minutes=1)):
        await delivery.attempt(prepared, sender=sender, allow_private=True, now=moment)
    during, after = receiver.requests

    def verifies(secret: str, request: Any) -> bool:
        return bool(verify(secret, request.body, signatures_of(request.headers),
                           request.headers["x_timestamp"]))  # fmt: skip

    assert (verifies(new, during), verifies(old, during)) == (True, True)
    assert (verifies(new, after), verifies(old, after)) == (True, False)


async def test_deliveries_that_end_failed_in_a_row_disable_the_endpoint_with_a_reason(
    container: Container, org_a: ClientCredentials, receiver: Receiver
) -> None:
    policy = LOCAL.model_copy(update={"disable_after_failures": 3})
    await _register(container, org_a.org_id, receiver.url())
    ids = [await _record(container, org_a.org_id, f"job-{n}") for n in range(5)]
    deliveries = [(await _delivery_of(container, str(event_id))).id for event_id in ids]

    await _settle(container, deliveries[0], 1, FAILED, final=False, settings=policy)  # retried
    await _settle(container, deliveries[0], 2, FAILED, final=True, settings=policy)
    await _settle(container, deliveries[1], 1, FAILED, final=True, settings=policy)
    counted = (await _endpoint(container, org_a.org_id)).consecutive_failures
    await _settle(container, deliveries[2], 1, OK, final=False, settings=policy)  # resets
    reset = (await _endpoint(container, org_a.org_id)).consecutive_failures
    for number, delivery_id in enumerate(deliveries[2:], start=2):
        await _settle(container, delivery_id, number, FAILED, final=True, settings=policy)

    endpoint = await _endpoint(container, org_a.org_id)
    assert (counted, reset) == (2, 0)
    assert (endpoint.enabled, endpoint.consecutive_failures) == (False, 3)
    assert endpoint.disabled_reason == "3 deliveries in a row failed; the last: HTTP 503"
    async with container.read_sessions() as session:
        assert await delivery.prepare(session, deliveries[4]) is None  # the queue ends it FAILED
    assert await _record(container, org_a.org_id, "job-9") is None
    async with container.sessions.begin() as session:
        await service.enable(session, org_a.org_id, clock=container.db_clock)
    enabled = await _endpoint(container, org_a.org_id)
    assert (enabled.enabled, enabled.disabled_reason, enabled.consecutive_failures) == (
        True, None, 0)  # fmt: skip


async def test_a_deleted_endpoint_leaves_its_deliveries_listed_and_prepares_none(
    container: Container, org_a: ClientCredentials, receiver: Receiver
) -> None:
    await _register(container, org_a.org_id, receiver.url())
    event_id = await _record(container, org_a.org_id)
    queued = await _delivery_of(container, str(event_id))
    async with container.sessions.begin() as session:
        await service.delete_endpoint(session, org_a.org_id)
        await delivery.record_abandoned(session, queued.id, delivery.NO_ENDPOINT)

    async with container.read_sessions() as session:
        assert await delivery.prepare(session, queued.id) is None
        [record] = await service.list_deliveries(session, org_a.org_id)
    assert record.delivery.last_error == delivery.NO_ENDPOINT


async def test_an_org_sees_and_redelivers_only_its_own_deliveries(
    container: Container, org_a: ClientCredentials, org_b: ClientCredentials,
    receiver: Receiver,
) -> None:  # fmt: skip
    for org in (org_a, org_b):
        await _register(container, org.org_id, receiver.url())
    event_a = str(await _record(container, org_a.org_id, "job-a"))
    event_b = str(await _record(container, org_b.org_id, "job-b"))

    async with container.sessions() as session:
        seen = await service.list_deliveries(session, org_a.org_id)
        with pytest.raises(NotFound):
            await service.redeliver(session, event_b, org_id=org_a.org_id,
                                    clock=container.db_clock, settings=LOCAL)  # fmt: skip
    assert [r.delivery.event_id for r in seen] == [event_a]


async def test_redelivery_is_a_new_delivery_of_the_same_event_once_none_is_due(
    container: Container, org_a: ClientCredentials, receiver: Receiver
) -> None:
    await _register(container, org_a.org_id, receiver.url())
    event_id = str(await _record(container, org_a.org_id))
    first = await _delivery_of(container, event_id)

    async with container.sessions() as session:
        with pytest.raises(Unprocessable, match="already due"):
            await service.redeliver(session, event_id, org_id=None, clock=container.db_clock,
                                    settings=LOCAL)  # fmt: skip
    async with container.sessions.begin() as session:  # the queue ended it
        row = await session.get(WebhookDelivery, first.id)
        assert row is not None
        row.status = DeliveryStatus.FAILED
    async with container.sessions.begin() as session:
        again = await service.redeliver(session, event_id, org_id=None,
                                        clock=container.db_clock, settings=LOCAL)  # fmt: skip

    async with container.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(WebhookDelivery))
    assert (again.delivery.event_id, again.delivery.status, count) == (event_id, "PENDING", 2)
    assert again.delivery.id != first.id
