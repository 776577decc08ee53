"""deploy/monitoring: the alert rules and the dashboard are valid PromQL (Prometheus's grammar,
by promql-parser), and every metric they use is one the service exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from tests.scrape import exported_names

MONITORING = Path(__file__).parent.parent / "deploy" / "monitoring"
#: Series Prometheus makes itself, which a rule may use.
PROMETHEUS_OWN = frozenset({"up"})


def _rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def _dashboard_queries() -> list[str]:
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    # Grafana's interval variable is not PromQL: any duration stands in for it.
    return [
        target["expr"].replace("$__rate_interval", "5m")
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def _metric_names(query: str) -> set[str]:
    names: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)
        return True

    promql_parser.walk(promql_parser.parse(query), visit)
    return names


QUERIES = [rule["expr"] for rule in _rules()] + _dashboard_queries()


@pytest.mark.parametrize("query", QUERIES)
def test_each_query_is_promql_of_exported_metrics(query: str) -> None:
    used = _metric_names(query)  # raises ValueError if it is not PromQL

    assert used
    assert used - exported_names() - PROMETHEUS_OWN == set()


def test_every_rule_is_an_alert_with_a_severity_and_a_summary() -> None:
    rules = _rules()

    assert len(rules) >= 6
    for rule in rules:
        assert rule["alert"].startswith("SqrReports")
        assert rule["labels"]["severity"] in ("page", "warn")
        assert rule["annotations"]["summary"]


def test_the_rules_cover_what_an_operator_is_paged_for() -> None:
    used = set().union(*(_metric_names(rule["expr"]) for rule in _rules()))

    for needed in (
        "sqr_reports_http_requests_total",  # error rate
        "sqr_reports_http_request_duration_seconds_bucket",  # latency
        "sqr_reports_queue_oldest_pending_age_seconds",  # queue age
        "sqr_reports_queue_outcomes_total",  # failures by code
        "sqr_reports_queue_lease_reaps_total",  # lease reaps
        "sqr_reports_worker_slots",  # no workers
    ):
        assert needed in used, needed


def _family(name: str) -> str:
    """A histogram's samples (`_bucket`, `_count`, `_sum`) as its one name."""
    for suffix in ("_bucket", "_count", "_sum"):
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def test_the_dashboard_shows_every_exported_metric() -> None:
    shown = {_family(name) for query in _dashboard_queries() for name in _metric_names(query)}

    unshown = {_family(name) for name in exported_names()} - shown
    assert unshown <= {"sqr_reports_queue_stats_up"}  # an alert's, not a graph's
