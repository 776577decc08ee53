"""SQR's webhook envelope and its signature headers (ADR 0012).

`x_signature` is the hex HMAC-SHA256 of the raw body, keyed with the endpoint's secret exactly as
it was printed (its UTF-8 bytes). During a rotation's overlap window a second header,
`x_signature_previous`, carries the same HMAC under the previous secret, so `x_signature` is
always one signature under the current secret, as the contract describes it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime
from typing import Any

from sqr_reports.clock import isoformat_ms

SIGNATURE = "x_signature"
PREVIOUS_SIGNATURE = "x_signature_previous"
TIMESTAMP = "x_timestamp"
EVENT_ID = "x_event_id"
#: Marks the string as a webhook secret for people and for secret scanners.
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def new_secret() -> str:
    """256 random bits, URL-safe, prefixed."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def envelope(
    *, event_id: str, event_type: str, occurred_at: datetime, version: int, data: dict[str, Any]
) -> bytes:
    """The body: compact JSON with sorted keys, so an event's bytes (and its signature under
    one secret) are the same on every attempt and every redelivery."""
    document = {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": isoformat_ms(occurred_at),
        "version": version,
        "data": data,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode("ascii")


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_headers(
    body: bytes, *, event_id: str, secret: str, previous_secret: str | None, timestamp: int
) -> dict[str, str]:
    """The `x_*` headers of one attempt. `previous_secret` only while its overlap lasts."""
    headers = {
        SIGNATURE: sign(secret, body),
        TIMESTAMP: str(timestamp),
        EVENT_ID: event_id,
    }
    if previous_secret is not None:
        headers[PREVIOUS_SIGNATURE] = sign(previous_secret, body)
    return headers
