"""Builds the generated operations files from their sources, or checks they are up to date.

- `dashboards/grafana/asyncworker.json`, the Grafana dashboard, from the panel list below: written
  as code so that every panel gets the same datasource, variables, units and legend, and a review
  reads queries instead of JSON noise.
- `deploy/kubernetes/base/prometheusrule.yaml`, the alert rules as a Prometheus Operator
  PrometheusRule, from `dashboards/prometheus/asyncworker-alerts.yaml` (the one source of rules).

Run `python dashboards/build.py` after editing either source, `--check` in CI (tests/ops does).
Standard library only, so it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
DASHBOARD_PATH: Final = ROOT / "dashboards" / "grafana" / "asyncworker.json"
RULES_PATH: Final = ROOT / "dashboards" / "prometheus" / "asyncworker-alerts.yaml"
PROMETHEUS_RULE_PATH: Final = ROOT / "deploy" / "kubernetes" / "base" / "prometheusrule.yaml"

Json = dict[str, Any]

DATASOURCE: Final[Json] = {"type": "prometheus", "uid": "${datasource}"}
#: Matchers every worker series gets from the dashboard's job and instance variables.
TARGET: Final = 'job=~"$job", instance=~"$instance"'
TASK_LIST: Final = f'{TARGET}, task_list=~"$task_list"'
ACTIVITY: Final = f'{TARGET}, activity_type=~"$activity_type"'
RATE: Final = "[$__rate_interval]"
FAILED: Final = 'outcome=~"failed|timed_out|abandoned"'
QUANTILES: Final = (0.5, 0.95, 0.99)
PANEL_HEIGHT: Final = 8


def rate(metric: str, matchers: str) -> str:
    """`rate()` of a counter over Grafana's rate interval."""
    return f"rate({metric}{{{matchers}}}{RATE})"


def quantile_targets(histogram: str, matchers: str, by: str = "") -> list[tuple[str, str]]:
    """p50/p95/p99 of a Prometheus histogram, each as (expression, legend)."""
    group = f"{by}, le" if by else "le"
    legend_prefix = f"{{{{{by}}}}} " if by else ""
    return [
        (
            f"histogram_quantile({q}, sum by ({group}) ({rate(histogram + '_bucket', matchers)}))",
            f"{legend_prefix}p{round(q * 100)}",
        )
        for q in QUANTILES
    ]


def panel(
    title: str,
    description: str,
    unit: str,
    targets: list[tuple[str, str]],
    *,
    kind: str = "timeseries",
    width: int = 8,
    stack: bool = False,
    maximum: float | None = None,
) -> Json:
    """One Grafana panel; its position is assigned by `layout()`."""
    defaults: Json = {"unit": unit, "min": 0}
    if maximum is not None:
        defaults["max"] = maximum
    if kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 25 if stack else 10,
            "showPoints": "never",
            "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        }
        options: Json = {
            "legend": {
                "displayMode": "table",
                "placement": "bottom",
                "showLegend": True,
                "calcs": ["mean", "max", "lastNotNull"],
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    elif kind == "stat":
        options = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
            "justifyMode": "auto",
            "textMode": "auto",
        }
    else:
        options = {"showHeader": True}
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "targets": [
            {
                "datasource": DATASOURCE,
                "refId": chr(ord("A") + index),
                "expr": expr,
                "legendFormat": legend,
                **(
                    {"instant": True, "range": False, "format": "table"}
                    if kind == "table"
                    else {"range": True}
                ),
            }
            for index, (expr, legend) in enumerate(targets)
        ],
        "gridPos": {"h": PANEL_HEIGHT, "w": width, "x": 0, "y": 0},
    }


