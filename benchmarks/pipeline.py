"""asyncworker's own CPU per task, with SWF taken out: the pipeline against an instant API.

`InstantApi` answers polls from memory (a task while any are left) and acknowledges answers at
once, yielding to the event loop once per call as network I/O would. The worker runs as in
production (slots, pollers, executor, heartbeat tracking, responder, metrics, instrumented calls),
without HTTP; the baseline drives the same API with bare loops (poll, then answer). The
difference is what asyncworker itself costs per task, the part its own code can cut.

    python -m benchmarks.pipeline --tasks 20000     # prints one JSON line
    python -m benchmarks.pipeline --parked 10000    # tracked objects per task in flight

`--parked` counts the objects the garbage collector tracks for each task in flight: `sleep`
tasks parked in their handler (`len(gc.get_objects())` after the idle worker's heap was
collected and frozen), against bare anyio tasks parked in `anyio.sleep` in one task group.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

from asyncworker.daemon.logs import configure_logging
from asyncworker.examples.basic import registry
from asyncworker.settings import WorkerSettings
from asyncworker.swf.api import Apis
from asyncworker.testing.swf import poll_until
from asyncworker.worker import Worker

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from contextlib import AbstractAsyncContextManager

POLLERS = 16


class InstantApi:
    """An `ActivityApi` that answers from memory; see the module docstring."""

    def __init__(self, tasks: int, activity: str = "echo", data: str = "hello") -> None:
        self.left = tasks
        self.tasks = tasks
        self.activity = activity
        self.data = data
        self.results: list[str | None] = []
        """The first few results, for a benchmark to check what was answered."""
        self.answered = 0
        self.done = anyio.Event()
        self._serial = 0

    async def poll(self, task_list: str) -> dict[str, Any]:
        await asyncio.sleep(0)
        if self.left <= 0:
            await anyio.sleep(0.05)
            return {"startedEventId": 0}
        self.left -= 1
        self._serial += 1
        n = self._serial
        return {
            "taskToken": f"token-{n:08d}-" + "t" * 120,
            "activityId": f"a{n}",
            "startedEventId": 5,
            "workflowExecution": {"workflowId": f"wf-{n // 1000}", "runId": "run"},
            "activityType": {"name": self.activity, "version": "1"},
            "input": self.data,
        }

    async def complete(self, token: str, result: str | None) -> None:
        await asyncio.sleep(0)
        self.answered += 1
        if len(self.results) < 3:
            self.results.append(result)
        if self.answered >= self.tasks:
            self.done.set()

    async def fail(self, token: str, reason: str | None, details: str | None) -> None:
        raise AssertionError(f"echo tasks never fail: {reason}")

    async def cancel(self, token: str, details: str | None) -> None:
        raise AssertionError("echo tasks are never cancelled")

    async def heartbeat(self, token: str, details: str | None) -> bool:
        return False


LIMITS: dict[str, Any] = {
    "max_activities_per_second": 1e9,
    "task_list_rates": {"default": 1e9},
    "task_list_concurrency": {"default": 10_000},
}
"""Flow control switched on but never binding: what its steps cost (`--limits`)."""


def instant_apis(api: InstantApi) -> Callable[[WorkerSettings], AbstractAsyncContextManager[Apis]]:
    """A Worker's `api_factory` that hands it `api` for polls and answers."""

    @asynccontextmanager
    async def apis(settings: WorkerSettings) -> AsyncIterator[Apis]:
        yield Apis(api, api)

    return apis


def bench_settings(**overrides: Any) -> WorkerSettings:
    """The benchmark worker's settings: `POLLERS` pollers, no metrics server, warnings only."""
    return WorkerSettings(
        domain="bench",
        metrics_port=None,
        pollers=POLLERS,
        region="us-east-1",
        log_level="WARNING",
        **overrides,
    )


async def run_worker(tasks: int, limits: bool = False) -> float:
    """CPU seconds per task of a Worker over `InstantApi` (with `limits`: a rate and per-list
    slots that never bind, so the token and list-slot steps run on every poll)."""
    api = InstantApi(tasks)
    settings = bench_settings(**(LIMITS if limits else {}))
    async with Worker(registry, settings, api_factory=instant_apis(api)):
        begun = time.process_time()
        await api.done.wait()
        return (time.process_time() - begun) / tasks


