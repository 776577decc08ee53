"""What `GET /metrics` answers: the unit's metrics, then what each queue holds, read now.

The queue's gauges come from the database at each scrape rather than from the processes:
exact whichever replica or machine did the work, and right after a restart too. When the
database cannot be read, the scrape still answers, with `sqr_reports_queue_stats_up 0`.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable, Mapping

from prometheus_client.core import GaugeMetricFamily, Metric
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.db.clock import SessionClock
from sqr_reports.errors import Unauthenticated
from sqr_reports.metrics import exposition
from sqr_reports.queue import depth
from sqr_reports.queue.table import Queued, QueueState

log = logging.getLogger(__name__)

DEPTH = "sqr_reports_queue_depth"
OLDEST = "sqr_reports_queue_oldest_pending_age_seconds"
EXPIRED = "sqr_reports_queue_expired_leases"
UP = "sqr_reports_queue_stats_up"
#: The gauges a scrape reads from the database, with their help (and for the alert checks).
QUEUE_GAUGES = {
    DEPTH: "Rows waiting (PENDING) or held by a worker (PROCESSING)",
    OLDEST: "Seconds the row that has been due longest has waited since it became due (0: none)",
    EXPIRED: "Rows whose lease expired and that no worker reaped yet",
    UP: "1 if this scrape could read the queue, 0 if not",
}


def authorize_scraper(expected: SecretStr | None, authorization: str | None) -> None:
    """Let the scraper in: anyone when no token is configured, else a bearer of that token."""
    if expected is None:
        return
    scheme, _, presented = (authorization or "").partition(" ")
    wanted = expected.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), wanted):
        raise Unauthenticated("A valid metrics bearer token is required")


async def scrape(
    session: AsyncSession, clock: SessionClock, tables: Mapping[str, type[Queued]]
) -> bytes:
    return exposition.render(QueueGauges(await read_queues(session, clock, tables)))


async def read_queues(
    session: AsyncSession, clock: SessionClock, tables: Mapping[str, type[Queued]]
) -> dict[str, depth.Depth] | None:
    """Each kind's queue as it stands, or None if the database cannot say (logged)."""
    try:
        now = await clock.now(session)
        return {kind: await depth.measure(session, table, now) for kind, table in tables.items()}
    except Exception as exc:  # whatever the database does, the process metrics are still served
        log.warning("queue not readable for this scrape: %s", type(exc).__name__)
        return None


class QueueGauges:
    """A one-scrape collector of what `read_queues` found."""

    def __init__(self, depths: Mapping[str, depth.Depth] | None) -> None:
        self._depths = depths

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(UP, QUEUE_GAUGES[UP])
        up.add_metric([], 0 if self._depths is None else 1)
        if self._depths is None:
            return [up]
        rows = GaugeMetricFamily(DEPTH, QUEUE_GAUGES[DEPTH], labels=["kind", "status"])
        oldest = GaugeMetricFamily(OLDEST, QUEUE_GAUGES[OLDEST], labels=["kind"])
        expired = GaugeMetricFamily(EXPIRED, QUEUE_GAUGES[EXPIRED], labels=["kind"])
        for kind, found in sorted(self._depths.items()):
            rows.add_metric([kind, QueueState.PENDING.value], found.pending)
            rows.add_metric([kind, QueueState.PROCESSING.value], found.processing)
            oldest.add_metric([kind], found.oldest_due_seconds)
            expired.add_metric([kind], found.expired_leases)
        return [rows, oldest, expired, up]
