"""Scenarios a, b, c and e: each compares a figure with a baseline from the same run.

a. ``ceiling``: ``asyncworker run`` against a bare aiobotocore poll+respond loop of the same
   concurrency, echo tasks, one core each; with a py-spy profile of asyncworker on the way.
   ``asyncworker run --fast-client false`` (plain aiobotocore calls) is compared with the bare
   loop and with the bare loop pipelined on two clients, the shape asyncworker's rules impose:
   the first gap is what that shape costs aiobotocore, the second asyncworker's own pipeline.
b. ``peers``: asyncworker against the classic boto3 thread-pool worker and simpleflow's activity
   worker, at equal CPU (one core each): tasks per CPU-second, and tasks per second.
c. ``roundtrips``: a 20 ms network (the endpoint's ``--latency-ms 20``): the default batched and
   pipelined responder against ``--batch-max 1 --response-concurrency 1``.
e. ``endpoint``: the endpoint's CPU per poll+respond pair against moto server's
   (``benchmarks/endpoint.py``).
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import replace

from benchmarks import endpoint as endpoint_bench
from benchmarks import harness, profiling
from benchmarks.core import Context, Row, Scenario, ratio
from benchmarks.peers import SIMPLEFLOW_ACTIVITY, SIMPLEFLOW_INPUT
from benchmarks.preload import ActivityKind
from benchmarks.throughput import (
    DOMAIN,
    TASK_LIST,
    Contender,
    RunResult,
    asyncworker_argv,
    bare_argv,
    compare,
    measure,
    medians,
    paired_ratio,
)

CONCURRENCY = 16
"""Pollers of asyncworker, loops of the bare client, threads of the boto3 worker."""
AW = "asyncworker run"
AW_PLAIN = "asyncworker run, plain aiobotocore calls"
BARE = "bare aiobotocore loop"
BARE_PIPELINED = "bare loop, pipelined on two clients"
"""The least a worker shaped as asyncworker's rules require does: separate poll and answer
clients, each answer in its own task while the loop polls again (``benchmarks/bare.py``)."""


def asyncworker_contender(*flags: str, name: str = AW, plain: bool = False) -> Contender:
    return Contender(name, asyncworker_argv("--pollers", str(CONCURRENCY), *flags, plain=plain))


def _details(results: dict[str, list[RunResult]]) -> dict[str, object]:
    return {
        name: {"median": medians(runs), "runs": [r.summary() for r in runs]}
        for name, runs in results.items()
    }


def ceiling(ctx: Context) -> Scenario:
    """(a) asyncworker's throughput on one core as a fraction of the bare aiobotocore loop's."""
    scenario = Scenario("ceiling", "a. throughput on one core vs the bare aiobotocore loop")
    tasks = ctx.pick(5000, 12000)
    aw, bare = asyncworker_contender(), Contender(BARE, bare_argv(CONCURRENCY))
    plain = asyncworker_contender(name=AW_PLAIN, plain=True)
    pipelined = Contender(BARE_PIPELINED, bare_argv(CONCURRENCY, pipelined=True))
    contenders = [(plain, tasks), (bare, tasks), (pipelined, tasks), (aw, 2 * tasks)]
    results = compare(ctx, contenders, ctx.repeats)
    scenario.details["runs"] = _details(results)

    def rows(name: str, baseline: str, target: str = "", goal: float = 0.0) -> list[Row]:
        figures, base = medians(results[name]), medians(results[baseline])
        throughput = paired_ratio(results, name, baseline, "tasks_per_second")
        passed = throughput >= goal if goal else None
        return [
            Row("a", f"throughput, no-op tasks, 1 core: {name}", figures["tasks_per_second"],
                "tasks/s", baseline, base["tasks_per_second"], throughput, target, passed),
            Row("a", f"CPU per task (lower is better): {name}", figures["cpu_ms_per_task"], "ms",
                baseline, base["cpu_ms_per_task"],
                paired_ratio(results, name, baseline, "cpu_ms_per_task")),
        ]  # fmt: skip

    scenario.rows += rows(AW, BARE, "≥ 0.9×", 0.9)
    ratio_to_bare = scenario.rows[-2].ratio or 0.0
    scenario.rows.insert(
        len(scenario.rows) - 1,
        replace(scenario.rows[-2], target="≥ 3× (stretch)", passed=ratio_to_bare >= 3.0,
                required=False),
    )  # fmt: skip
    scenario.rows += rows(AW_PLAIN, BARE) + rows(BARE_PIPELINED, BARE)
    scenario.rows += rows(AW_PLAIN, BARE_PIPELINED)
    if profiling.available():
        seconds = ctx.pick(4.0, 8.0)
        scenario.details["profile"] = _profile(ctx, aw, seconds, "asyncworker-flame")
        scenario.details["profile_plain"] = _profile(ctx, plain, seconds, "asyncworker-plain-flame")
    return scenario


def _profile(ctx: Context, contender: Contender, seconds: float, name: str) -> dict[str, object]:
    """One more run of ``contender`` with py-spy attached for the middle of it."""
    found: dict[str, object] = {}

    def attach(worker: harness.Proc) -> None:
        found.update(profiling.profile(worker.pid, ctx.out, name, seconds))

    # enough tasks that the window outlasts both recordings at a profiled (slower) rate
    measure(ctx, contender, int(2 * seconds * 2000 / 0.8), on_window=attach)
    return found


def peers(ctx: Context) -> Scenario:
    """(b) asyncworker against the workers users would pick instead, at equal CPU."""
    scenario = Scenario("peers", "b. peers at equal CPU (one core each)")
    boto3 = Contender(
        "boto3 thread pool",
        lambda url: harness.python(
            "benchmarks.peers", "--endpoint-url", url, "--domain", DOMAIN,
            "--task-list", TASK_LIST, "--threads", str(CONCURRENCY),
        ),
    )  # fmt: skip
    contenders = [(asyncworker_contender(), ctx.pick(3000, 8000)), (boto3, ctx.pick(2000, 5000))]
    why_not = simpleflow_unavailable()
    if why_not is None:
        contenders.append((simpleflow_contender(), ctx.pick(120, 300)))
    else:
        scenario.details["simpleflow"] = f"not run: {why_not}"
    results = compare(ctx, contenders, ctx.repeats)
    scenario.details["runs"] = _details(results)
    aw = medians(results[AW])
    for name, _ in ((c.name, n) for c, n in contenders[1:]):
        peer = medians(results[name])
        efficiency = paired_ratio(results, AW, name, "tasks_per_cpu_second")
        goal = "≥ 20×" if name == "simpleflow" else ""
        scenario.rows += [
            Row("b", f"tasks per CPU-second vs {name}", aw["tasks_per_cpu_second"], "tasks/CPU-s",
                name, peer["tasks_per_cpu_second"], efficiency, goal,
                efficiency >= 20 if goal else None),
            Row("b", f"throughput on one core vs {name}", aw["tasks_per_second"], "tasks/s",
                name, peer["tasks_per_second"],
                paired_ratio(results, AW, name, "tasks_per_second")),
        ]  # fmt: skip
    return scenario


def simpleflow_unavailable() -> str | None:
    """Why simpleflow's worker cannot run here, or None when it can."""
    if importlib.util.find_spec("simpleflow") is None:
        return "simpleflow is not installed (pip install simpleflow)"
    if shutil.which(harness.tool("simpleflow")) is None:
        return "the simpleflow command is not on PATH"
    return None


