"""``python -m benchmarks``: run the scenarios, write ``benchmarks/results/<timestamp>.json`` and
``.md`` (the table), and keep logs and flame graphs in ``benchmarks/results/<timestamp>/``.

    python -m benchmarks --quick                 # a, c, e and the pipeline: about 2 minutes
    python -m benchmarks                         # every scenario but the soak
    python -m benchmarks --only peers --only d   # by name or letter
    python -m benchmarks --only processes        # worker processes vs threads, CPU-bound
    python -m benchmarks --only soak --minutes 10

Exit status: 0 when every scenario ran and met its target, 1 when a target was missed, 2 when a
scenario could not run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks import harness, scale, scenarios, soak
from benchmarks.core import Context, Row, Scenario, machine, markdown, write_results

if TYPE_CHECKING:
    from collections.abc import Callable

RESULTS = Path(__file__).resolve().parent / "results"


def pinned_json(argv: list[str], *, timeout: float) -> dict[str, float]:
    """Run a benchmark module on the worker's core; its last stdout line is its JSON figures."""
    done = subprocess.run(
        harness.pinned(argv, harness.WORKER_CORE),
        cwd=harness.ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def pipeline(ctx: Context) -> Scenario:
    """asyncworker's own CPU per task without HTTP (``benchmarks/pipeline.py``), on one core."""
    scenario = Scenario("pipeline", "asyncworker's own CPU per task (no HTTP)")
    argv = harness.python(
        "benchmarks.pipeline", "--tasks", str(ctx.pick(5_000, 30_000)), "--repeats", "3"
    )
    figures = pinned_json(argv, timeout=300)
    scenario.details = figures
    own = figures["worker_us_per_task"] - figures["bare_us_per_task"]
    scenario.rows.append(
        Row("pipeline", "asyncworker's own CPU per task (instant fake SWF)", own, "µs",
            "bare loops over the same fake", figures["bare_us_per_task"])
    )  # fmt: skip
    return scenario


def processes(ctx: Context) -> Scenario:
    """Process execution against threads for CPU-bound handlers (``benchmarks/processes.py``),
    with both cores available to the worker."""
    scenario = Scenario("processes", "CPU-bound handlers: worker processes vs threads")
    argv = harness.python(
        "benchmarks.processes",
        "--tasks", str(ctx.pick(40, 80)),
        "--trivial", str(ctx.pick(500, 2_000)),
        "--repeats", str(ctx.pick(1, 3)),
    )  # fmt: skip
    if harness.can_pin():  # the orchestrator pinned itself to one core: give both back
        argv = ["taskset", "-c", f"{harness.WORKER_CORE},{harness.SERVER_CORE}", *argv]
    done = subprocess.run(
        argv, cwd=harness.ROOT, capture_output=True, text=True, timeout=900, check=True
    )
    f: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    scenario.details = f
    ratio = f["throughput_ratio"]
    scenario.rows += [
        Row("processes", f"cpu tasks ({f['ms']:g} ms of CPU each) per second, processes",
            f["process_cpu_tasks_per_s"], "tasks/s", "threads", f["thread_cpu_tasks_per_s"],
            ratio, "≥ 1.8× on 2 cores", ratio >= 1.8, required=False),
        Row("processes", "cpu tasks per second, processes (control: what the machine gives now)",
            f["process_cpu_tasks_per_s"], "tasks/s", "a bare multiprocessing pool of 2",
            f["bare_pool_cpu_tasks_per_s"],
            round(f["process_cpu_tasks_per_s"] / f["bare_pool_cpu_tasks_per_s"], 3)),
        Row("processes", "event loop lag p99 while cpu tasks run, processes",
            f["process_lag_p99_ms"], "ms", "threads", f["thread_lag_p99_ms"], None, "≤ 10 ms",
            f["process_lag_p99_ms"] <= 10, required=False),
        Row("processes", "echo task overhead p99 among cpu tasks, processes",
            f["process_echo_overhead_p99_ms"], "ms", "threads",
            f["thread_echo_overhead_p99_ms"], None, "≤ 25 ms",
            f["process_echo_overhead_p99_ms"] <= 25, required=False),
        Row("processes", "wall time per trivial task, processes",
            f["process_trivial_us_per_task"], "µs", "threads", f["thread_trivial_us_per_task"]),
        Row("processes", "worker CPU per trivial task, processes",
            f["process_trivial_worker_cpu_us_per_task"], "µs", "threads",
            f["thread_trivial_worker_cpu_us_per_task"]),
    ]  # fmt: skip
    return scenario


def claimcheck(ctx: Context) -> Scenario:
    """Claim checks (``benchmarks/claimcheck.py``): small values cost nothing, and 256 KiB results
    move to S3 (moto server) nearly as fast as bare PutObject loops."""
    scenario = Scenario("claimcheck", "claim checks: small-value cost, 256 KiB results to S3")
    argv = harness.python(
        "benchmarks.claimcheck",
        "--tasks", str(ctx.pick(5_000, 20_000)),
        "--large", str(ctx.pick(100, 300)),
        "--repeats", str(ctx.repeats),
    )  # fmt: skip
    f = pinned_json(argv, timeout=600)
    scenario.details = f
    small, large = f["small_value_ratio"], f["large_ratio"]
    scenario.rows += [
        Row("claimcheck", "CPU per small-value task, ClaimCheck(RAW) with a bucket",
            f["claimcheck_us_per_task"], "µs", "plain RAW codec", f["plain_us_per_task"], small,
            "≤ 1.05× (noise)", small <= 1.05),
        Row("claimcheck", "256 KiB results per second through S3 (moto server)",
            f["large_results_per_s"], "results/s", "bare PutObject loops", f["bare_puts_per_s"],
            large, "≥ 0.8×", large >= 0.8, required=False),
    ]  # fmt: skip
    return scenario


SCENARIOS: dict[str, Callable[[Context], Scenario]] = {
    "ceiling": scenarios.ceiling,
    "peers": scenarios.peers,
    "roundtrips": scenarios.roundtrips,
    "scale": scale.run,
    "endpoint": scenarios.endpoint,
    "pipeline": pipeline,
    "processes": processes,
    "claimcheck": claimcheck,
    "soak": soak.run,
}
LETTERS = {"a": "ceiling", "b": "peers", "c": "roundtrips", "d": "scale", "e": "endpoint"}
QUICK = ("ceiling", "roundtrips", "endpoint", "pipeline")
FULL = (
    "ceiling", "peers", "roundtrips", "scale", "endpoint", "pipeline", "processes", "claimcheck",
)  # fmt: skip


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="short runs of a, c, e, pipeline")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        choices=[*SCENARIOS, *LETTERS],
        help=f"run only this scenario (repeatable): {', '.join(SCENARIOS)} or a-e",
    )
    parser.add_argument("--repeats", type=int, default=None, help="runs per contender")
    parser.add_argument("--minutes", type=float, default=10.0, help="soak duration")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    names = [LETTERS.get(n, n) for n in args.only] if args.only else None
    selected = list(dict.fromkeys(names or (QUICK if args.quick else FULL)))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    ctx = Context(
        quick=args.quick,
        out=args.out / stamp,
        repeats=args.repeats or (3 if args.quick else 5),
        soak_minutes=args.minutes,
    )
    ctx.logs.mkdir(parents=True, exist_ok=True)
    harness.pin_self(harness.SERVER_CORE)
    info = {**machine(), "mode": "quick" if args.quick else "full", "started": stamp}
    results: list[Scenario] = []
    for name in selected:
        print(f"== {name}", file=sys.stderr, flush=True)
        begun = time.monotonic()
        try:
            scenario = SCENARIOS[name](ctx)
        except Exception as exc:
            traceback.print_exc()
            scenario = Scenario(name, name, error=f"{type(exc).__name__}: {exc}")
        scenario.seconds = time.monotonic() - begun
        results.append(scenario)
    path = write_results(args.out, stamp, results, info)
    print(markdown(results, info))
    print(f"results: {path} (logs, flame graphs: {ctx.out})", file=sys.stderr)
    return exit_code(results)


def exit_code(results: list[Scenario]) -> int:
    """2 when a scenario could not run, 1 when a required target was missed (a missed stretch
    goal is only reported), else 0."""
    if any(s.error for s in results):
        return 2
    missed = [row for s in results for row in s.rows if row.passed is False and row.required]
    return 1 if missed else 0
