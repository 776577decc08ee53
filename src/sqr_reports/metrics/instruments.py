"""What the service counts: every Prometheus metric its processes record (prometheus-client).

Built once per process on first use, not at import: prometheus-client decides when a metric is
built whether its values live in this process or in the shared files of its multiprocess mode,
and `exposition.use_directory` must have chosen first. Labels are bounded sets only (route
templates, statuses, kinds of work, error codes): never an id, a path or anything a client
chose, so no series can name a person or an org, and none can be multiplied by a client.
"""

from __future__ import annotations

import functools

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: Seconds: a status poll takes about a millisecond; `Prefer: wait` holds a request for up to
#: its cap, so the top buckets see waits, not slowness.
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
#: Seconds: a 3-page report renders in about 30 ms; the time limit is 20 s by default.
RENDER_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60)
#: Seconds from claim to outcome: a render and a put, or a webhook POST (10 s at most).
PROCESSING_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120)


class Instruments:
    """The metrics, registered in a registry of their own (scraped when the process is not in
    multiprocess mode; in it, the shared files are scraped instead)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.http_requests = Counter(
            "sqr_reports_http_requests", "HTTP requests answered, by route template and status",
            ["route", "method", "status"], registry=registry,
        )  # fmt: skip
        self.http_duration = Histogram(
            "sqr_reports_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template",
            ["route", "method"], buckets=HTTP_BUCKETS, registry=registry,
        )  # fmt: skip
        self.rate_limit_refusals = Counter(
            "sqr_reports_rate_limit_refusals", "Requests refused with 429 Too Many Requests",
            ["route"], registry=registry,
        )  # fmt: skip
        self.token_requests = Counter(
            "sqr_reports_token_requests",
            "Token requests by outcome: issued, an RFC 6749 error word, throttled, unavailable",
            ["outcome"], registry=registry,
        )  # fmt: skip
        self._queue(registry)
        self.render_duration = Histogram(
            "sqr_reports_render_duration_seconds", "Report renders, by template and outcome",
            ["template_version", "outcome"], buckets=RENDER_BUCKETS, registry=registry,
        )  # fmt: skip

    def _queue(self, registry: CollectorRegistry) -> None:
        """Durable work of every kind (`report` jobs, `webhook` deliveries), as workers see it."""
        kind = ["kind"]
        self.queue_created = Counter(
            "sqr_reports_queue_created", "Rows queued (committed)", kind, registry=registry
        )
        self.queue_claims = Counter(
            "sqr_reports_queue_claims", "Claims taken by workers", kind, registry=registry
        )
        self.queue_outcomes = Counter(
            "sqr_reports_queue_outcomes",
            "Claims by outcome (completed, retried, failed, released, lost) and error code",
            [*kind, "outcome", "error_code"], registry=registry,
        )  # fmt: skip
        self.queue_processing = Histogram(
            "sqr_reports_queue_processing_seconds", "Time from claim to outcome",
            [*kind, "outcome"], buckets=PROCESSING_BUCKETS, registry=registry,
        )  # fmt: skip
        self.lease_reaps = Counter(
            "sqr_reports_queue_lease_reaps",
            "Claims whose lease expired (their worker died or hung): requeued, or failed",
            [*kind, "outcome"], registry=registry,
        )  # fmt: skip
        # Summed over live processes only: a worker that exits takes its share with it.
        self.worker_slots = Gauge(
            "sqr_reports_worker_slots", "Claims running workers may hold at once",
            kind, multiprocess_mode="livesum", registry=registry,
        )  # fmt: skip
        self.worker_busy = Gauge(
            "sqr_reports_worker_busy", "Claims running workers hold now",
            kind, multiprocess_mode="livesum", registry=registry,
        )  # fmt: skip


@functools.cache
def instruments() -> Instruments:
    """This process's metrics, built on first use."""
    return Instruments(CollectorRegistry())


def rebuild() -> None:
    """Forget the metrics built so far: the next use builds them in the current mode."""
    instruments.cache_clear()
