"""Scenario d: 10,000 activities in flight in one ``asyncworker run`` process.

The daemon starts idle (its resident memory then is the baseline), then 10,000 ``sleep`` tasks
are scheduled at 1,000 a second, 5 every 5 ms: about half of what the worker handles on its
core, and smooth (at full speed, or in bursts, the figures would measure a queue, not the
worker). Their sleep outlasts the ramp-up, so all of them are in flight at once (the daemon's
poll and task counters say how many). Peak RSS is the process's ``VmHWM``;
event-loop lag and task overhead (poll return to answer acknowledged, minus handler time) are
the p99 of the daemon's own histograms, interpolated within buckets as Prometheus'
``histogram_quantile`` does. The collector (``asyncworker/daemon/gcpolicy.py``) sweeps what
became long-lived every 0.1 s and freezes it; every ``gc_interval`` it collects the whole heap if
the frozen heap grew by a quarter and few tasks are in flight. ``--gc-interval`` is set so that
the check falls due while all are in flight (the heap grew by far): the collection must wait for
them to end (and then finds no growth: they were freed), and no collection may stop the loop for
longer than 50 ms (the slowest is read off the daemon's histogram: the upper bound of its
bucket). In full
mode the scenario runs three times, each on a fresh endpoint and daemon, and every figure is the
median of the three.
"""

from __future__ import annotations

import math
import time
import urllib.request
from dataclasses import replace

from prometheus_client.parser import text_string_to_metric_families

from benchmarks import harness
from benchmarks.core import Context, Row, Scenario, ratio
from benchmarks.preload import ActivityKind, connect, register, schedule
from benchmarks.throughput import DOMAIN, POLL_TIMEOUT, TASK_LIST, asyncworker_argv

SLEEP = ActivityKind("sleep", "1", "1")
ARRIVALS_PER_SECOND = 1000
"""Below what one core handles (so the overhead measured is the worker's, not a queue's)."""
CHUNK = 5
POLLERS = 64
RSS_TARGET_MB = 256
OVERHEAD_TARGET_MS = 10.0
PAUSE_TARGET_MS = 50.0
GC_PAUSE = "asyncworker_gc_full_collection_seconds"
SAMPLE_EVERY = 2.0
"""Seconds between scrapes of the worker's metrics while it works. A scrape renders about 600
lines on the worker's loop (2 ms); Prometheus takes one every 15-60 s, so sampling every second
would put an observer's cost into the overhead measured. All 10,000 tasks are in flight for
about 5 s, so the peak is still seen."""


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return str(response.read().decode())


def total(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``.

    A plain scan of the lines: this runs on the endpoint's core while the worker works, so it
    must cost the endpoint little time (the full parser takes milliseconds).
    """
    found = 0.0
    wanted = [f'{key}="{value}"' for key, value in labels.items()]
    for line in text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " "):
            series, _, value = line.rpartition(" ")
            if all(label in series for label in wanted):
                found += float(value)
    return found


def in_flight(text: str) -> int:
    """Tasks polled and not yet ended, from the daemon's counters."""
    polled = total(text, "asyncworker_polls_total", outcome="task")
    return int(polled - total(text, "asyncworker_activity_tasks_total"))


def buckets_of(text: str, name: str, **labels: str) -> dict[float, float]:
    """The cumulative buckets of histogram ``name`` (its series matching ``labels``, summed)."""
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"{name}_bucket" and all(
                sample.labels.get(key) == value for key, value in labels.items()
            ):
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return buckets


def histogram_quantile(text: str, name: str, quantile: float, **labels: str) -> float:
    """The ``quantile`` of histogram ``name`` (its series matching ``labels``, summed), in the
    metric's unit."""
    buckets = buckets_of(text, name, **labels)
    bounds = sorted(buckets)
    if not bounds or not buckets[bounds[-1]]:
        return math.nan
    rank = quantile * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 0.0)
        lower, below = bound, count
    return lower