def throughput_row() -> list[Json]:
    outcomes = f"sum by (outcome) ({rate('asyncworker_activity_tasks_total', ACTIVITY)})"
    all_tasks = f"sum({rate('asyncworker_activity_tasks_total', ACTIVITY)})"
    failed = f"sum({rate('asyncworker_activity_tasks_total', f'{ACTIVITY}, {FAILED}')})"
    completed = f'{ACTIVITY}, outcome="completed"'
    return [
        panel(
            "Completed tasks",
            "Activity tasks completed per second, summed over the selected workers.",
            "ops",
            [(f"sum({rate('asyncworker_activity_tasks_total', completed)})", "completed")],
            kind="stat",
            width=6,
        ),
        panel(
            "Failure ratio",
            "Share of activity tasks that ended failed, timed out (SWF closed them first) or "
            "abandoned (SWF no longer knew them).",
            "percentunit",
            [(f"{failed} / {all_tasks}", "failed")],
            kind="stat",
            width=6,
        ),
        panel(
            "Slot utilisation",
            "Slots (task capacity, from poll to acknowledged response) in use, over all selected "
            "workers. Near 100% the pollers wait for capacity and tasks queue at SWF.",
            "percentunit",
            [
                (
                    f'sum(asyncworker_slots{{{TARGET}, state="used"}}) / '
                    f"sum(asyncworker_slots{{{TARGET}}})",
                    "used",
                )
            ],
            kind="stat",
            width=6,
            maximum=1,
        ),
        panel(
            "Workers",
            "Worker processes reporting metrics, and how many of them are draining.",
            "none",
            [
                (f"count(asyncworker_build_info{{{TARGET}}})", "workers"),
                (f"sum(asyncworker_draining{{{TARGET}}})", "draining"),
            ],
            kind="stat",
            width=6,
        ),
        panel(
            "Activity tasks by outcome",
            "How activity tasks ended, per second: completed, failed, canceled (after a cancel "
            "request), timed_out (local deadline passed), abandoned (SWF no longer knew the task).",
            "ops",
            [(outcomes, "{{outcome}}")],
            stack=True,
        ),
        panel(
            "Completed tasks by activity type",
            "Completions per second for each activity type (name:version).",
            "ops",
            [
                (
                    "sum by (activity_type) "
                    f"({rate('asyncworker_activity_tasks_total', completed)})",
                    "{{activity_type}}",
                )
            ],
        ),
        panel(
            "Polls by outcome",
            "PollForActivityTask results per second: a task, empty (the 60 s long poll ended "
            "without one), error or throttled.",
            "ops",
            [
                (
                    f"sum by (outcome) ({rate('asyncworker_polls_total', TASK_LIST)})",
                    "{{outcome}}",
                )
            ],
            stack=True,
        ),
    ]


def latency_row() -> list[Json]:
    return [
        panel(
            "Activity duration",
            "Handler run time, p50/p95/p99 over the selected activity types.",
            "s",
            quantile_targets("asyncworker_activity_duration_seconds", ACTIVITY),
        ),
        panel(
            "Activity duration p99 by activity type",
            "99th percentile of handler run time for each activity type.",
            "s",
            [
                (
                    "histogram_quantile(0.99, sum by (activity_type, le) "
                    f"({rate('asyncworker_activity_duration_seconds_bucket', ACTIVITY)}))",
                    "{{activity_type}}",
                )
            ],
        ),
        panel(
            "Task overhead",
            "Time a task spends in asyncworker itself: from the poll's return to the "
            "acknowledged response, minus the handler's run time. p50/p95/p99.",
            "s",
            quantile_targets("asyncworker_task_overhead_seconds", TARGET),
        ),
        panel(
            "SWF API latency p99 by operation",
            "99th percentile duration of each SWF call. PollForActivityTask is a long poll and "
            "takes up to 60 s when there is no work.",
            "s",
            [
                (
                    "histogram_quantile(0.99, sum by (operation, le) "
                    f"({rate('asyncworker_api_request_duration_seconds_bucket', TARGET)}))",
                    "{{operation}}",
                )
            ],
        ),
        panel(
            "SWF API latency p50 by operation",
            "Median duration of each SWF call.",
            "s",
            [
                (
                    "histogram_quantile(0.5, sum by (operation, le) "
                    f"({rate('asyncworker_api_request_duration_seconds_bucket', TARGET)}))",
                    "{{operation}}",
                )
            ],
        ),
        panel(
            "Poll duration p50/p99 by task list",
            "How long polls wait for a task: short when tasks are waiting, up to 60 s when idle.",
            "s",
            quantile_targets("asyncworker_poll_duration_seconds", TASK_LIST, by="task_list")[::2],
        ),
    ]


