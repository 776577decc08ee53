"""Reading the service's metrics as Prometheus does: the text of `GET /metrics`, parsed.

Metrics live as long as the test process (prometheus-client's multiprocess files), so a test
reads a value before and after what it does, and asserts on the difference.
"""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from sqr_reports.metrics import exposition
from sqr_reports.metrics.instruments import instruments
from sqr_reports.metrics.service import QUEUE_GAUGES

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample `name` with exactly `labels`; 0 when the series does not exist (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of every `name` sample whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)


async def scrape(http: httpx.AsyncClient, token: str | None = None) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def process_samples() -> Samples:
    """What a scrape of this process's unit reads, without the database's gauges."""
    return parse(exposition.render().decode())


def exported_names() -> set[str]:
    """Every sample name the service can export: its instruments' (a counter's `_total`, a
    histogram's `_bucket`, `_sum` and `_count`) and the queue's gauges."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    names = set(QUEUE_GAUGES)
    for family in instruments().registry.collect():
        names |= {family.name + suffix for suffix in suffixes[family.type]}
    return names