def slowest_bound(text: str, name: str) -> float:
    """The upper bound of the bucket of the largest observation of histogram ``name`` (0 if it
    has none): the slowest is no slower than this."""
    buckets = buckets_of(text, name)
    bounds = sorted(buckets)
    if not bounds or not buckets[bounds[-1]]:
        return 0.0
    return next(bound for bound in bounds if buckets[bound] == buckets[bounds[-1]])


RUNS = 3
"""Runs of the whole scenario in full mode; each figure is the median (the machine is shared,
and one run's tail can be another tenant's)."""


def run(ctx: Context) -> Scenario:
    """(d) peak RSS, event-loop lag p99 and task overhead p99 with ``tasks`` in flight."""
    scenario = Scenario("scale", "d. 10,000 in-flight sleep activities in one process")
    tasks, sleep = ctx.pick((3000, 5.0), (10_000, 15.0))
    runs = [_once(ctx, tasks, sleep) for _ in range(ctx.pick(1, min(RUNS, ctx.repeats)))]

    def middle(key: str) -> float:
        """The median of the runs that have the figure (nan if none has it)."""
        values = [value for figures in runs if (value := figures[key]) is not None]
        return harness.median([value for value in values if not math.isnan(value)])

    peak_in_flight = int(min(figures["peak_in_flight"] or 0 for figures in runs))
    peak_mb, idle_mb = middle("peak_rss_mb"), middle("idle_rss_mb")
    lag_ms, overhead_ms = middle("event_loop_lag_p99_ms"), middle("task_overhead_p99_ms")
    scenario.details = {
        "tasks": tasks,
        "sleep_seconds": sleep,
        "runs": runs,
        **{
            key: None if math.isnan(value := middle(key)) else round(value, 2)
            for key in runs[0]
            if key != "peak_in_flight"
        },
    }
    scenario.rows += [
        Row("d", "activities in flight at once (fewest of the runs)", peak_in_flight, "",
            "scheduled", tasks, ratio(peak_in_flight, tasks)),
        Row("d", "peak RSS", peak_mb, "MB", "the same worker idle", idle_mb,
            ratio(peak_mb, idle_mb), f"≤ {RSS_TARGET_MB} MB", peak_mb <= RSS_TARGET_MB),
        Row("d", "event-loop lag p99", lag_ms, "ms", target="(reported)"),
        Row("d", "task overhead p99", overhead_ms, "ms", target=f"≤ {OVERHEAD_TARGET_MS:g} ms",
            passed=overhead_ms <= OVERHEAD_TARGET_MS),
        Row("d", "slowest garbage collection pause (its histogram bucket's bound)",
            middle("slowest_collection_ms"), "ms", target=f"≤ {PAUSE_TARGET_MS:g} ms",
            passed=middle("slowest_collection_ms") <= PAUSE_TARGET_MS),
        Row("d", "sweep pause p99 (what became long-lived, every 0.1 s)",
            middle("sweep_pause_p99_ms"), "ms", target="(reported)"),
        Row("d", "whole-heap collections while all were in flight (most of the runs)",
            max(figures["whole_heap_with_all_in_flight"] or 0 for figures in runs), "",
            target="0", passed=all(not f["whole_heap_with_all_in_flight"] for f in runs)),
        Row("d", "whole-heap collection pause (mean, if any ran once tasks ended)",
            middle("whole_heap_pause_ms"), "ms", target="(reported)"),
    ]  # fmt: skip
    return scenario


