"""The envelope's bytes, the signature headers, and the retry schedule."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from datetime import UTC, datetime

import pytest

from sqr_reports.config import WebhookSettings
from sqr_reports.webhooks import retry, signing

OCCURRED = datetime(2026, 12, 6, 10, 0, 0, 123456, tzinfo=UTC)
DATA = {
    "job_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "user_id": "US1A2B3C4D5E6F78",
    "status": "COMPLETE", "error_code": None, "size_bytes": 204800, "sha256": "ab" * 32,
    "page_count": 5,
}  # fmt: skip


def _body() -> bytes:
    return signing.envelope(event_id="e1", event_type="REPORT_COMPLETED", occurred_at=OCCURRED,
                            version=1, data=DATA)  # fmt: skip


def test_the_envelope_is_compact_sorted_json_with_sqr_fields() -> None:
    body = _body()
    document = json.loads(body)

    assert list(document) == ["data", "event_id", "event_type", "occurred_at", "version"]
    assert document["occurred_at"] == "2026-12-06T10:00:00.123Z"
    assert document["data"] == DATA
    assert b" " not in body
    assert body == json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def test_the_same_event_gives_the_same_bytes_whatever_the_order_of_its_data() -> None:
    shuffled = dict(reversed(list(DATA.items())))
    again = signing.envelope(event_id="e1", event_type="REPORT_COMPLETED", occurred_at=OCCURRED,
                             version=1, data=shuffled)  # fmt: skip

    assert again == _body()


def test_x_signature_is_the_hex_hmac_sha256_of_the_raw_body_keyed_with_the_printed_secret() -> None:
    secret = signing.new_secret()
    headers = signing.signature_headers(_body(), event_id="e1", secret=secret,
                                        previous_secret=None, timestamp=1_800_000_000)  # fmt: skip

    expected = hmac.new(secret.encode("utf-8"), _body(), hashlib.sha256).hexdigest()
    assert headers == {"x_signature": expected, "x_timestamp": "1800000000", "x_event_id": "e1"}


def test_during_an_overlap_the_previous_secret_signs_in_its_own_header() -> None:
    new, old = signing.new_secret(), signing.new_secret()
    headers = signing.signature_headers(_body(), event_id="e1", secret=new, previous_secret=old,
                                        timestamp=1)  # fmt: skip

    assert headers["x_signature"] == signing.sign(new, _body())
    assert headers["x_signature_previous"] == signing.sign(old, _body())


def test_secrets_are_random_prefixed_and_long() -> None:
    secrets = {signing.new_secret() for _ in range(100)}

    assert len(secrets) == 100
    assert all(s.startswith("whsec_") and len(s) >= 6 + 43 for s in secrets)


class _Shortest:
    """Every draw at the bottom of the jitter range."""

    def uniform(self, a: float, b: float) -> float:
        return a


def test_the_default_schedule_spans_a_day_even_at_the_shortest_jitter() -> None:
    attempts = WebhookSettings().max_attempts
    waits = [retry.backoff_seconds(n, rng=_Shortest()) for n in range(1, attempts)]

    assert attempts == retry.DEFAULT_MAX_ATTEMPTS
    assert sum(waits) >= 24 * 3600
    assert sum(waits[:-1]) < 24 * 3600  # and no attempt more than that needs


def test_the_first_retries_come_within_seconds_and_double() -> None:
    nominal = [retry.nominal_backoff_seconds(n) for n in range(1, 6)]

    assert nominal == [5, 10, 20, 40, 80]
    assert retry.nominal_backoff_seconds(100) == retry.LONGEST_WAIT_SECONDS


@pytest.mark.parametrize("attempt", [1, 3, 12, 25])
def test_each_wait_is_jittered_within_its_band(attempt: int) -> None:
    rng = random.Random(attempt)  # seeded: the test draws the same values every run
    nominal = retry.nominal_backoff_seconds(attempt)
    waits = {retry.backoff_seconds(attempt, rng=rng) for _ in range(200)}

    assert all(0.8 * nominal <= wait <= 1.2 * nominal for wait in waits)
    assert len(waits) > 150  # spread, not one value
