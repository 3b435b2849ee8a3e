"""Process execution against threads, with SWF taken out (the pipeline benchmark's instant API).

- Throughput of CPU-bound tasks: `cpu` (a worker thread) against `cpu_process` (a worker
  process), each burning `--ms` milliseconds of its own CPU time, `--tasks` of them.
- Meanwhile: the event loop's lag p99 (a timer every 10 ms) and the overhead p99 of echo tasks
  polled among the CPU tasks (poll returned → answer sent; an echo handler takes no time).
- The per-task cost of process execution: trivial tasks (`cpu_process` with 0 ms) against the
  same in a thread, wall µs per task and the worker's own CPU µs per task.
- A control: the same CPU work on a bare `multiprocessing` pool of the same size (no SWF, no
  worker), which shows how much parallelism the machine gives right now.

Both contenders run in the same run, alternating, each with its own Worker and the same settings
(`process_limit` 2, `thread_limit` 40). The machine's load average is reported with the figures:
on a shared machine other processes take cores, and the processes' gain (up to one core per
process) shrinks with what is left for them; threads stay at one core at most either way. With
the kernel's autogroup scheduling (`/proc/sys/kernel/sched_autogroup_enabled`), CPU is shared
between sessions first: while other sessions keep the cores busy, this session gets its share
whatever its number of processes, and the control pool shows it.

    python -m benchmarks.processes --tasks 80 --ms 50     # prints one JSON line
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import time
from typing import TYPE_CHECKING, Any, cast

import anyio

from asyncworker.daemon.logs import configure_logging
from asyncworker.examples.basic import cpu, registry
from asyncworker.worker import Worker
from benchmarks import harness
from benchmarks.pipeline import InstantApi, bench_settings, instant_apis

if TYPE_CHECKING:
    from asyncworker.activity import ActivityContext

PROCESSES = 2
"""`process_limit` of the process runs, and the size of the control's pool."""
LAG_TICK = 0.01
"""Seconds between two event loop lag samples."""
ECHOES_PER_CPU_TASK = 5


class MixedApi(InstantApi):
    """The instant API handing out a given list of `(activity name, input)` tasks, timing echo
    tasks from poll to answer."""

    def __init__(self, work: list[tuple[str, str]]) -> None:
        super().__init__(len(work))
        self.work = work
        self.polled_at: dict[str, float] = {}
        self.overheads: list[float] = []

    async def poll(self, task_list: str) -> dict[str, Any]:
        task = await super().poll(task_list)
        if task.get("taskToken"):
            name, data = self.work[int(task["activityId"][1:]) - 1]
            task["activityType"] = {"name": name, "version": "1"}
            task["input"] = data
            if name == "echo":
                self.polled_at[task["taskToken"]] = time.perf_counter()
        return task

    async def complete(self, token: str, result: str | None) -> None:
        if (polled := self.polled_at.pop(token, None)) is not None:
            self.overheads.append(time.perf_counter() - polled)
        await super().complete(token, result)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