def pollers_row() -> list[Json]:
    used = f'sum by (instance) (asyncworker_slots{{{TARGET}, state="used"}})'
    return [
        panel(
            "Slots",
            "Slots used and free. A slot is taken before a poll and given back when the task's "
            "response is acknowledged, so used slots include polls that are waiting.",
            "none",
            [(f"sum by (state) (asyncworker_slots{{{TARGET}}})", "{{state}}")],
            stack=True,
        ),
        panel(
            "Slot utilisation by worker",
            "Share of each worker's slots in use.",
            "percentunit",
            [(f"{used} / sum by (instance) (asyncworker_slots{{{TARGET}}})", "{{instance}}")],
            maximum=1,
        ),
        panel(
            "Pollers by state",
            "Pollers polling, waiting for a free slot, or backing off after an error.",
            "none",
            [(f"sum by (state) (asyncworker_pollers{{{TASK_LIST}}})", "{{state}}")],
            stack=True,
        ),
        panel(
            "Time since a poll last returned",
            "Seconds since a poll of each task list returned on each worker. A long poll returns "
            "within 60 s, so a rising line means stuck pollers (unless all slots are busy).",
            "s",
            [
                (
                    "max by (instance, task_list) "
                    f"(time() - asyncworker_last_poll_timestamp_seconds{{{TASK_LIST}}})",
                    "{{instance}} {{task_list}}",
                )
            ],
        ),
        panel(
            "Poller restarts",
            "Pollers that crashed and were restarted in each interval; any is worth a look at "
            "the logs.",
            "none",
            [
                (
                    "sum by (task_list) "
                    f"(increase(asyncworker_poller_restarts_total{{{TASK_LIST}}}{RATE}))",
                    "{{task_list}}",
                )
            ],
        ),
        panel(
            "Task list backlog",
            "Activity tasks waiting at SWF (CountPendingActivityTasks). Opt-in: workers publish "
            "it only with ASYNCWORKER_BACKLOG_INTERVAL set (at least 30 s: the call's quota is "
            "6/s per account).",
            "none",
            [
                (
                    "max by (task_list) (asyncworker_task_list_backlog"
                    '{job=~"$job", task_list=~"$task_list"})',
                    "{{task_list}}",
                )
            ],
        ),
    ]


def flow_control_row() -> list[Json]:
    limited = rate("asyncworker_rate_limited_polls_total", TASK_LIST)
    tasks = rate("asyncworker_polls_total", TASK_LIST)
    return [
        panel(
            "Paused workers",
            "Workers whose polling is paused (POST /pause or SIGUSR1): they run what they hold "
            "and take nothing new, and /readyz answers 503.",
            "none",
            [(f"sum (asyncworker_paused{{{TARGET}}})", "paused")],
        ),
        panel(
            "Polls that waited for a rate-limit token",
            "Share of polls that first waited for a token of max_activities_per_second or "
            "task_list_rates. Near 1 for long, the limit (not the backlog) sets the pace.",
            "percentunit",
            [
                (
                    f"sum by (task_list) ({limited}) / sum by (task_list) ({tasks})",
                    "{{task_list}}",
                )
            ],
            maximum=1,
        ),
        panel(
            "Rate-limit wait before a poll",
            "How long pollers waited for their tokens (p50/p95/p99).",
            "s",
            quantile_targets("asyncworker_rate_limit_wait_seconds", TASK_LIST),
        ),
        panel(
            "Task list slots",
            "Slots used of the task lists with task_list_concurrency: a list at its limit waits "
            "without holding the worker's other slots.",
            "none",
            [
                (
                    "sum by (task_list) "
                    f'(asyncworker_task_list_slots{{{TASK_LIST}, state="used"}})',
                    "{{task_list}}",
                )
            ],
        ),
        panel(
            "Per-type running and waiting",
            "Handlers running and tasks waiting for their turn, for activity types registered "
            "with max_concurrent. Waiting tasks hold slots and their start-to-close clocks run.",
            "none",
            [
                (
                    f"sum by (activity_type) (asyncworker_activity_type_running{{{ACTIVITY}}})",
                    "{{activity_type}} running",
                ),
                (
                    f"sum by (activity_type) (asyncworker_activity_type_queue_depth{{{ACTIVITY}}})",
                    "{{activity_type}} waiting",
                ),
            ],
        ),
        panel(
            "Per-type wait for a turn",
            "How long tasks of a type with max_concurrent waited to run (p95), by type.",
            "s",
            quantile_targets("asyncworker_activity_type_wait_seconds", ACTIVITY, "activity_type")[
                1:2
            ],
        ),
    ]