def _once(ctx: Context, tasks: int, sleep: float) -> dict[str, float | None]:
    """One run: a fresh endpoint and daemon, ``tasks`` sleeps in flight; its figures."""
    port = harness.free_port()
    endpoint = harness.start_endpoint(ctx.logs, "--poll-timeout", POLL_TIMEOUT, name="endpoint-d")
    try:
        # A whole-heap collection falls due while every task is in flight (after the arrivals,
        # before the first completion); by default one comes every 60 s.
        plateau = (tasks / ARRIVALS_PER_SECOND + sleep) / 2
        argv = asyncworker_argv(
            "--max-concurrency", str(tasks + POLLERS), "--pollers", str(POLLERS),
            "--metrics-port", str(port), "--gc-interval", str(plateau),
        )(endpoint.url)  # fmt: skip
        register(endpoint.url, DOMAIN, TASK_LIST, [SLEEP])
        worker = harness.start("asyncworker-scale", argv, ctx.logs, core=harness.WORKER_CORE)
        with harness.running(worker, 30.0):
            harness.wait_until(lambda: _ready(worker, port), 30, "the worker to be ready")
            idle_kib = harness.memory_kib(worker.pid)["VmRSS"]
            begun = time.monotonic()
            _paced(endpoint.url, replace(SLEEP, input=str(sleep)), tasks)
            peak_in_flight, whole_heap = _watch(endpoint, worker, port, tasks, sleep * 3 + 120)
            elapsed = time.monotonic() - begun
            text = scrape(port)
            memory = harness.memory_kib(worker.pid)
    finally:
        endpoint.proc.stop()

    def p(name: str, quantile: float, **labels: str) -> float:
        seconds = histogram_quantile(text, f"asyncworker_{name}_seconds", quantile, **labels)
        return round(1000 * seconds, 2)

    whole = total(text, f"{GC_PAUSE}_count", scope="all")

    return {
        "peak_in_flight": peak_in_flight,
        "seconds": round(elapsed, 1),
        "idle_rss_mb": round(idle_kib / 1024, 1),
        "peak_rss_mb": round(memory["VmHWM"] / 1024, 1),
        "kib_per_task_in_flight": round((memory["VmHWM"] - idle_kib) / max(1, peak_in_flight), 1),
        "event_loop_lag_p99_ms": p("event_loop_lag", 0.99),
        "task_overhead_p99_ms": p("task_overhead", 0.99),
        "task_overhead_p50_ms": p("task_overhead", 0.5),
        "sweeps": total(text, f"{GC_PAUSE}_count", scope="recent"),
        "sweep_pause_p99_ms": p("gc_full_collection", 0.99, scope="recent"),
        "whole_heap_collections": whole,
        "whole_heap_with_all_in_flight": whole_heap,
        "whole_heap_pause_ms": (
            round(1000 * total(text, f"{GC_PAUSE}_sum", scope="all") / whole, 1) if whole else None
        ),
        "slowest_collection_ms": round(1000 * slowest_bound(text, GC_PAUSE), 1),
    }


def _paced(url: str, kind: ActivityKind, tasks: int) -> None:
    """Schedule ``tasks`` at ``ARRIVALS_PER_SECOND``, ``CHUNK`` at a time (one execution each):
    bursts would end in bursts, and their queueing is not what the overhead should measure."""
    conn = connect(url)
    try:
        begun = time.monotonic()
        for done in range(0, tasks, CHUNK):
            time.sleep(max(0.0, begun + done / ARRIVALS_PER_SECOND - time.monotonic()))
            schedule(conn, DOMAIN, TASK_LIST, kind, min(CHUNK, tasks - done))
    finally:
        conn.close()


def _ready(worker: harness.Proc, port: int) -> bool | None:
    worker.check_alive()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return True if response.status == 200 else None
    except OSError:
        return None


def _watch(
    endpoint: harness.Endpoint, worker: harness.Proc, port: int, completions: int, timeout: float
) -> tuple[int, int]:
    """Sample the tasks in flight until ``completions`` tasks were answered; returns the peak,
    and how many whole-heap collections ran between two samples that both saw at least 90% of
    ``completions`` in flight."""
    peak, whole_heap = 0, 0
    last: tuple[int, float] | None = None  # (in flight, whole-heap collections) at the last sample

    def done() -> bool | None:
        nonlocal peak, whole_heap, last
        worker.check_alive()
        text = scrape(port)
        now = in_flight(text), total(text, f"{GC_PAUSE}_count", scope="all")
        peak = max(peak, now[0])
        if last is not None and min(last[0], now[0]) >= 0.9 * completions:
            whole_heap += int(now[1] - last[1])
        last = now
        return True if endpoint.calls("RespondActivityTaskCompleted") >= completions else None

    harness.wait_until(done, timeout, f"{completions} completions", every=SAMPLE_EVERY)
    return peak, whole_heap
