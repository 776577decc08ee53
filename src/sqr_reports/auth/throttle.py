"""Slowing down secret guessing at the token endpoint: failed client authentications are counted
per client id and per source address, and over a limit further attempts answer 429 at once.

The counts live in this process (one API replica's view): a guesser spread over N replicas gets
N times the budget, still a handful of guesses a minute against 256-bit secrets. Unknown and
known client ids count alike, so the throttle tells nobody which ids exist. A success clears its
client id's count (a client that mistyped its secret recovers at once); an address's count only
ages out, since one address may try many ids.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict, deque
from datetime import datetime, timedelta
from ipaddress import ip_address, ip_network

from sqr_reports.clock import Clock

log = logging.getLogger(__name__)
#: Keys remembered per kind; the least recently failed are forgotten first (bounded memory,
#: whatever ids or addresses a flood makes up).
MAX_KEYS = 100_000


class _Window:
    """Failure times per key within a sliding window."""

    def __init__(self, limit: int, window: timedelta):
        self.limit = limit
        self.window = window
        self._failures: OrderedDict[str, deque[datetime]] = OrderedDict()

    def wait_seconds(self, key: str, now: datetime) -> int:
        """0 if `key` may try now; else the seconds until its oldest counted failure ages out."""
        failures = self._prune(key, now)
        if failures is None or len(failures) < self.limit:
            return 0
        return max(1, math.ceil((failures[0] + self.window - now).total_seconds()))

    def fail(self, key: str, now: datetime) -> None:
        failures = self._prune(key, now) or deque()
        failures.append(now)
        self._failures[key] = failures
        self._failures.move_to_end(key)
        while len(self._failures) > MAX_KEYS:
            self._failures.popitem(last=False)

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)

    def _prune(self, key: str, now: datetime) -> deque[datetime] | None:
        failures = self._failures.get(key)
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures


class FailureThrottle:
    def __init__(self, clock: Clock, *, per_client: int, per_address: int, window_seconds: int):
        window = timedelta(seconds=window_seconds)
        self._clock = clock
        self._clients = _Window(per_client, window)
        self._addresses = _Window(per_address, window)
        #: Attempts turned away so far (for the operator: logged, and read by metrics).
        self.refused = 0

    def wait_seconds(self, client_id: str, address: str) -> int:
        """How long this client id or address must wait before trying again (0: not at all)."""
        now = self._clock.now()
        wait = max(
            self._clients.wait_seconds(client_id, now),
            self._addresses.wait_seconds(address, now),
        )
        if wait:
            self.refused += 1
            log.warning("token request throttled (%d failures or more); retry in %d s",
                        self._clients.limit, wait)  # fmt: skip
        return wait

    def failed(self, client_id: str, address: str) -> None:
        now = self._clock.now()
        self._clients.fail(client_id, now)
        self._addresses.fail(address, now)

    def succeeded(self, client_id: str) -> None:
        self._clients.clear(client_id)


def source_address(peer: str | None, forwarded_for: str | None, trusted: list[str]) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy, in which case the
    nearest untrusted address in X-Forwarded-For (walking it from the right, as proxies append)."""
    networks = [ip_network(cidr, strict=False) for cidr in trusted]

    def is_trusted(address: str) -> bool:
        try:
            parsed = ip_address(address)
        except ValueError:
            return False
        return any(parsed in network for network in networks)

    address = peer or "unknown"
    if not is_trusted(address) or not forwarded_for:
        return address
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        if not is_trusted(hop):
            return hop or address
    return address