def responder_row() -> list[Json]:
    batch = "asyncworker_response_batch_size"
    return [
        panel(
            "Response queue depth",
            "Outcomes waiting for the responder on each worker. It stays low unless responses "
            "are slow or throttled; when the queue is full, slots stay held and polling stops.",
            "none",
            [(f"sum by (instance) (asyncworker_response_queue_depth{{{TARGET}}})", "{{instance}}")],
        ),
        panel(
            "Response batch size",
            "Respond* calls the responder sends together: mean and p99. Bigger batches mean the "
            "responder is keeping up with a high rate by pipelining.",
            "none",
            [
                (
                    f"sum({rate(batch + '_sum', TARGET)}) / sum({rate(batch + '_count', TARGET)})",
                    "mean",
                ),
                (
                    f"histogram_quantile(0.99, sum by (le) ({rate(batch + '_bucket', TARGET)}))",
                    "p99",
                ),
            ],
        ),
        panel(
            "Response retries by operation",
            "Respond* calls retried per second after throttling or a transient network or "
            "server error.",
            "ops",
            [
                (
                    f"sum by (operation) ({rate('asyncworker_response_retries_total', TARGET)})",
                    "{{operation}}",
                )
            ],
        ),
    ]


def faults_row() -> list[Json]:
    not_ok = f'{TARGET}, outcome!="ok"'
    return [
        panel(
            "SWF API errors by operation and kind",
            "Failed SWF calls per second: throttled, unknown_resource (task already closed), "
            "limit_exceeded, network, server (5xx) or client (4xx) errors.",
            "ops",
            [
                (
                    "sum by (operation, outcome) "
                    f"({rate('asyncworker_api_requests_total', not_ok)})",
                    "{{operation}} {{outcome}}",
                )
            ],
            width=12,
            stack=True,
        ),
        panel(
            "SWF API error ratio by operation",
            "Share of each operation's calls that did not succeed.",
            "percentunit",
            [
                (
                    f"sum by (operation) ({rate('asyncworker_api_requests_total', not_ok)}) / "
                    f"sum by (operation) ({rate('asyncworker_api_requests_total', TARGET)})",
                    "{{operation}}",
                )
            ],
            width=12,
            maximum=1,
        ),
    ]


def claim_checks_row() -> list[Json]:
    s3_errors = f'{TARGET}, outcome!="ok"'
    return [
        panel(
            "Claim-check values through S3",
            "Values per second moved through S3 by claim-check codecs: inputs fetched, results "
            "and failure or cancel details stored (values under the threshold stay inline).",
            "ops",
            [
                (
                    f"sum by (direction) ({rate('asyncworker_payloads_offloaded_total', TARGET)})",
                    "{{direction}}",
                )
            ],
            width=6,
            stack=True,
        ),
        panel(
            "Claim-check bytes through S3",
            "UTF-8 bytes per second of the values moved through S3, by direction.",
            "Bps",
            [
                (
                    f"sum by (direction) ({rate('asyncworker_payload_bytes_total', TARGET)})",
                    "{{direction}}",
                )
            ],
            width=6,
            stack=True,
        ),
        panel(
            "S3 latency",
            "p50/p95/p99 of the S3 calls of claim checks (PutObject, GetObject), by operation.",
            "s",
            quantile_targets("asyncworker_s3_request_duration_seconds", TARGET, by="operation"),
            width=6,
        ),
        panel(
            "S3 errors",
            "Failed S3 calls per second by operation and kind: throttled (SlowDown), network, "
            "server (5xx), client (4xx: a missing object, access denied). Throttling, network "
            "and 5xx are retried until the task's deadline.",
            "ops",
            [
                (
                    "sum by (operation, outcome) "
                    f"({rate('asyncworker_s3_requests_total', s3_errors)})",
                    "{{operation}} {{outcome}}",
                )
            ],
            width=6,
            stack=True,
        ),
    ]