async def run(work: list[tuple[str, str]]) -> dict[str, float]:
    """Wall and worker CPU seconds for `work`, the loop's lag p99 and the echoes' overhead p99."""
    api = MixedApi(work)
    settings = bench_settings(max_concurrency=64, thread_limit=40, process_limit=PROCESSES)
    lags: list[float] = []

    async def monitor() -> None:
        while True:
            before = time.perf_counter()
            await anyio.sleep(LAG_TICK)
            lags.append(max(0.0, time.perf_counter() - before - LAG_TICK))

    async with (
        Worker(registry, settings, api_factory=instant_apis(api)),
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(monitor)
        began, cpu = time.perf_counter(), time.process_time()
        await api.done.wait()
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu
        tg.cancel_scope.cancel()
    return {"wall": wall, "cpu": cpu, "lag_p99": p99(lags), "overhead_p99": p99(api.overheads)}


class _NoCancel:
    """The context of `cpu` run outside a worker: nobody asks to cancel."""

    def raise_if_cancel_requested(self) -> None:
        return None


def bare_pool(tasks: int, ms: int) -> float:
    """Wall seconds for `tasks` `cpu` calls of `ms` ms on a forkserver pool of 2 processes."""
    with multiprocessing.get_context("forkserver").Pool(PROCESSES) as pool:
        burn = functools.partial(cpu, ctx=cast("ActivityContext", _NoCancel()))
        pool.map(burn, ["1"] * PROCESSES * 2, chunksize=1)  # warm: both processes started
        began = time.perf_counter()
        pool.map(burn, [str(ms)] * tasks, chunksize=1)
        return time.perf_counter() - began


def cpu_work(name: str, tasks: int, ms: int) -> list[tuple[str, str]]:
    """`tasks` CPU tasks of `ms` ms, with `ECHOES_PER_CPU_TASK` echo tasks after each."""
    work: list[tuple[str, str]] = []
    for _ in range(tasks):
        work.append((name, str(ms)))
        work.extend(("echo", "x") for _ in range(ECHOES_PER_CPU_TASK))
    return work


def measure(tasks: int, ms: int, trivial: int, repeats: int) -> dict[str, float]:
    """Medians over `repeats` alternating runs of each contender (the throughput ratio: the
    median of each repeat's own ratio, its two runs back to back)."""
    configure_logging("json", "WARNING")
    load_before = round(os.getloadavg()[0], 2)  # a shared machine: other load takes cores
    uvloop = {"use_uvloop": True}
    runs: dict[str, list[dict[str, float]]] = {"thread": [], "process": []}
    pool: list[float] = []
    small: dict[str, list[dict[str, float]]] = {"thread": [], "process": []}
    ratios: list[float] = []
    for _ in range(repeats):  # the CPU runs back to back: the machine's load drifts
        for kind, name in (("thread", "cpu"), ("process", "cpu_process")):
            work = cpu_work(name, tasks, ms)
            runs[kind].append(anyio.run(run, work, backend="asyncio", backend_options=uvloop))
        pool.append(bare_pool(tasks, ms))
        ratios.append(runs["thread"][-1]["wall"] / runs["process"][-1]["wall"])
        for kind, name in (("thread", "cpu"), ("process", "cpu_process")):
            work = [(name, "0")] * trivial
            small[kind].append(anyio.run(run, work, backend="asyncio", backend_options=uvloop))

    def median(samples: list[dict[str, float]], key: str) -> float:
        return harness.median([sample[key] for sample in samples])

    figures: dict[str, float] = {"tasks": tasks, "ms": ms, "trivial_tasks": trivial}
    figures["load_average_1m_before"] = load_before
    figures["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    figures["usable_cpus"] = len(os.sched_getaffinity(0))
    for kind in ("thread", "process"):
        figures[f"{kind}_cpu_tasks_per_s"] = round(tasks / median(runs[kind], "wall"), 2)
        figures[f"{kind}_lag_p99_ms"] = round(1e3 * median(runs[kind], "lag_p99"), 2)
        figures[f"{kind}_echo_overhead_p99_ms"] = round(1e3 * median(runs[kind], "overhead_p99"), 2)
        figures[f"{kind}_trivial_us_per_task"] = round(1e6 * median(small[kind], "wall") / trivial)
        figures[f"{kind}_trivial_worker_cpu_us_per_task"] = round(
            1e6 * median(small[kind], "cpu") / trivial
        )
    figures["bare_pool_cpu_tasks_per_s"] = round(tasks / harness.median(pool), 2)
    figures["throughput_ratio"] = round(harness.median(ratios), 3)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=80, help="CPU tasks per run")
    parser.add_argument("--ms", type=int, default=50, help="CPU milliseconds per task")
    parser.add_argument("--trivial", type=int, default=2_000, help="trivial tasks per run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.tasks, args.ms, args.trivial, args.repeats)))


if __name__ == "__main__":
    main()
