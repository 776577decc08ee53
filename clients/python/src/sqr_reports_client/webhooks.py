"""Checking that a webhook delivery comes from the service, and reading it.

The service signs each delivery's raw body: `x_signature` is the hex HMAC-SHA256 of the body,
keyed with the endpoint's secret as printed (its UTF-8 bytes); for 24 hours after a rotation,
`x_signature_previous` carries the same under the previous secret. `x_timestamp` (Unix seconds)
is when the attempt was sent. The signature covers the body only, so the timestamp is not
authenticated: the tolerance turns away stale deliveries, and deduplicating on `event_id`
(inside the signed body) is what defeats a replay. Verify the bytes you received, before any
JSON parsing or re-encoding.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from sqr_reports_client.errors import WebhookVerificationError
from sqr_reports_client.models import parse_timestamp

SIGNATURE_HEADERS = ("x_signature", "x_signature_previous")
TIMESTAMP_HEADER = "x_timestamp"
EVENT_ID_HEADER = "x_event_id"
DEFAULT_TOLERANCE_SECONDS = 300

Headers = Mapping[str, str] | httpx.Headers | Iterable[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A verified delivery: `REPORT_COMPLETED` or `REPORT_FAILED`, with the job in `data`
    (`job_id`, `user_id`, `status`, `error_code`, `page_count`, `size_bytes`, `sha256`). It
    never carries a download URL: ask the API for one."""

    event_id: str
    event_type: str
    occurred_at: datetime
    version: int
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def job_id(self) -> str | None:
        value = self.data.get("job_id")
        return str(value) if value is not None else None


def verify_webhook(
    body: bytes,
    headers: Headers,
    secret: str | Iterable[str],
    *,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | datetime | None = None,
) -> WebhookEvent:
    """The delivery's event, if `body` is signed with `secret` (or one of several secrets,
    while you roll one out) and was sent within `tolerance_seconds` of `now` (default: the
    current time). Raises `WebhookVerificationError` otherwise; answer such a request 4xx.

    Header names are matched ignoring case and `-` for `_`, as some servers rewrite them.
    """
    found = _normalised(headers)
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not any(secrets):
        raise WebhookVerificationError("no webhook secret to verify with")
    candidates = [found[name] for name in SIGNATURE_HEADERS if found.get(name)]
    if not candidates:
        raise WebhookVerificationError("the delivery has no x_signature header")
    if not _signed(body, candidates, secrets):
        raise WebhookVerificationError("the signature does not match the body")
    _check_fresh(found.get(TIMESTAMP_HEADER), tolerance_seconds, now)
    event = _parse(body)
    sent_id = found.get(EVENT_ID_HEADER)
    if sent_id is not None and sent_id != event.event_id:
        raise WebhookVerificationError("x_event_id is not the signed body's event_id")
    return event


def _normalised(headers: Headers) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {name.lower().replace("-", "_"): value for name, value in items}


def _signed(body: bytes, candidates: list[str], secrets: list[str]) -> bool:
    """Constant-time comparison of every candidate with every secret's signature."""
    matched = False
    for secret in filter(None, secrets):
        expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest().encode()
        for candidate in candidates:
            # `|=`, not `any()`: every comparison runs, whichever matches.
            matched |= hmac.compare_digest(expected, candidate.strip().lower().encode("utf-8"))
    return matched


def _check_fresh(timestamp: str | None, tolerance: float, now: float | datetime | None) -> None:
    try:
        sent = int(timestamp or "")
    except ValueError:
        raise WebhookVerificationError("x_timestamp is missing or not Unix seconds") from None
    current = _unix_seconds(now)
    if abs(current - sent) > tolerance:
        raise WebhookVerificationError(
            f"x_timestamp is {current - sent:+.0f} s from now, beyond the {tolerance:g} s allowed"
        )


def _unix_seconds(now: float | datetime | None) -> float:
    if now is None:
        return time.time()
    return now.timestamp() if isinstance(now, datetime) else now


def _parse(body: bytes) -> WebhookEvent:
    try:
        document = json.loads(body)
        return WebhookEvent(
            event_id=str(document["event_id"]),
            event_type=str(document["event_type"]),
            occurred_at=parse_timestamp(document["occurred_at"]),
            version=int(document["version"]),
            data=dict(document.get("data") or {}),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise WebhookVerificationError("the signed body is not a webhook event") from exc