def heartbeats_row() -> list[Json]:
    closed_early = f'{ACTIVITY}, outcome=~"canceled|timed_out|abandoned"'
    return [
        panel(
            "Heartbeats by outcome",
            "RecordActivityTaskHeartbeat results per second: ok, cancel_requested (the decider "
            "asked to cancel the task), unknown_resource (the task is gone), error.",
            "ops",
            [
                (
                    f"sum by (outcome) ({rate('asyncworker_heartbeats_total', TARGET)})",
                    "{{outcome}}",
                )
            ],
            width=12,
            stack=True,
        ),
        panel(
            "Cancellations, timeouts and abandoned tasks",
            "Tasks per second that ended canceled, timed out or abandoned, by activity type.",
            "ops",
            [
                (
                    "sum by (activity_type, outcome) "
                    f"({rate('asyncworker_activity_tasks_total', closed_early)})",
                    "{{activity_type}} {{outcome}}",
                )
            ],
            width=12,
        ),
    ]


def event_loop_row() -> list[Json]:
    return [
        panel(
            "Event loop lag",
            "How late the event loop runs a timer: p50/p95/p99. Tens of milliseconds mean "
            "something blocks the loop (CPU-heavy or blocking code in an async handler).",
            "s",
            quantile_targets("asyncworker_event_loop_lag_seconds", TARGET),
            width=12,
        ),
        panel(
            "Event loop lag p99 by worker",
            "99th percentile event loop lag of each worker.",
            "s",
            [
                (
                    "histogram_quantile(0.99, sum by (instance, le) "
                    f"({rate('asyncworker_event_loop_lag_seconds_bucket', TARGET)}))",
                    "{{instance}}",
                )
            ],
            width=12,
        ),
        panel(
            "Garbage collection pause",
            "Mean time each worker's event loop stood still for a collection of the oldest "
            "generation, by scope: recent, the sweep of what became long-lived, every 0.1 s "
            "(a few ms); all, the whole heap (start-up state included), checked every "
            "gc_interval seconds and run once the frozen heap grew by a quarter, when at most "
            "500 tasks are in flight or after 30 intervals.",
            "s",
            [
                (
                    f"sum by (instance, scope) "
                    f"({rate('asyncworker_gc_full_collection_seconds_sum', TARGET)}) / "
                    f"sum by (instance, scope) "
                    f"({rate('asyncworker_gc_full_collection_seconds_count', TARGET)})",
                    "{{instance}} {{scope}}",
                )
            ],
            width=24,
        ),
    ]


def worker_processes_row() -> list[Json]:
    return [
        panel(
            "Worker processes by state",
            "Processes running process-executed handlers: busy (a task), idle, starting (a "
            "replacement or a recycle), retiring. Busy at the limit means process tasks wait.",
            "none",
            [
                (
                    f"sum by (state) (asyncworker_processes{{{TARGET}}})",
                    "{{state}}",
                )
            ],
            stack=True,
        ),
        panel(
            "Worker process deaths by cause",
            "Processes lost per second: crashed (a segfault, os._exit, the OOM killer), memory "
            "(over max_process_memory), cancel_grace (ignored a cancel request), stopped (the "
            "worker stopped its task: deadline, abandoned, drain). Each is replaced.",
            "ops",
            [
                (
                    f"sum by (cause) ({rate('asyncworker_process_deaths_total', TARGET)})",
                    "{{cause}}",
                )
            ],
            stack=True,
        ),
        panel(
            "Worker process recycles and relayed heartbeats",
            "Processes retired per second after max_tasks_per_process tasks or over "
            "max_process_memory between tasks, and heartbeats relayed from processes.",
            "ops",
            [
                (
                    f"sum by (cause) ({rate('asyncworker_process_recycles_total', TARGET)})",
                    "recycled: {{cause}}",
                ),
                (
                    f"sum({rate('asyncworker_process_heartbeats_relayed_total', TARGET)})",
                    "heartbeats relayed",
                ),
            ],
        ),
    ]


