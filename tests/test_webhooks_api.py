"""`/v1/webhook`: scopes, the secret shown once, refused targets in the envelope, deliveries and
redelivery, each org seeing only its own."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from sqr_reports.auth import scopes
from sqr_reports.container import Container
from sqr_reports.webhooks import delivery
from sqr_reports.webhooks.models import DeliveryStatus, WebhookDelivery
from sqr_reports.webhooks.sender import AttemptResult
from tests.conftest import register_org
from tests.support import Api, ClientCredentials, assert_envelope
from tests.webhook_receiver import Receiver

WEBHOOK_SCOPES = [scopes.WRITE_WEBHOOKS, scopes.READ_WEBHOOKS]


async def _admin(container: Container, api: Api, name: str) -> tuple[ClientCredentials, str]:
    creds = await register_org(container, name, [*scopes.DEFAULT, *WEBHOOK_SCOPES])
    return creds, await api.token(creds)


@pytest.fixture
async def admin_a(container: Container, api: Api) -> tuple[ClientCredentials, str]:
    return await _admin(container, api, "Alpha Hooks Ltd")


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _put(http: httpx.AsyncClient, token: str, url: str) -> httpx.Response:
    return await http.put("/v1/webhook", json={"url": url}, headers=_auth(token))


async def _record(container: Container, org_id: str, job_id: str) -> str:
    async with container.sessions.begin() as session:
        event_id = await delivery.record_event(
            session, org_id=org_id, event_type="REPORT_FAILED", job_id=job_id, max_attempts=3,
            data={"job_id": job_id, "user_id": "US1", "status": "FAILED",
                  "error_code": "USER_NOT_FOUND", "size_bytes": None, "sha256": None,
                  "page_count": None},
            now=await container.db_clock.now(session),
        )  # fmt: skip
    assert event_id is not None
    return event_id


async def test_default_clients_hold_no_webhook_scope(http: httpx.AsyncClient, token_a: str) -> None:
    put = await _put(http, token_a, "https://hooks.example.com/")
    get = await http.get("/v1/webhook", headers=_auth(token_a))

    assert_envelope(put, 403, "FORBIDDEN")
    assert 'scope="write:webhooks"' in put.headers["WWW-Authenticate"]
    assert_envelope(get, 403, "FORBIDDEN")


async def test_the_body_is_read_only_after_authorisation(http: httpx.AsyncClient) -> None:
    response = await http.put("/v1/webhook", content=b"{not json", headers={
        "Content-Type": "application/json"})  # fmt: skip

    assert_envelope(response, 401, "UNAUTHORIZED")


async def test_the_secret_is_shown_once_and_every_put_issues_a_new_one(
    http: httpx.AsyncClient, admin_a: tuple[ClientCredentials, str], receiver: Receiver,
    local_targets: None,
) -> None:  # fmt: skip
    _, token = admin_a

    created = await _put(http, token, receiver.url())
    shown = await http.get("/v1/webhook", headers=_auth(token))
    rotated = await _put(http, token, receiver.url())
    moved = await _put(http, token, receiver.url("/other"))

    assert created.status_code == 200, created.text
    assert created.headers["Cache-Control"] == "no-store"
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert (body["url"], body["enabled"], body["previousSecretValidUntil"]) == (
        receiver.url(), True, None)  # fmt: skip
    assert shown.status_code == 200
    assert "secret" not in shown.json()
    assert body["secret"] not in shown.text
    assert rotated.json()["secret"] != body["secret"]
    assert rotated.json()["previousSecretValidUntil"] is not None  # the old one signs a while
    assert moved.json()["previousSecretValidUntil"] is None  # a new receiver: the old one stops


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://hooks.example.com/", "invalidUrl"),
        ("https://user:password@hooks.example.com/", "invalidUrl"),
        ("https://hooks.example.com/" + "a" * 2048, "maxLength"),
        ("https://localhost/hook", "refusedTarget"),
        ("https://127.0.0.1:8443/hook", "refusedTarget"),
        ("https://[::1]/hook", "refusedTarget"),
        ("https://[::ffff:169.254.169.254]/", "refusedTarget"),
        ("https://169.254.169.254/latest/meta-data/", "refusedTarget"),
        ("https://10.20.30.40/", "refusedTarget"),
        ("https://100.64.1.1/", "refusedTarget"),
        ("https://2130706433/", "refusedTarget"),
    ],
)
async def test_a_refused_target_is_a_400_in_the_envelope_and_nothing_is_stored(
    http: httpx.AsyncClient, admin_a: tuple[ClientCredentials, str], url: str, code: str
) -> None:
    _, token = admin_a

    response = await _put(http, token, url)

    body = assert_envelope(response, 400, "BAD_REQUEST")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("url", code)]
    assert "127.0.0.1" not in body["message"]  # never what the name resolved to
    assert_envelope(await http.get("/v1/webhook", headers=_auth(token)), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [(b'{"url": "https://hooks.example.com/", "events": []}', "application/json", 400),
     (b'{"url": 42}', "application/json", 400),
     (b"url=https://hooks.example.com/", "application/x-www-form-urlencoded", 415)],
)  # fmt: skip
async def test_a_bad_body_is_refused(
    http: httpx.AsyncClient, admin_a: tuple[ClientCredentials, str], content: bytes,
    content_type: str, status: int,
) -> None:  # fmt: skip
    headers = _auth(admin_a[1]) | {"Content-Type": content_type}

    response = await http.put("/v1/webhook", content=content, headers=headers)

    assert response.status_code == status, response.text


async def test_delete_stops_deliveries_and_keeps_them_listed(
    http: httpx.AsyncClient, container: Container, admin_a: tuple[ClientCredentials, str],
    receiver: Receiver, local_targets: None,
) -> None:  # fmt: skip
    creds, token = admin_a
    await _put(http, token, receiver.url())
    await _record(container, creds.org_id, "job-1")

    deleted = await http.delete("/v1/webhook", headers=_auth(token))
    again = await http.delete("/v1/webhook", headers=_auth(token))
    listed = await http.get("/v1/webhook/deliveries", headers=_auth(token))

    assert deleted.status_code == 204
    assert_envelope(again, 404, "NOT_FOUND")
    assert [d["eventType"] for d in listed.json()["items"]] == ["REPORT_FAILED"]


async def test_deliveries_list_attempts_and_redeliver_only_within_the_org(
    http: httpx.AsyncClient, container: Container, api: Api,
    admin_a: tuple[ClientCredentials, str], receiver: Receiver, local_targets: None,
) -> None:  # fmt: skip
    creds_a, token_a = admin_a
    creds_b, token_b = await _admin(container, api, "Beta Hooks GmbH")
    for token in (token_a, token_b):
        await _put(http, token, receiver.url())
    event_a = await _record(container, creds_a.org_id, "job-a")
    event_b = await _record(container, creds_b.org_id, "job-b")
    await _fail_first_attempt(container, event_a)

    listed = await http.get("/v1/webhook/deliveries", headers=_auth(token_a))
    theirs = await http.post(f"/v1/webhook/deliveries/{event_b}/redeliver", headers=_auth(token_a))
    ours = await http.post(f"/v1/webhook/deliveries/{event_a}/redeliver", headers=_auth(token_a))

    [item] = listed.json()["items"]
    assert (item["eventId"], item["status"], item["lastError"]) == (event_a, "FAILED", "HTTP 500")
    assert item["attempts"] == [{"attempt": 1, "startedAt": item["attempts"][0]["startedAt"],
                                 "statusCode": 500, "latencyMs": 7, "error": "HTTP 500",
                                 "responseExcerpt": "oops"}]  # fmt: skip
    assert event_b not in listed.text
    assert_envelope(theirs, 404, "NOT_FOUND")
    assert ours.status_code == 202, ours.text
    assert (ours.json()["eventId"], ours.json()["status"]) == (event_a, "PENDING")


async def _fail_first_attempt(container: Container, event_id: str) -> None:
    """What the queue and `settle` leave after one failed, final attempt."""
    async with container.sessions.begin() as session:
        found = await session.execute(
            select(WebhookDelivery).where(WebhookDelivery.event_id == event_id)
        )
        row = found.scalar_one()
        result = AttemptResult(ok=False, status_code=500, latency_ms=7, error="HTTP 500",
                               response_excerpt="oops")  # fmt: skip
        now = await container.db_clock.now(session)
        await delivery.settle(session, row.id, 1, result, final=True, now=now,
                              settings=container.settings.webhooks)  # fmt: skip
        row.status, row.attempts = DeliveryStatus.FAILED, 1


async def test_the_listing_limit_is_validated(
    http: httpx.AsyncClient, admin_a: tuple[ClientCredentials, str]
) -> None:
    response = await http.get("/v1/webhook/deliveries?limit=1000", headers=_auth(admin_a[1]))

    body: dict[str, Any] = assert_envelope(response, 400, "BAD_REQUEST")
    assert body["errors"][0]["field"].endswith("limit")


async def test_the_routes_are_documented(http: httpx.AsyncClient) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]

    assert set(paths["/v1/webhook"]) == {"put", "get", "delete"}
    assert "requestBody" in paths["/v1/webhook"]["put"]
    assert "/v1/webhook/deliveries" in paths
    assert "/v1/webhook/deliveries/{event_id}/redeliver" in paths
