"""Every PromQL expression the operations files contain, and the metric names they use.

The expressions come from the Grafana dashboard (panel targets and variable queries, with
Grafana's `$variables` replaced by values Prometheus accepts), the alert rules, and the KEDA
trigger of the production overlay. `metric_names_used()` is what a live worker's `/metrics` must
expose for the dashboard, alerts and autoscaling to work.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

import promql_parser

from tests.ops.files import DASHBOARD, SCALED_OBJECT, alert_rules, load_yaml

#: The metric contract of DESIGN.md: name → type.
CONTRACT_METRICS: Final = {
    "asyncworker_polls_total": "counter",
    "asyncworker_poll_duration_seconds": "histogram",
    "asyncworker_activity_tasks_total": "counter",
    "asyncworker_activity_duration_seconds": "histogram",
    "asyncworker_task_overhead_seconds": "histogram",
    "asyncworker_api_requests_total": "counter",
    "asyncworker_api_request_duration_seconds": "histogram",
    "asyncworker_response_retries_total": "counter",
    "asyncworker_response_batch_size": "histogram",
    "asyncworker_response_queue_depth": "gauge",
    "asyncworker_slots": "gauge",
    "asyncworker_pollers": "gauge",
    "asyncworker_heartbeats_total": "counter",
    "asyncworker_event_loop_lag_seconds": "histogram",
    "asyncworker_last_poll_timestamp_seconds": "gauge",
    "asyncworker_draining": "gauge",
    "asyncworker_build_info": "gauge",
}

#: Served on the same /metrics besides the contract (the backlog gauge and the flow-control
#: series of task lists and types only when configured).
EXTRA_METRICS: Final = {
    "asyncworker_poller_restarts_total": "counter",
    "asyncworker_gc_full_collection_seconds": "histogram",
    "asyncworker_task_list_backlog": "gauge",
    "asyncworker_processes": "gauge",
    "asyncworker_process_deaths_total": "counter",
    "asyncworker_process_recycles_total": "counter",
    "asyncworker_process_heartbeats_relayed_total": "counter",
    "asyncworker_payloads_offloaded_total": "counter",
    "asyncworker_payload_bytes_total": "counter",
    "asyncworker_s3_requests_total": "counter",
    "asyncworker_s3_request_duration_seconds": "histogram",
    "asyncworker_paused": "gauge",
    "asyncworker_rate_limited_polls_total": "counter",
    "asyncworker_rate_limit_wait_seconds": "histogram",
    "asyncworker_task_list_slots": "gauge",
    "asyncworker_activity_type_queue_depth": "gauge",
    "asyncworker_activity_type_running": "gauge",
    "asyncworker_activity_type_wait_seconds": "histogram",
    "process_cpu_seconds_total": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
}

#: Series Prometheus makes itself for every target; a worker does not expose them.
PROMETHEUS_SERIES: Final = frozenset({"up"})

#: Grafana's variables, replaced by values that keep each query valid PromQL.
GRAFANA_SUBSTITUTIONS: Final = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
}
GRAFANA_VARIABLE: Final = re.compile(r"\$\{?(\w+)\}?")
LABEL_VALUES: Final = re.compile(r"^label_values\((?P<selector>.*),\s*\w+\)$", re.DOTALL)


@dataclass(frozen=True)
class Expression:
    """One PromQL expression and where it comes from (for failure messages)."""

    source: str
    promql: str


def exposed_series_names() -> frozenset[str]:
    """Series names a worker exposes: histograms as `_bucket`, `_sum` and `_count`."""
    names: set[str] = set()
    for name, kind in (CONTRACT_METRICS | EXTRA_METRICS).items():
        if kind == "histogram":
            names.update(f"{name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(name)
    return frozenset(names)


def grafana_to_promql(query: str) -> str:
    """A Grafana query as plain PromQL: interval variables become durations, others `.*`."""
    for variable, value in GRAFANA_SUBSTITUTIONS.items():
        query = query.replace(variable, value)
    query = GRAFANA_VARIABLE.sub(".*", query)
    if match := LABEL_VALUES.match(query.strip()):
        return match.group("selector")
    return query


def dashboard_expressions() -> list[Expression]:
    """Every panel target and query variable of the Grafana dashboard."""
    model: dict[str, Any] = json.loads(DASHBOARD.read_text())
    found = [
        Expression(f"dashboard variable {variable['name']}", grafana_to_promql(query))
        for variable in model["templating"]["list"]
        if variable["type"] == "query"
        for query in [variable["query"]["query"]]
    ]
    found.extend(
        Expression(
            f"dashboard panel {panel['title']!r} target {target['refId']}",
            grafana_to_promql(target["expr"]),
        )
        for panel in _all_panels(model["panels"])
        for target in panel.get("targets", [])
    )
    return found


def _all_panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Panels including those nested in collapsed rows."""
    return [nested for panel in panels for nested in [panel, *panel.get("panels", [])]]


def rule_expressions() -> list[Expression]:
    return [Expression(f"alert {rule['alert']}", rule["expr"]) for rule in alert_rules()]


def keda_expressions() -> list[Expression]:
    scaled_object: dict[str, Any] = load_yaml(SCALED_OBJECT)
    return [
        Expression(f"KEDA trigger {index}", trigger["metadata"]["query"])
        for index, trigger in enumerate(scaled_object["spec"]["triggers"])
        if trigger["type"] == "prometheus"
    ]


def all_expressions() -> list[Expression]:
    return dashboard_expressions() + rule_expressions() + keda_expressions()


def metric_names(promql: str) -> set[str]:
    """The metric names an expression selects (raises ValueError when it does not parse)."""
    names: set[str] = set()

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            names.update(
                matcher.value
                for matcher in node.matchers.matchers
                if matcher.name == "__name__" and matcher.op == promql_parser.MatchOp.Equal
            )

    promql_parser.walk(promql_parser.parse(promql), pre_visit=visit)
    return names


def metric_names_used() -> set[str]:
    """Every metric the dashboard, the alert rules and the KEDA trigger read from a worker.

    Series Prometheus makes itself (`up`) are left out: the result is what a live worker's
    `/metrics` must expose (histograms by their `_bucket`/`_sum`/`_count` series).
    """
    used: set[str] = set()
    for expression in all_expressions():
        used |= metric_names(expression.promql)
    return used - PROMETHEUS_SERIES