def process_row() -> list[Json]:
    return [
        panel(
            "CPU",
            "CPU time used per second by each worker process (1 = one full core).",
            "percentunit",
            [(rate("process_cpu_seconds_total", TARGET), "{{instance}}")],
            width=6,
        ),
        panel(
            "Resident memory",
            "Resident set size of each worker process.",
            "bytes",
            [(f"process_resident_memory_bytes{{{TARGET}}}", "{{instance}}")],
            width=6,
        ),
        panel(
            "Open file descriptors",
            "Share of the file descriptor limit each worker uses (sockets count).",
            "percentunit",
            [
                (
                    f"process_open_fds{{{TARGET}}} / process_max_fds{{{TARGET}}}",
                    "{{instance}}",
                )
            ],
            width=6,
            maximum=1,
        ),
        panel(
            "Versions",
            "The asyncworker version each worker runs.",
            "none",
            [(f"count by (version) (asyncworker_build_info{{{TARGET}}})", "{{version}}")],
            kind="table",
            width=6,
        ),
    ]


ROWS: Final = (
    ("Throughput and outcomes", throughput_row),
    ("Latency", latency_row),
    ("Pollers and slots", pollers_row),
    ("Flow control", flow_control_row),
    ("Responder", responder_row),
    ("Faults and retries", faults_row),
    ("Claim checks (S3)", claim_checks_row),
    ("Heartbeats and cancellations", heartbeats_row),
    ("Event loop", event_loop_row),
    ("Worker processes (process execution)", worker_processes_row),
    ("Process", process_row),
)


def layout() -> list[Json]:
    """All panels with ids and grid positions: rows of panels, left to right, wrapping at 24."""
    panels: list[Json] = []
    y = 0
    for title, build in ROWS:
        panels.append(
            {
                "type": "row",
                "title": title,
                "collapsed": False,
                "panels": [],
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
            }
        )
        y += 1
        x = 0
        for item in build():
            if x + item["gridPos"]["w"] > 24:
                x, y = 0, y + PANEL_HEIGHT
            item["gridPos"].update(x=x, y=y)
            x += item["gridPos"]["w"]
            panels.append(item)
        y += PANEL_HEIGHT
    for number, item in enumerate(panels, start=1):
        item["id"] = number
    return panels


def query_variable(name: str, label: str, query: str) -> Json:
    """A multi-value template variable filled from `label_values()`, defaulting to all values."""
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-variable"},
        "definition": query,
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def dashboard() -> Json:
    """The complete dashboard model."""
    return {
        "uid": "asyncworker",
        "title": "asyncworker",
        "description": "Amazon SWF activity workers: throughput, latency, capacity, faults.",
        "tags": ["asyncworker", "swf"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "links": [],
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "refresh": 1,
                },
                query_variable("job", "Job", "label_values(asyncworker_build_info, job)"),
                query_variable(
                    "instance",
                    "Instance",
                    'label_values(asyncworker_build_info{job=~"$job"}, instance)',
                ),
                query_variable(
                    "task_list",
                    "Task list",
                    f"label_values(asyncworker_polls_total{{{TARGET}}}, task_list)",
                ),
                query_variable(
                    "activity_type",
                    "Activity type",
                    f"label_values(asyncworker_activity_tasks_total{{{TARGET}}}, activity_type)",
                ),
            ]
        },
        "panels": layout(),
    }


def render_dashboard() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


def render_prometheus_rule() -> str:
    """The rules file's groups, verbatim, as the spec of a PrometheusRule."""
    rules = RULES_PATH.read_text()
    groups = rules[rules.index("\ngroups:") + 1 :]
    indented = "".join(f"  {line}" if line.strip() else line for line in groups.splitlines(True))
    return (
        "# Generated by `python dashboards/build.py` from dashboards/prometheus/"
        "asyncworker-alerts.yaml:\n"
        "# edit that file and rebuild, not this one.\n"
        "apiVersion: monitoring.coreos.com/v1\n"
        "kind: PrometheusRule\n"
        "metadata:\n"
        "  name: asyncworker\n"
        "spec:\n"
        f"{indented}"
    )


OUTPUTS: Final = {DASHBOARD_PATH: render_dashboard, PROMETHEUS_RULE_PATH: render_prometheus_rule}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if a file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for path, render in OUTPUTS.items():
        text = render()
        if path.exists() and path.read_text() == text:
            continue
        if args.check:
            stale.append(path.relative_to(ROOT))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(
            f"out of date: {', '.join(map(str, stale))}; run `python dashboards/build.py`",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
