"""The per-org creation quota and its IETF `RateLimit` header fields.

The count is taken inside the creating transaction with the org's row locked (PostgreSQL) or the
database write lock held (SQLite), so it is exact across API replicas and under concurrency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqr_reports.config import RateLimitSettings

POLICY_NAME = "report-creations"


@dataclass(frozen=True, slots=True)
class Quota:
    limit: int
    window_seconds: int
    remaining: int
    #: Seconds until the oldest creation in the window leaves it (a slot frees).
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Policy": f'"{POLICY_NAME}";q={self.limit};w={self.window_seconds}',
            "RateLimit": f'"{POLICY_NAME}";r={self.remaining};t={self.reset_seconds}',
        }


def quota_after(
    settings: RateLimitSettings, used: int, oldest: datetime | None, now: datetime
) -> Quota:
    """The quota given `used` creations in the window, the oldest of them at `oldest`."""
    window = timedelta(seconds=settings.window_seconds)
    reset = 0
    if oldest is not None:
        reset = max(1, math.ceil((oldest + window - now).total_seconds()))
    elif used:
        reset = settings.window_seconds
    return Quota(
        limit=settings.creations_per_window,
        window_seconds=settings.window_seconds,
        remaining=max(0, settings.creations_per_window - used),
        reset_seconds=reset,
    )
