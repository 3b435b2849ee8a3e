"""Every Prometheus metric of asyncworker, defined once (names, types, labels).

Counters and histograms are observed where the event happens, through series that `Metrics`
hands out already labelled (`labels()` costs microseconds, too much for every task): a stage asks
once, at construction, and keeps what it got. Gauges describe state, so the stages do not keep
them up to date: `StatisticsCollector` reads the worker's `statistics()` (the stages' NamedTuples)
at scrape time and turns them into series, here and nowhere else. `instrument()` wraps any
`ActivityApi` so that every call is counted and timed by operation and outcome. Each Worker has
its own `CollectorRegistry`, so several workers (tests, the demo) never collide.

Labels never carry task tokens, workflow ids or activity ids; `activity_type` is `name:version`.
"""

from __future__ import annotations

import time
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from asyncworker.errors import PayloadError, SwfFault
from asyncworker.pipeline.flow import OutcomeKind
from asyncworker.s3 import GET_OBJECT, HEAD_BUCKET, PUT_OBJECT
from asyncworker.s3 import OPERATIONS as S3_OPERATIONS
from asyncworker.swf.api import CANCEL, COMPLETE, FAIL, HEARTBEAT, OPERATIONS, POLL, ActivityApi

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Mapping

    from asyncworker.claimcheck import PayloadStore
    from asyncworker.worker import WorkerStatistics

T = TypeVar("T")

GC_SCOPES = ("recent", "all")
"""What a collection of the oldest generation walked: `recent`, the objects not frozen (that
became long-lived since the last sweep); `all`, the whole heap."""

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
POLLER_STATES = (
    "polling", "waiting_for_slot", "waiting_for_token", "waiting_for_type", "paused", "backing_off",
)  # fmt: skip
"""The `state` values of `asyncworker_pollers` (a stopped poller is not exported)."""
RESPONSE_OPERATIONS = (COMPLETE, FAIL, CANCEL)
PROCESS_STATES = ("starting", "idle", "busy", "retiring")
"""The `state` values of `asyncworker_processes` (worker processes of process execution)."""
PROCESS_DEATH_CAUSES = ("crashed", "memory", "cancel_grace", "stopped")
"""`crashed`: a signal or an exit of its own (segfault, `os._exit`, the OOM killer); `memory`:
over `max_process_memory` while running a task; `cancel_grace`: ignored a cancel request for
`cancel_grace` seconds; `stopped`: killed because the worker stopped its task (local deadline,
abandoned, the drain's forced stop) or itself."""
PROCESS_RECYCLE_CAUSES = ("tasks", "memory")
"""Why a process was retired after a task: `max_tasks_per_process`, `max_process_memory`."""
PAYLOAD_DIRECTIONS = ("input", "result", "details")
"""The `direction` values of the claim-check series: inputs fetched, results and details stored."""


def package_version() -> str:
    try:
        return version("asyncworker")
    except PackageNotFoundError:
        return "unknown"


class PollSeries(NamedTuple):
    """A task list's poll series."""

    duration: Histogram
    task: Counter
    empty: Counter
    error: Counter
    throttled: Counter
    restarts: Counter


class RateSeries(NamedTuple):
    """A task list's rate-limit series."""

    limited: Counter
    """Polls that had to wait for a token."""
    wait: Histogram
    """Seconds each poll waited for its tokens."""


class TypeSeries(NamedTuple):
    """An activity type's series: its handler time and a counter per way a task ended."""

    label: str
    duration: Histogram
    outcomes: Mapping[OutcomeKind, Counter]


class ProcessSeries(NamedTuple):
    """The worker processes' event series: deaths and recycles by cause, relayed heartbeats."""

    deaths: Mapping[str, Counter]
    recycles: Mapping[str, Counter]
    relayed: Counter


class ApiSeries(NamedTuple):
    """An SWF operation's series: its latency and a counter per outcome (`SwfFault.outcome`)."""

    duration: Histogram
    outcomes: Mapping[str, Counter]


