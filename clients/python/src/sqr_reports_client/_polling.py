"""How often to ask for a job's status while waiting for it.

The service says when to ask again (`Retry-After` on a job that is not terminal); without it the
documented advice applies: every 3-5 s at first, every 10-15 s once the job is older than 30 s
(jittered within those ranges, so many clients started together do not poll in step).

A service that honours RFC 7240 `Prefer: wait=N` holds the status request until the job is
terminal or N seconds pass, and says so with `Preference-Applied: wait=N`; the next request
can then go at once, since the waiting already happened on the server.
"""

from __future__ import annotations

import random
from datetime import datetime
from email.utils import parsedate_to_datetime

import httpx

from sqr_reports_client._retry import parse_retry_after
from sqr_reports_client.models import Job

FAST_POLL_SECONDS = (3.0, 5.0)
SLOW_POLL_SECONDS = (10.0, 15.0)
SLOWDOWN_AFTER_SECONDS = 30.0
#: The longest `Prefer: wait` asked for; a service caps it lower if it likes.
MAX_PREFER_WAIT_SECONDS = 20
#: Never poll faster than this, whatever a service says (a guard against a tight loop).
MIN_POLL_SECONDS = 1.0


def prefer_wait(remaining: float) -> int | None:
    """The `wait` preference for a status request with `remaining` seconds left, if any."""
    seconds = int(min(remaining, MAX_PREFER_WAIT_SECONDS))
    return seconds if seconds >= 1 else None


def preference_applied(response: httpx.Response) -> bool:
    """True if the service held the request as `Prefer: wait` asked (RFC 7240 §3)."""
    applied = response.headers.get("preference-applied", "")
    return any(part.strip().lower().startswith("wait") for part in applied.split(","))


def poll_delay(response: httpx.Response, job: Job, waited: float) -> float:
    """Seconds until the next status request: the service's `Retry-After`, or the advice for a
    job of this age. `waited` (seconds since the wait began) stands in for the age when the
    answer has no usable `Date`."""
    advised = parse_retry_after(response.headers.get("retry-after"))
    if advised is not None:
        return max(MIN_POLL_SECONDS, advised)
    age = _age(response, job)
    low, high = (
        FAST_POLL_SECONDS if max(age, waited) < SLOWDOWN_AFTER_SECONDS else SLOW_POLL_SECONDS
    )
    return random.uniform(low, high)  # noqa: S311 (jitter, not a secret)


def _age(response: httpx.Response, job: Job) -> float:
    """The job's age by the service's clock (its `Date` header), so a client whose own clock is
    off still slows down on time; 0 when the answer has no usable `Date`."""
    try:
        server_now: datetime = parsedate_to_datetime(response.headers.get("date", ""))
    except (TypeError, ValueError, IndexError):
        return 0.0
    if server_now.tzinfo is None:
        return 0.0
    return max(0.0, (server_now - job.created_at).total_seconds())
