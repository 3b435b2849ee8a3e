"""Soak: the daemon at a steady rate for minutes; memory and file descriptors flat.

The local endpoint and the load-testing rig (``asyncworker loadtest --worker none``: an
open-model starter and fan-out deciders) run on the server core; ``asyncworker run`` on the
worker core. Every ``SAMPLE_EVERY`` seconds the daemon's RSS, open file descriptors and CPU are
read from ``/proc``. The first ``WARMUP`` of the run is left out (imports, pools and caches
filling); RSS growth compares the mean of the last tenth of the samples with the mean of the
first tenth after warm-up, so one sample's noise does not decide it.
"""

from __future__ import annotations

import json
import subprocess
import time
from statistics import fmean
from typing import Any

from benchmarks import harness
from benchmarks.core import Context, Row, Scenario
from benchmarks.preload import ECHO, register
from benchmarks.throughput import DOMAIN, TASK_LIST, asyncworker_argv

RATE = 200.0
"""Activities per second offered."""
SAMPLE_EVERY = 5.0
WARMUP = 0.2
"""Fraction of the run left out of the growth figures."""
RSS_GROWTH_LIMIT = 0.05
POLLERS = 8
POOL_CONNECTIONS = POLLERS + 1 + 32 + 16 + 2
"""The daemon's connection pools (polls; answers and heartbeats): aiohttp opens a pooled
connection when concurrency first peaks and keeps it, so fds may step up to this many."""


def run(ctx: Context) -> Scenario:
    scenario = Scenario("soak", f"soak: {ctx.soak_minutes:g} min at {RATE:g} activities/s")
    seconds = ctx.soak_minutes * 60
    endpoint = harness.start_endpoint(ctx.logs, "--poll-timeout", "5", name="endpoint-soak")
    samples: list[dict[str, float]] = []
    report = ctx.out / "soak-loadtest.json"
    try:
        register(endpoint.url, DOMAIN, TASK_LIST, [ECHO])
        worker = harness.start(
            "asyncworker-soak",
            asyncworker_argv("--pollers", str(POLLERS))(endpoint.url),
            ctx.logs,
            core=harness.WORKER_CORE,
        )
        with harness.running(worker, 30.0):
            driver = harness.start(
                "loadtest-soak",
                [harness.tool("asyncworker"), "loadtest", "--endpoint-url", endpoint.url,
                 "--region", "us-east-1", "--domain", DOMAIN, "--task-list", TASK_LIST,
                 "--worker", "none", "--setup", "--rate", str(RATE), "--duration", str(seconds),
                 "--fan-out", "10", "--no-live", "--json", str(report)],
                ctx.logs,
                core=harness.SERVER_CORE,
            )  # fmt: skip
            with harness.running(driver, 30.0):
                samples = _sample(worker, driver, seconds + 120)
            completed = endpoint.calls("RespondActivityTaskCompleted")
    finally:
        endpoint.proc.stop()
    scenario.details = _figures(samples, completed, seconds)
    if report.exists():
        document: dict[str, Any] = json.loads(report.read_text())
        document.pop("intervals", None)
        scenario.details["loadtest"] = document
    details = scenario.details
    scenario.rows += [
        Row("soak", "RSS growth after warm-up", 100 * details["rss_growth"], "%",
            f"RSS after warm-up: {details['rss_after_warmup_mb']} MB", None, None,
            f"< {100 * RSS_GROWTH_LIMIT:g}%", details["rss_growth"] < RSS_GROWTH_LIMIT),
        Row("soak", "open file descriptors, max - min after warm-up", details["fd_spread"], "",
            f"after warm-up: {details['fds_after_warmup']}", None, None,
            f"within the pools (≤ {POOL_CONNECTIONS})", details["fd_spread"] <= POOL_CONNECTIONS),
        Row("soak", "throughput", details["tasks_per_second"], "tasks/s", "offered", RATE,
            details["tasks_per_second"] / RATE),
    ]  # fmt: skip
    return scenario


def _sample(worker: harness.Proc, driver: harness.Proc, timeout: float) -> list[dict[str, float]]:
    """Read the worker's RSS, fds and CPU every ``SAMPLE_EVERY`` s until the driver exits."""
    samples: list[dict[str, float]] = []
    begun = time.monotonic()
    while True:
        worker.check_alive()
        samples.append(
            {
                "t": round(time.monotonic() - begun, 1),
                "rss_kib": harness.memory_kib(worker.pid)["VmRSS"],
                "fds": harness.open_fds(worker.pid),
                "cpu_s": round(worker.cpu(), 2),
            }
        )
        try:
            code = driver.popen.wait(SAMPLE_EVERY)  # the interval, cut short when it ends
        except subprocess.TimeoutExpired:
            if time.monotonic() - begun > timeout:
                raise harness.BenchmarkError("the soak's load generator did not finish") from None
            continue
        if code != 0:
            raise harness.BenchmarkError(f"the load generator exited {code}")
        return samples


def _figures(samples: list[dict[str, float]], completed: int, seconds: float) -> dict[str, Any]:
    steady = samples[int(len(samples) * WARMUP) :]
    if len(steady) < 2:
        raise harness.BenchmarkError("too few samples: run the soak for at least a minute")
    tenth = max(1, len(steady) // 10)
    first = fmean(s["rss_kib"] for s in steady[:tenth])
    last = fmean(s["rss_kib"] for s in steady[-tenth:])
    fds = [s["fds"] for s in steady]
    return {
        "samples": samples,
        "rss_after_warmup_mb": round(first / 1024, 1),
        "rss_end_mb": round(last / 1024, 1),
        "rss_growth": round((last - first) / first, 4),
        "fds_after_warmup": fds[0],
        "fd_spread": max(fds) - min(fds),
        "completed": completed,
        "tasks_per_second": round(completed / seconds, 1),
        "cpu_seconds": samples[-1]["cpu_s"] - samples[0]["cpu_s"],
    }