async def run_bare(tasks: int) -> float:
    """CPU seconds per task of `POLLERS` bare loops (poll, then answer) over `InstantApi`."""
    api = InstantApi(tasks)

    async def loop() -> None:
        while api.left > 0:
            task = await api.poll("default")
            if task.get("taskToken"):
                await api.complete(task["taskToken"], task.get("input"))

    begun = time.process_time()
    async with anyio.create_task_group() as tg:
        for _ in range(POLLERS):
            tg.start_soon(loop)
    return (time.process_time() - begun) / tasks


class ParkingApi(InstantApi):
    """`InstantApi` handing out `sleep` tasks that outlast the measurement; the answers a drain
    sends for them (failed: worker shutdown) are counted, not refused."""

    def __init__(self, tasks: int) -> None:
        super().__init__(tasks, activity="sleep", data="3600")
        self.open = anyio.Event()
        """Set once the idle worker's heap is counted: polls wait for it."""

    async def poll(self, task_list: str) -> dict[str, Any]:
        await self.open.wait()
        return await super().poll(task_list)

    async def fail(self, token: str, reason: str | None, details: str | None) -> None:
        await asyncio.sleep(0)


def _tracked() -> int:
    """Objects the collector tracks and has not frozen, after collecting."""
    gc.collect()
    return len(gc.get_objects())


async def parked_worker(tasks: int) -> float:
    """Tracked objects per task in flight in a Worker, ``tasks`` `sleep` tasks parked."""
    api = ParkingApi(tasks)
    settings = bench_settings(max_concurrency=tasks + POLLERS, drain_timeout=0)
    async with Worker(registry, settings, api_factory=instant_apis(api)) as worker:
        await anyio.sleep(0.2)  # started: its pollers wait in their first poll
        gc.collect()
        gc.freeze()
        try:
            idle = _tracked()
            api.open.set()
            await poll_until(lambda: worker.statistics().executor.running >= tasks, 120)
            return (_tracked() - idle) / tasks
        finally:
            gc.unfreeze()


async def parked_bare(tasks: int) -> float:
    """Tracked objects per bare anyio task parked in `anyio.sleep` in one task group."""
    gc.collect()
    gc.freeze()
    try:
        idle = _tracked()
        async with anyio.create_task_group() as tg:
            for _ in range(tasks):
                tg.start_soon(anyio.sleep, 3600)
            await anyio.wait_all_tasks_blocked()
            per_task = (_tracked() - idle) / tasks
            tg.cancel_scope.cancel()
        return per_task
    finally:
        gc.unfreeze()


def parked(tasks: int) -> dict[str, float]:
    """Tracked objects per task in flight: the worker's, and a bare anyio task's."""
    configure_logging("json", "WARNING")
    uvloop = {"use_uvloop": True}
    worker = anyio.run(parked_worker, tasks, backend="asyncio", backend_options=uvloop)
    bare = anyio.run(parked_bare, tasks, backend="asyncio", backend_options=uvloop)
    return {
        "worker_objects_per_task": round(worker, 1),
        "bare_anyio_objects_per_task": round(bare, 1),
    }


def measure(tasks: int, repeats: int, limits: bool = False) -> dict[str, float]:
    """Median µs of CPU per task, asyncworker's pipeline and the bare loops, alternating."""
    configure_logging("json", "WARNING")
    uvloop = {"use_uvloop": True}
    worker: list[float] = []
    bare: list[float] = []
    for _ in range(repeats):
        worker.append(
            anyio.run(run_worker, tasks, limits, backend="asyncio", backend_options=uvloop)
        )
        bare.append(anyio.run(run_bare, tasks, backend="asyncio", backend_options=uvloop))
    worker.sort()
    bare.sort()
    return {
        "worker_us_per_task": round(1e6 * worker[len(worker) // 2], 1),
        "bare_us_per_task": round(1e6 * bare[len(bare) // 2], 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--limits", action="store_true", help="flow control on, never binding (its steps' cost)"
    )
    parser.add_argument(
        "--parked", type=int, metavar="N", help="tracked objects per task, N tasks in flight"
    )
    args = parser.parse_args(argv)
    if args.parked:
        print(json.dumps(parked(args.parked)))
        return
    print(json.dumps(measure(args.tasks, args.repeats, args.limits)))


if __name__ == "__main__":
    main()