def simpleflow_contender() -> Contender:
    """``simpleflow worker.start``: a supervisor, 4 poller processes, a process per task."""

    def argv(url: str) -> list[str]:
        return [
            harness.tool("simpleflow"), "worker.start", "--domain", DOMAIN,
            "--task-list", TASK_LIST, "--nb-processes", "4", "--log-level", "WARNING",
        ]  # fmt: skip

    return Contender(
        "simpleflow",
        argv,
        kind=ActivityKind(SIMPLEFLOW_ACTIVITY, "1", SIMPLEFLOW_INPUT),
        tree=True,
        env=lambda url: {"AWS_ENDPOINT_URL_SWF": url, "PYTHONPATH": str(harness.ROOT)},
        stop_timeout=20.0,
    )


def roundtrips(ctx: Context) -> Scenario:
    """(c) on a 20 ms network, batched + pipelined responses against one answer at a time."""
    scenario = Scenario("roundtrips", "c. 20 ms round trips: pipelined vs serial responses")
    flags = ("--pollers", "32", "--max-concurrency", "200")
    pipelined = Contender("pipelined (defaults)", asyncworker_argv(*flags))
    serial = Contender(
        "serial (--batch-max 1 --response-concurrency 1)",
        asyncworker_argv(*flags, "--batch-max", "1", "--response-concurrency", "1"),
    )
    results = compare(
        ctx,
        [(pipelined, ctx.pick(2500, 6000)), (serial, ctx.pick(250, 500))],
        max(1, ctx.repeats - 1),
        endpoint_flags=("--latency-ms", "20"),
    )
    scenario.details["runs"] = _details(results)
    gain = paired_ratio(results, pipelined.name, serial.name, "tasks_per_second")
    fast, slow = medians(results[pipelined.name]), medians(results[serial.name])
    scenario.rows.append(
        Row("c", "throughput at 20 ms latency", fast["tasks_per_second"], "tasks/s",
            "serial responses", slow["tasks_per_second"], gain, "≥ 10×", gain >= 10)
    )  # fmt: skip
    return scenario


def endpoint(ctx: Context) -> Scenario:
    """(e) server CPU per poll+respond pair: the local endpoint against moto server."""
    scenario = Scenario("endpoint", "e. endpoint CPU per poll+respond pair vs moto server")
    harness.pin_self(endpoint_bench.CLIENT_CORE)
    try:
        local = endpoint_bench.run("local", 0, ctx.pick(2000, 5000))
        with_db = endpoint_bench.run("local-db", 0, ctx.pick(2000, 5000))
        moto = endpoint_bench.run("moto", 0, ctx.pick(60, 200))
        results = [local, moto, with_db]
        if not ctx.quick:
            results.append(endpoint_bench.run("local", 100_000, 5000))
    finally:
        harness.pin_self(harness.SERVER_CORE)
    scenario.details["runs"] = results
    local_us, moto_us = local["server_cpu_us_per_pair"], moto["server_cpu_us_per_pair"]
    scenario.rows.append(
        Row("e", "server CPU per pair, local endpoint (ratio: moto ÷ local)", local_us, "µs",
            "moto server", moto_us, ratio(moto_us, local_us))
    )  # fmt: skip
    db_us = with_db["server_cpu_us_per_pair"]
    db_ratio = ratio(db_us, local_us)
    scenario.rows.append(
        Row("e", "server CPU per pair with --db FILE (SQLite)", db_us, "µs", "without --db",
            local_us, db_ratio, "≤ 1.5×", db_ratio <= 1.5)
    )  # fmt: skip
    if len(results) > 3:
        busy = results[3]["server_cpu_us_per_pair"]
        scenario.rows.append(
            Row("e", "... with 100,000 idle open executions", busy, "µs", "no idle executions",
                local_us, ratio(busy, local_us))
        )  # fmt: skip
    return scenario