class PayloadSeries(NamedTuple):
    """A claim-check direction's series: values moved through S3, and their UTF-8 bytes."""

    values: Counter
    bytes: Counter


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
            "How long each collection of the oldest generation stopped the event loop, by what it"
            " walked: recent (what became long-lived since the last sweep, every 0.1 s) or all"
            " (the whole heap, once it grew by a quarter, when quiet).",
            ["scope"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.poller_restarts = Counter(
            "asyncworker_poller_restarts",
            "Pollers restarted after an unexpected error.",
            ["task_list"],
            registry=r,
        )
        self.process_deaths = Counter(
            "asyncworker_process_deaths",
            "Worker processes (process execution) that died or were killed, by cause.",
            ["cause"],
            registry=r,
        )
        self.process_recycles = Counter(
            "asyncworker_process_recycles",
            "Worker processes retired after a task, by cause.",
            ["cause"],
            registry=r,
        )
        self.process_heartbeats = Counter(
            "asyncworker_process_heartbeats_relayed",
            "Heartbeats relayed from worker processes to the heartbeat service.",
            registry=r,
        )
        self.payloads = Counter(
            "asyncworker_payloads_offloaded",
            "Claim-check values moved through S3: inputs fetched, results and details stored.",
            ["direction"],
            registry=r,
        )
        self.payload_bytes = Counter(
            "asyncworker_payload_bytes",
            "UTF-8 bytes of the claim-check values moved through S3.",
            ["direction"],
            registry=r,
        )
        self.s3_requests = Counter(
            "asyncworker_s3_requests",
            "S3 calls of claim checks by result.",
            ["operation", "outcome"],
            registry=r,
        )
        self.s3_duration = Histogram(
            "asyncworker_s3_request_duration_seconds",
            "S3 call latency.",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rate_limited_polls = Counter(
            "asyncworker_rate_limited_polls",
            "Polls that waited for a rate-limit token first.",
            ["task_list"],
            registry=r,
        )
        self.rate_limit_wait = Histogram(
            "asyncworker_rate_limit_wait_seconds",
            "Time a poller waited for its rate-limit tokens before polling.",
            ["task_list"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.type_wait = Histogram(
            "asyncworker_activity_type_wait_seconds",
            "Time a task of a type with max_concurrent waited for its turn to run.",
            ["activity_type"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.build_info = Gauge(
            "asyncworker_build_info", "asyncworker version.", ["version"], registry=r
        )
        self.build_info.labels(package_version()).set(1)
        ProcessCollector(registry=r)
        self._polls: dict[str, PollSeries] = {}
        self._types: dict[object, TypeSeries] = {}
        self._operations: dict[str, ApiSeries] = {}
        self._s3_operations: dict[str, ApiSeries] = {}

    def initialise(self, task_lists: Iterable[str], activity_types: Iterable[str]) -> None:
        """Create every series whose labels are known at start, so rates start from zero."""
        for task_list in task_lists:
            self.poll_series(task_list)
        for activity_type in activity_types:
            self.type_series(activity_type)
        for operation in OPERATIONS:
            self.api_series(operation)
        for operation in RESPONSE_OPERATIONS:
            self.response_retries.labels(operation)
        self.heartbeat_series()
        self.process_series()
        self.payload_series()
        for operation in S3_OPERATIONS:
            self.s3_series(operation)
        for scope in GC_SCOPES:
            self.gc_pause.labels(scope)

    def observe_gc(self, scope: str, pause: float) -> None:
        """One collection of the oldest generation (see `asyncworker.daemon.gcpolicy`)."""
        self.gc_pause.labels(scope).observe(pause)

    def poll_series(self, task_list: str) -> PollSeries:
        series = self._polls.get(task_list)
        if series is None:
            task, empty, error, throttled = (self.polls.labels(task_list, o) for o in POLL_OUTCOMES)
            series = self._polls[task_list] = PollSeries(
                self.poll_duration.labels(task_list),
                task,
                empty,
                error,
                throttled,
                self.poller_restarts.labels(task_list),
            )
        return series

    def rate_series(self, task_list: str) -> RateSeries:
        """A task list's rate-limit series (created only for lists with a rate)."""
        return RateSeries(
            self.rate_limited_polls.labels(task_list), self.rate_limit_wait.labels(task_list)
        )

    def type_series(self, activity_type: object) -> TypeSeries:
        """The series of an activity type (`str()` of it is the `name:version` label), looked up
        by the type itself: no label is built per task."""
        series = self._types.get(activity_type)
        if series is None:
            label = str(activity_type)
            outcomes = {kind: self.activity_tasks.labels(label, kind.value) for kind in OutcomeKind}
            duration = self.activity_duration.labels(label)
            series = self._types[activity_type] = TypeSeries(label, duration, outcomes)
        return series

    def api_series(self, operation: str) -> ApiSeries:
        return _api_series(self._operations, self.api_requests, self.api_duration, operation)

    def s3_series(self, operation: str) -> ApiSeries:
        return _api_series(self._s3_operations, self.s3_requests, self.s3_duration, operation)

    def payload_series(self) -> Mapping[str, PayloadSeries]:
        """The claim-check series by direction (`PAYLOAD_DIRECTIONS`)."""
        return {
            direction: PayloadSeries(
                self.payloads.labels(direction), self.payload_bytes.labels(direction)
            )
            for direction in PAYLOAD_DIRECTIONS
        }

    def heartbeat_series(self) -> Mapping[str, Counter]:
        """A counter per heartbeat outcome (`HEARTBEAT_OUTCOMES`)."""
        return {outcome: self.heartbeats.labels(outcome) for outcome in HEARTBEAT_OUTCOMES}

    def process_series(self) -> ProcessSeries:
        """The counters of the worker processes, by cause."""
        return ProcessSeries(
            {cause: self.process_deaths.labels(cause) for cause in PROCESS_DEATH_CAUSES},
            {cause: self.process_recycles.labels(cause) for cause in PROCESS_RECYCLE_CAUSES},
            self.process_heartbeats,
        )

    def instrument(self, api: ActivityApi) -> InstrumentedApi:
        """`api` with every call counted and timed by operation and outcome."""
        return InstrumentedApi(api, self)

    def instrument_store(self, store: PayloadStore) -> PayloadStore:
        """`store` with every S3 call counted and timed by operation and outcome."""
        return InstrumentedStore(store, self)

    def watch(self, statistics: Callable[[], WorkerStatistics | None]) -> None:
        """Export the state gauges from the worker's `statistics()` at every scrape (None: the
        worker has not started, and there is no state to report yet)."""
        self.registry.register(StatisticsCollector(statistics))


def _api_series(
    made: dict[str, ApiSeries], requests: Counter, duration: Histogram, operation: str
) -> ApiSeries:
    """The series of `operation` (SWF's or S3's), made once and kept in `made`."""
    series = made.get(operation)
    if series is None:
        outcomes = {o: requests.labels(operation, o) for o in API_OUTCOMES}
        series = made[operation] = ApiSeries(duration.labels(operation), outcomes)
    return series


class _Timed:
    """Counts and times calls in `_series` (operation → its series) by outcome; `calls` and
    `errors` (answered with a fault) are plain totals over every operation too, for the worker's
    `statistics()`."""

    def __init__(self, series: Mapping[str, ApiSeries]) -> None:
        self._series = series
        self.calls = 0
        self.errors = 0

    async def _timed(self, operation: str, call: Awaitable[T]) -> T:
        series = self._series[operation]
        start = time.perf_counter()
        try:
            result = await call
        except SwfFault as fault:  # anything else (cancelled, a bug) had no answer to count
            series.outcomes[fault.outcome].inc()
            self.calls += 1
            self.errors += 1
            raise
        except PayloadError:  # S3 answered; the worker refused what it announced (too large)
            series.outcomes["ok"].inc()
            self.calls += 1
            raise
        else:
            series.outcomes["ok"].inc()
            self.calls += 1
            return result
        finally:
            series.duration.observe(time.perf_counter() - start)


class InstrumentedApi(_Timed):
    """Counts and times every call of the wrapped `ActivityApi` by operation and outcome."""

    def __init__(self, api: ActivityApi, metrics: Metrics) -> None:
        super().__init__({op: metrics.api_series(op) for op in OPERATIONS})
        self._api = api

    async def poll(self, task_list: str) -> dict[str, Any]:
        return await self._timed(POLL, self._api.poll(task_list))

    async def complete(self, token: str, result: str | None) -> None:
        await self._timed(COMPLETE, self._api.complete(token, result))

    async def fail(self, token: str, reason: str | None, details: str | None) -> None:
        await self._timed(FAIL, self._api.fail(token, reason, details))

    async def cancel(self, token: str, details: str | None) -> None:
        await self._timed(CANCEL, self._api.cancel(token, details))

    async def heartbeat(self, token: str, details: str | None) -> bool:
        return await self._timed(HEARTBEAT, self._api.heartbeat(token, details))


class InstrumentedStore(_Timed):
    """Counts and times every call of the wrapped `PayloadStore` by operation and outcome."""

    def __init__(self, store: PayloadStore, metrics: Metrics) -> None:
        super().__init__({op: metrics.s3_series(op) for op in S3_OPERATIONS})
        self._store = store

    async def put(self, bucket: str, key: str, body: bytes) -> None:
        await self._timed(PUT_OBJECT, self._store.put(bucket, key, body))

    async def get(self, bucket: str, key: str, max_bytes: int) -> bytes:
        return await self._timed(GET_OBJECT, self._store.get(bucket, key, max_bytes))

    async def check_bucket(self, bucket: str) -> None:
        await self._timed(HEAD_BUCKET, self._store.check_bucket(bucket))


class StatisticsCollector(Collector):
    """Turns the worker's statistics into the contract's gauge series at scrape time."""

    def __init__(self, statistics: Callable[[], WorkerStatistics | None]) -> None:
        self._statistics = statistics

    def collect(self) -> Iterable[Metric]:
        s = self._statistics()
        if s is None:
            return
        slots = GaugeMetricFamily("asyncworker_slots", "Slots by state.", labels=["state"])
        slots.add_metric(["used"], s.slots_used)
        slots.add_metric(["free"], s.slots_total - s.slots_used)
        yield slots
        pollers = GaugeMetricFamily(
            "asyncworker_pollers", "Pollers by state.", labels=["task_list", "state"]
        )
        for (task_list, state), count in sorted(s.pollers.states.items()):
            if state in POLLER_STATES:
                pollers.add_metric([task_list, state], count)
        yield pollers
        yield GaugeMetricFamily(
            "asyncworker_response_queue_depth",
            "Outcomes waiting for the responder.",
            value=s.responder.queued,
        )
        yield GaugeMetricFamily(
            "asyncworker_draining", "1 while the worker drains.", value=int(s.draining)
        )
        yield GaugeMetricFamily(
            "asyncworker_paused", "1 while polling is paused.", value=int(s.paused)
        )
        yield from _flow_control(s)
        last = GaugeMetricFamily(
            "asyncworker_last_poll_timestamp_seconds",
            "Unix time the last poll returned.",
            labels=["task_list"],
        )
        for task_list, stamp in sorted(s.pollers.last_poll.items()):
            last.add_metric([task_list], stamp)
        yield last
        if s.processes is not None:
            processes = GaugeMetricFamily(
                "asyncworker_processes", "Worker processes by state.", labels=["state"]
            )
            for state in PROCESS_STATES:
                processes.add_metric([state], getattr(s.processes, state))
            yield processes
        if s.backlog:
            backlog = GaugeMetricFamily(
                "asyncworker_task_list_backlog",
                "Pending activity tasks (CountPendingActivityTasks).",
                labels=["task_list"],
            )
            for task_list, count in sorted(s.backlog.items()):
                backlog.add_metric([task_list], count)
            yield backlog


def _flow_control(s: WorkerStatistics) -> Iterable[Metric]:
    """The gauges of per-task-list slots and per-type limits, when any is configured."""
    if s.task_list_slots:
        slots = GaugeMetricFamily(
            "asyncworker_task_list_slots",
            "Slots of a task list with task_list_concurrency, by state.",
            labels=["task_list", "state"],
        )
        for task_list, (used, total) in sorted(s.task_list_slots.items()):
            slots.add_metric([task_list, "used"], used)
            slots.add_metric([task_list, "free"], total - used)
        yield slots
    if s.types:
        depth = GaugeMetricFamily(
            "asyncworker_activity_type_queue_depth",
            "Tasks of a type with max_concurrent waiting for their turn.",
            labels=["activity_type"],
        )
        running = GaugeMetricFamily(
            "asyncworker_activity_type_running",
            "Handlers of a type with max_concurrent running.",
            labels=["activity_type"],
        )
        for label, stats in sorted(s.types.items()):
            depth.add_metric([label], stats.waiting)
            running.add_metric([label], stats.running)
        yield depth
        yield running
