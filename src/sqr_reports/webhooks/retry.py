"""When a failed delivery is tried again: quickly at first, then stretching to cover a day.

A receiver that blips (a deploy, a restart) gets the event within seconds; one that is down for
hours still gets it, because the attempts span at least `MUST_SPAN` even when every wait draws
the shortest jitter. Jitter spreads the retries of many deliveries that failed together (an
outage of one receiver) so that they do not all return at the same instant.
"""

from __future__ import annotations

import random
import secrets
from typing import Protocol

FIRST_WAIT_SECONDS = 5.0
LONGEST_WAIT_SECONDS = 2 * 3600.0
#: Each wait is its nominal value times a factor drawn from this range.
JITTER = (0.8, 1.2)
MUST_SPAN_SECONDS = 24 * 3600.0


class Uniform(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


_random: Uniform = secrets.SystemRandom()


def nominal_backoff_seconds(attempt: int) -> float:
    """The wait after failed attempt `attempt` (1-based) before jitter: 5 s, doubling, 2 h max."""
    doublings = min(max(attempt, 1) - 1, 32)  # 2**32 * 5 s is far past the cap already
    return min(LONGEST_WAIT_SECONDS, FIRST_WAIT_SECONDS * 2.0**doublings)


def backoff_seconds(attempt: int, *, rng: Uniform | random.Random = _random) -> float:
    """The jittered wait after failed attempt `attempt` before the next one."""
    return nominal_backoff_seconds(attempt) * rng.uniform(*JITTER)


def shortest_span_seconds(max_attempts: int) -> float:
    """From the first attempt to the last, when every wait draws the shortest jitter."""
    return sum(nominal_backoff_seconds(n) * JITTER[0] for n in range(1, max_attempts))


def attempts_to_span(seconds: float) -> int:
    """The fewest attempts whose shortest span reaches `seconds`."""
    attempts = 1
    while shortest_span_seconds(attempts) < seconds:
        attempts += 1
    return attempts


#: 26 with the values above: 5 s, 10 s, ... 85 min, then every 2 h; 24.7 h at the least.
DEFAULT_MAX_ATTEMPTS = attempts_to_span(MUST_SPAN_SECONDS)
