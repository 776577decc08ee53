"""`verify_webhook` against the service's own signing code, and against a real delivery."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from sdk_live import Service, open_client, unknown_user_id
from sqr_reports.webhooks.signing import envelope, new_secret, signature_headers
from sqr_reports_client import WebhookVerificationError, verify_webhook

SENT_AT = 1_796_000_000
EVENT_ID = "8d7c1a52-5f8e-4c1e-9d0b-2b7f3c4a5e61"
DATA = {"job_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "status": "COMPLETE",
        "user_id": "US1A2B3C4D5E6F78", "error_code": None, "page_count": 5,
        "size_bytes": 204800, "sha256": "ab" * 32}  # fmt: skip


def delivery(secret: str, previous: str | None = None) -> tuple[bytes, dict[str, str]]:
    """A body and headers exactly as the service sends them."""
    body = envelope(
        event_id=EVENT_ID,
        event_type="REPORT_COMPLETED",
        occurred_at=datetime(2026, 12, 1, 10, tzinfo=UTC),
        version=1,
        data=DATA,
    )
    headers = signature_headers(
        body, event_id=EVENT_ID, secret=secret, previous_secret=previous, timestamp=SENT_AT
    )
    return body, headers


def test_a_signed_delivery_verifies_and_parses() -> None:
    secret = new_secret()
    body, headers = delivery(secret)
    event = verify_webhook(body, headers, secret, now=SENT_AT + 10)
    assert (event.event_id, event.event_type, event.version) == (EVENT_ID, "REPORT_COMPLETED", 1)
    assert event.occurred_at == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert event.data == DATA
    assert event.job_id == DATA["job_id"]


def test_a_tampered_body_is_refused() -> None:
    secret = new_secret()
    body, headers = delivery(secret)
    forged = body.replace(b'"COMPLETE"', b'"FAILED"')
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify_webhook(forged, headers, secret, now=SENT_AT)


def test_another_secret_is_refused() -> None:
    body, headers = delivery(new_secret())
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify_webhook(body, headers, new_secret(), now=SENT_AT)


@pytest.mark.parametrize("offset", [-301, 301, 3600])
def test_a_delivery_outside_the_tolerance_is_refused(offset: int) -> None:
    secret = new_secret()
    body, headers = delivery(secret)
    with pytest.raises(WebhookVerificationError, match="x_timestamp"):
        verify_webhook(body, headers, secret, now=SENT_AT + offset)


def test_the_tolerance_and_now_can_be_given() -> None:
    secret = new_secret()
    body, headers = delivery(secret)
    sent = datetime.fromtimestamp(SENT_AT, UTC)
    verify_webhook(body, headers, secret, now=sent)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body, headers, secret, now=SENT_AT + 31, tolerance_seconds=30)


def test_during_a_rotation_either_secret_verifies() -> None:
    old, new = new_secret(), new_secret()
    body, headers = delivery(new, previous=old)
    assert verify_webhook(body, headers, old, now=SENT_AT).event_id == EVENT_ID
    assert verify_webhook(body, headers, new, now=SENT_AT).event_id == EVENT_ID
    assert verify_webhook(body, headers, [new_secret(), old], now=SENT_AT).event_id == EVENT_ID


@pytest.mark.parametrize("missing", ["x_signature", "x_timestamp"])
def test_a_delivery_without_its_headers_is_refused(missing: str) -> None:
    secret = new_secret()
    body, headers = delivery(secret)
    del headers[missing]
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body, headers, secret, now=SENT_AT)


def test_an_event_id_header_that_is_not_the_bodys_is_refused() -> None:
    secret = new_secret()
    body, headers = delivery(secret)
    with pytest.raises(WebhookVerificationError, match="x_event_id"):
        verify_webhook(body, {**headers, "x_event_id": "another"}, secret, now=SENT_AT)


def test_headers_in_any_case_or_with_hyphens_and_as_httpx_headers() -> None:
    secret = new_secret()
    body, headers = delivery(secret)
    rewritten = {name.upper().replace("_", "-"): value for name, value in headers.items()}
    assert verify_webhook(body, rewritten, secret, now=SENT_AT).event_id == EVENT_ID
    as_httpx = httpx.Headers(headers)
    assert verify_webhook(body, as_httpx, secret, now=SENT_AT).event_id == EVENT_ID
    assert verify_webhook(body, list(headers.items()), secret, now=SENT_AT).event_id == EVENT_ID


class _Inbox(BaseHTTPRequestHandler):
    received: queue.Queue[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.put((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def inbox() -> Iterator[tuple[str, queue.Queue[tuple[dict[str, str], bytes]]]]:
    received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
    handler = type("Inbox", (_Inbox,), {"received": received})
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/sqr", received
        server.shutdown()
        thread.join()


def test_a_real_delivery_verifies(
    service: Service, inbox: tuple[str, queue.Queue[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = inbox
    org = service.new_org(connected_user=False)
    secret = json.loads(service.cli("webhook", "set", "--org", org.org_id, "--url", url, "--json"))[
        "secret"
    ]
    with open_client(service, org) as client:
        job = client.wait(client.create(unknown_user_id()).job_id)
    headers, body = received.get(timeout=60)

    event = verify_webhook(body, headers, secret)
    assert event.event_type == "REPORT_FAILED"
    assert event.job_id == job.job_id
    assert event.data["error_code"] == "USER_NOT_FOUND"
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body + b" ", headers, secret)
