"""Attempts against a real receiver on 127.0.0.1: answers, failures, limits, pinning and TLS, and
the README's standard-library verifier on what actually arrived."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sqr_reports.config import WebhookSettings
from sqr_reports.webhooks import signing
from sqr_reports.webhooks.delivery import Prepared, attempt
from sqr_reports.webhooks.sender import AttemptResult, WebhookSender
from tests.support import MovableClock
from tests.webhook_receiver import Dns, Receiver, Reply, certificates, readme_verifier

SECRET = "whsec_test-secret-0123456789"
FAST = WebhookSettings(connect_timeout_seconds=2, read_timeout_seconds=0.3,
                       total_timeout_seconds=5)  # fmt: skip


@pytest.fixture
async def sender() -> AsyncIterator[WebhookSender]:
    async with WebhookSender(FAST) as built:
        yield built


def _prepared(url: str, **changes: Any) -> Prepared:
    event_id = "0b6f3c1e-9d7a-4f55-8c1e-2f0a9e6b7d41"
    body = signing.envelope(
        event_id=event_id, event_type="REPORT_COMPLETED",
        occurred_at=datetime(2026, 12, 6, tzinfo=UTC), version=1,
        data={"job_id": "j1", "user_id": "US1", "status": "COMPLETE", "error_code": None,
              "size_bytes": 10, "sha256": "ab" * 32, "page_count": 1},
    )  # fmt: skip
    prepared = Prepared(delivery_id="d1", event_id=event_id, org_id="o", url=url, body=body,
                        secret=SECRET, previous_secret=None, previous_valid_until=None)  # fmt: skip
    return dataclasses.replace(prepared, **changes)


async def _attempt(
    prepared: Prepared, sender: WebhookSender, *, allow_private: bool = True,
    now: datetime | None = None,
) -> AttemptResult:  # fmt: skip
    return await attempt(prepared, sender=sender, allow_private=allow_private,
                         now=now or datetime.now(UTC))  # fmt: skip


async def test_a_2xx_is_a_delivery_with_sqr_headers_and_the_exact_body(
    receiver: Receiver, sender: WebhookSender, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.reply = Reply(202, b"thanks")
    prepared = _prepared(receiver.url())
    caplog.set_level(logging.DEBUG)

    result = await _attempt(prepared, sender)

    assert (result.ok, result.status_code, result.error) == (True, 202, None)
    assert result.response_excerpt == "thanks"
    assert result.url == receiver.url()
    [got] = receiver.requests
    assert (got.method, got.path, got.body) == ("POST", "/hook", prepared.body)
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"] == FAST.user_agent
    assert got.headers["x_event_id"] == prepared.event_id
    assert got.headers["x_signature"] == signing.sign(SECRET, prepared.body)
    assert "x_signature_previous" not in got.headers
    assert SECRET not in caplog.text


async def test_a_5xx_fails_the_attempt_and_may_be_retried(
    receiver: Receiver, sender: WebhookSender
) -> None:
    receiver.reply = Reply(500, b"database down")

    result = await _attempt(_prepared(receiver.url()), sender)

    assert (result.ok, result.transient, result.status_code) == (False, True, 500)
    assert (result.error, result.response_excerpt) == ("HTTP 500", "database down")


async def test_a_receiver_that_never_answers_is_cut_off_at_the_read_timeout(
    receiver: Receiver, sender: WebhookSender
) -> None:
    receiver.reply = Reply(hang=True)

    result = await _attempt(_prepared(receiver.url()), sender)

    assert (result.ok, result.status_code, result.transient) == (False, None, True)
    assert result.error == "read timed out: no response in time"
    assert result.latency_ms < 3000


async def test_the_whole_attempt_is_bounded_even_when_reads_may_take_longer(
    receiver: Receiver,
) -> None:
    receiver.reply = Reply(hang=True)
    slow_reads = FAST.model_copy(update={"read_timeout_seconds": 30, "total_timeout_seconds": 0.3})

    async with WebhookSender(slow_reads) as sender:
        result = await _attempt(_prepared(receiver.url()), sender)

    assert result.error == "no complete response within 0.3 s"


async def test_a_huge_response_is_read_only_up_to_the_cap(
    receiver: Receiver, sender: WebhookSender
) -> None:
    total = 64 * 1024 * 1024  # far more than the socket buffers hold
    receiver.reply = Reply(200, stream_bytes=total)

    result = await _attempt(_prepared(receiver.url()), sender)
    await receiver.handled.get()

    assert result.ok
    assert result.response_excerpt == "x" * 1024
    assert receiver.streamed < total  # we hung up long before the end


async def test_a_redirect_is_a_failure_and_is_not_followed(
    receiver: Receiver, sender: WebhookSender
) -> None:
    receiver.reply = Reply(302, b"", {"Location": receiver.url("/elsewhere")})

    result = await _attempt(_prepared(receiver.url()), sender)

    assert (result.ok, result.status_code) == (False, 302)
    assert result.error == "HTTP 302: redirects are not followed"
    assert [r.path for r in receiver.requests] == ["/hook"]


async def test_a_refused_connection_is_a_transient_failure(sender: WebhookSender) -> None:
    closed = await Receiver().start()
    await closed.close()

    result = await _attempt(_prepared(closed.url()), sender)

    assert (result.ok, result.status_code, result.transient) == (False, None, True)
    assert result.error is not None
    assert result.error.startswith("ConnectError")


async def test_the_request_goes_to_the_vetted_address_with_the_name_in_the_host_header(
    receiver: Receiver,
) -> None:
    """`hooks.example.test` exists only in the guard's DNS: had the HTTP client resolved the
    name again, the connection could not have been made."""
    dns = Dns({"hooks.example.test": ["127.0.0.1"]})

    async with WebhookSender(FAST, resolve=dns) as sender:
        result = await _attempt(_prepared(receiver.url(host="hooks.example.test")), sender)

    assert result.ok, result.error
    assert receiver.requests[0].headers["host"] == f"hooks.example.test:{receiver.port}"
    assert dns.lookups == ["hooks.example.test"]


@pytest.mark.parametrize("address", ["10.0.0.7", "127.0.0.1", "169.254.169.254", "::1"])
async def test_a_name_that_now_resolves_to_a_private_address_is_refused_before_connecting(
    receiver: Receiver, address: str
) -> None:
    """DNS rebinding: the check runs at every attempt, and refusing is final."""
    dns = Dns({"hooks.example.test": [address]})
    url = f"https://hooks.example.test:{receiver.port}/hook"

    async with WebhookSender(FAST, resolve=dns) as sender:
        result = await _attempt(_prepared(url), sender, allow_private=False)

    assert (result.ok, result.transient, result.status_code) == (False, False, None)
    assert result.error is not None
    assert "not public" in result.error
    assert address not in result.error
    assert receiver.connections == 0


async def test_tls_verifies_the_certificate_for_the_name_while_connecting_to_the_address(
    tmp_path: Path,
) -> None:
    certs = certificates("hooks.example.test", tmp_path)
    dns = Dns({"hooks.example.test": ["127.0.0.1"], "other.example.test": ["127.0.0.1"]})
    receiver = await Receiver(tls=certs.server).start()
    try:
        async with WebhookSender(FAST, resolve=dns, ssl_context=certs.client) as sender:
            good = await _attempt(_prepared(receiver.url(host="hooks.example.test")), sender)
            wrong = await _attempt(_prepared(receiver.url(host="other.example.test")), sender)
    finally:
        await receiver.close()

    assert good.ok, good.error
    assert receiver.server_names == ["hooks.example.test", "other.example.test"]
    assert [r.headers["host"] for r in receiver.requests] == [f"hooks.example.test:{receiver.port}"]
    assert not wrong.ok
    assert wrong.error is not None
    assert "certificate" in wrong.error.lower()


async def test_the_readme_verifier_accepts_a_real_delivery_and_nothing_altered(
    receiver: Receiver, sender: WebhookSender
) -> None:
    readme = readme_verifier()
    verify, signatures_of = readme["verify"], readme["signatures_of"]

    await _attempt(_prepared(receiver.url()), sender)
    [got] = receiver.requests
    signatures, sent_at = signatures_of(got.headers), got.headers["x_timestamp"]

    assert verify(SECRET, got.body, signatures, sent_at)
    assert not verify(SECRET + "x", got.body, signatures, sent_at)
    assert not verify(SECRET, got.body.replace(b"COMPLETE", b"FAILED!!"), signatures, sent_at)
    assert not verify(SECRET, got.body, signatures, "not a number")
    assert not verify(SECRET, got.body, "", sent_at)


async def test_the_readme_verifier_turns_away_a_stale_timestamp(receiver: Receiver) -> None:
    verify = readme_verifier()["verify"]
    late = MovableClock()
    late.advance(-600)

    async with WebhookSender(FAST, clock=late) as sender:
        await _attempt(_prepared(receiver.url()), sender)
    [got] = receiver.requests

    assert not verify(SECRET, got.body, got.headers["x_signature"], got.headers["x_timestamp"])
    assert verify(SECRET, got.body, got.headers["x_signature"], got.headers["x_timestamp"],
                  tolerance=900)  # fmt: skip


async def test_both_secrets_verify_during_the_overlap_and_only_the_new_one_after(
    receiver: Receiver, sender: WebhookSender
) -> None:
    readme = readme_verifier()
    verify, signatures_of = readme["verify"], readme["signatures_of"]
    old, now = "whsec_old-secret", datetime.now(UTC)
    prepared = _prepared(receiver.url(), previous_secret=old,
                         previous_valid_until=now + timedelta(hours=24))  # fmt: skip

    await _attempt(prepared, sender, now=now)
    await _attempt(prepared, sender, now=now + timedelta(hours=24, seconds=1))
    during, after = receiver.requests

    for secret, expected in ((SECRET, True), (old, True)):
        assert verify(secret, during.body, signatures_of(during.headers),
                      during.headers["x_timestamp"]) is expected  # fmt: skip
    for secret, expected in ((SECRET, True), (old, False)):
        assert verify(secret, after.body, signatures_of(after.headers),
                      after.headers["x_timestamp"]) is expected  # fmt: skip
    assert during.headers["x_signature"] == after.headers["x_signature"]  # always the new one
