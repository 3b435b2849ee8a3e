"""Every Prometheus metric of asyncworker, defined once (names, types and labels per DESIGN.md).

Counters and histograms are observed where the event happens, through the `Metrics` attributes.
Gauges describe state, so they are not kept up to date by the stages: `StatisticsCollector` reads
the stages' `statistics()` at scrape time and turns them into series, here and nowhere else.
Each Worker has its own `CollectorRegistry`, so several workers (tests, the demo) never collide.

Labels never carry task tokens, workflow ids or activity ids; `activity_type` is `name:version`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from asyncworker.pipeline.flow import OutcomeKind
from asyncworker.swf.api import CANCEL, COMPLETE, FAIL, OPERATIONS

LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0,
)  # fmt: skip
"""1 ms to 30 min, as the contract requires."""
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

POLL_OUTCOMES = ("task", "empty", "error", "throttled")
TASK_OUTCOMES = tuple(kind.value for kind in OutcomeKind)
API_OUTCOMES = (
    "ok", "throttled", "unknown_resource", "limit_exceeded", "network", "server", "client",
)  # fmt: skip
HEARTBEAT_OUTCOMES = ("ok", "cancel_requested", "unknown_resource", "error")
RESPONSE_OPERATIONS = (COMPLETE, FAIL, CANCEL)


def package_version() -> str:
    try:
        return version("asyncworker")
    except PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True, slots=True)
class GaugeSnapshot:
    """The state gauges' values at one instant, assembled by the worker from stage statistics."""

    slots_used: int
    slots_total: int
    response_queue_depth: int
    draining: bool
    pollers: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """(task_list, state) → number of pollers in that state."""
    last_poll: Mapping[str, float] = field(default_factory=dict)
    """task_list → wall-clock time of the last poll that returned (task or empty)."""
    backlog: Mapping[str, int] = field(default_factory=dict)
    """task_list → pending activity tasks (opt-in sampler)."""


class Metrics:
    """The event metrics of one worker, and the registry that exports them."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.polls = Counter(
            "asyncworker_polls", "Activity polls by result.", ["task_list", "outcome"], registry=r
        )
        self.poll_duration = Histogram(
            "asyncworker_poll_duration_seconds",
            "Time a PollForActivityTask call took.",
            ["task_list"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.activity_tasks = Counter(
            "asyncworker_activity_tasks",
            "Activity tasks by how they ended.",
            ["activity_type", "outcome"],
            registry=r,
        )
        self.activity_duration = Histogram(
            "asyncworker_activity_duration_seconds",
            "Handler run time.",
            ["activity_type"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.task_overhead = Histogram(
            "asyncworker_task_overhead_seconds",
            "Poll return to response acknowledged, minus handler time.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.api_requests = Counter(
            "asyncworker_api_requests",
            "SWF API calls by result.",
            ["operation", "outcome"],
            registry=r,
        )
        self.api_duration = Histogram(
            "asyncworker_api_request_duration_seconds",
            "SWF API call latency.",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.response_retries = Counter(
            "asyncworker_response_retries",
            "Respond* calls retried after throttling or a transient error.",
            ["operation"],
            registry=r,
        )
        self.response_batch_size = Histogram(
            "asyncworker_response_batch_size",
            "Outcomes drained by the responder at once.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.heartbeats = Counter(
            "asyncworker_heartbeats", "Heartbeats by result.", ["outcome"], registry=r
        )
        self.event_loop_lag = Histogram(
            "asyncworker_event_loop_lag_seconds",
            "How late the event loop ran a timer.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.gc_pause = Histogram(
            "asyncworker_gc_full_collection_seconds",
            "How long each full garbage collection (every gc_interval) stopped the event loop.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.poller_restarts = Counter(
            "asyncworker_poller_restarts",
            "Pollers restarted after an unexpected error.",
            ["task_list"],
            registry=r,
        )
        self.build_info = Gauge(
            "asyncworker_build_info", "asyncworker version.", ["version"], registry=r
        )
        self.build_info.labels(package_version()).set(1)
        ProcessCollector(registry=r)

    def initialise(self, task_lists: Iterable[str], activity_types: Iterable[str]) -> None:
        """Create every series whose labels are known at start, so rates start from zero."""
        for task_list in task_lists:
            self.poll_duration.labels(task_list)
            self.poller_restarts.labels(task_list)
            for outcome in POLL_OUTCOMES:
                self.polls.labels(task_list, outcome)
        for activity_type in activity_types:
            self.activity_duration.labels(activity_type)
            for outcome in TASK_OUTCOMES:
                self.activity_tasks.labels(activity_type, outcome)
        for operation in OPERATIONS:
            self.api_duration.labels(operation)
            for outcome in API_OUTCOMES:
                self.api_requests.labels(operation, outcome)
        for operation in RESPONSE_OPERATIONS:
            self.response_retries.labels(operation)
        for outcome in HEARTBEAT_OUTCOMES:
            self.heartbeats.labels(outcome)

    def watch(self, snapshot: Callable[[], GaugeSnapshot]) -> None:
        """Export the state gauges from `snapshot()` at every scrape."""
        self.registry.register(StatisticsCollector(snapshot))


class StatisticsCollector(Collector):
    """Turns a `GaugeSnapshot` into the contract's gauge series at scrape time."""

    def __init__(self, snapshot: Callable[[], GaugeSnapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        s = self._snapshot()
        slots = GaugeMetricFamily("asyncworker_slots", "Slots by state.", labels=["state"])
        slots.add_metric(["used"], s.slots_used)
        slots.add_metric(["free"], s.slots_total - s.slots_used)
        yield slots
        pollers = GaugeMetricFamily(
            "asyncworker_pollers", "Pollers by state.", labels=["task_list", "state"]
        )
        for (task_list, state), count in sorted(s.pollers.items()):
            pollers.add_metric([task_list, state], count)
        yield pollers
        yield GaugeMetricFamily(
            "asyncworker_response_queue_depth",
            "Outcomes waiting for the responder.",
            value=s.response_queue_depth,
        )
        yield GaugeMetricFamily(
            "asyncworker_draining", "1 while the worker drains.", value=int(s.draining)
        )
        last = GaugeMetricFamily(
            "asyncworker_last_poll_timestamp_seconds",
            "Unix time the last poll returned.",
            labels=["task_list"],
        )
        for task_list, stamp in sorted(s.last_poll.items()):
            last.add_metric([task_list], stamp)
        yield last
        if s.backlog:
            backlog = GaugeMetricFamily(
                "asyncworker_task_list_backlog",
                "Pending activity tasks (CountPendingActivityTasks).",
                labels=["task_list"],
            )
            for task_list, count in sorted(s.backlog.items()):
                backlog.add_metric([task_list], count)
            yield backlog
