"""Throughput and CPU per task of a worker process on one core, against the local endpoint.

One measured run: a fresh endpoint on the server core, ``tasks`` activity tasks pre-loaded through
a decider, then the worker under test started on the worker core. The figures come from a window
that skips the first and last 10% of the completions (start-up, imports and the tail are not the
steady state): completions counted by the endpoint (``/stats``), wall time, and the worker's CPU
time from ``/proc`` (its whole process tree for a forking worker).

Contenders are compared by running them alternately, ``repeats`` times each, and taking medians:
noise from other work on the machine then hits every contender alike.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from benchmarks import harness
from benchmarks.preload import ECHO, ActivityKind, preload

if TYPE_CHECKING:
    from benchmarks.core import Context

DOMAIN = "bench"
TASK_LIST = "default"
COMPLETED = "RespondActivityTaskCompleted"
WINDOW = (0.1, 0.9)
"""The measured window, as fractions of the pre-loaded tasks completed."""
POLL_TIMEOUT = "2"
"""The endpoint's long-poll hold: short, so workers stop quickly once the work is done."""

Argv = Callable[[str], list[str]]
"""Builds a contender's command line from the endpoint URL."""


@dataclass(frozen=True)
class Contender:
    """A worker to measure."""

    name: str
    argv: Argv
    kind: ActivityKind = ECHO
    tree: bool = False
    """Count the CPU of descendant processes too (workers that fork)."""
    env: Callable[[str], dict[str, str]] = field(default=lambda url: {})
    """Extra environment of the worker, from the endpoint URL."""
    stop_timeout: float = 15.0


@dataclass
class RunResult:
    contender: str
    tasks: int
    seconds: float
    cpu_seconds: float

    @property
    def tasks_per_second(self) -> float:
        return self.tasks / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_task(self) -> float:
        return 1000 * self.cpu_seconds / self.tasks if self.tasks else float("nan")

    @property
    def tasks_per_cpu_second(self) -> float:
        return self.tasks / self.cpu_seconds if self.cpu_seconds else float("nan")

    def summary(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "tasks_per_second": round(self.tasks_per_second, 1),
            "cpu_ms_per_task": round(self.cpu_ms_per_task, 4),
        }


def asyncworker_argv(*flags: str, plain: bool = False) -> Argv:
    """``asyncworker run`` on the example registry, with ``flags``; with ``plain``, its SWF calls
    are plain aiobotocore client calls instead of the fast client's (``--fast-client false``)."""
    command = harness.python("asyncworker")
    client = ["--fast-client", "false"] if plain else []

    def argv(url: str) -> list[str]:
        return [
            *command, "run", "asyncworker.examples.basic:registry",
            "--domain", DOMAIN, "--task-list", TASK_LIST, "--endpoint-url", url,
            "--region", "us-east-1", "--metrics-port", "0", "--log-level", "WARNING",
            *client, *flags,
        ]  # fmt: skip

    return argv


def bare_argv(concurrency: int, *, pipelined: bool = False) -> Argv:
    def argv(url: str) -> list[str]:
        return harness.python(
            "benchmarks.bare", "--endpoint-url", url, "--domain", DOMAIN,
            "--task-list", TASK_LIST, "--concurrency", str(concurrency),
            *(["--pipelined"] if pipelined else []),
        )  # fmt: skip

    return argv


def measure(
    ctx: Context,
    contender: Contender,
    tasks: int,
    *,
    endpoint_flags: Sequence[str] = (),
    timeout: float = 300.0,
    on_window: Callable[[harness.Proc], None] | None = None,
) -> RunResult:
    """One run of ``contender`` over ``tasks`` pre-loaded tasks; see the module docstring.

    ``on_window`` is called once the measured window has begun (the profiler attaches there).
    """
    endpoint = harness.start_endpoint(
        ctx.logs, "--poll-timeout", POLL_TIMEOUT, *endpoint_flags, name=f"endpoint-{contender.name}"
    )
    try:
        preload(endpoint.url, DOMAIN, TASK_LIST, contender.kind, tasks)
        worker = harness.start(
            contender.name,
            contender.argv(endpoint.url),
            ctx.logs,
            core=harness.WORKER_CORE,
            env=contender.env(endpoint.url),
        )
        with harness.running(worker, contender.stop_timeout):
            first, last = (int(tasks * edge) for edge in WINDOW)
            _wait_completed(endpoint, worker, first, timeout)
            begin = _sample(endpoint, worker, contender.tree)
            if on_window is not None:
                on_window(worker)
            _wait_completed(endpoint, worker, last, timeout)
            end = _sample(endpoint, worker, contender.tree)
    finally:
        endpoint.proc.stop()
    return RunResult(
        contender.name,
        tasks=end[0] - begin[0],
        seconds=end[1] - begin[1],
        cpu_seconds=end[2] - begin[2],
    )


def _wait_completed(
    endpoint: harness.Endpoint, worker: harness.Proc, count: int, timeout: float
) -> None:
    def reached() -> bool | None:
        worker.check_alive()
        return True if endpoint.calls(COMPLETED) >= count else None

    harness.wait_until(reached, timeout, f"{worker.name} to complete {count} tasks", every=0.05)


def _sample(
    endpoint: harness.Endpoint, worker: harness.Proc, tree: bool
) -> tuple[int, float, float]:
    """(completions, wall time, worker CPU) read as close together as possible."""
    cpu = worker.cpu(tree=tree)
    completed = endpoint.calls(COMPLETED)
    return completed, time.monotonic(), cpu


def compare(
    ctx: Context,
    contenders: Sequence[tuple[Contender, int]],
    repeats: int,
    *,
    endpoint_flags: Sequence[str] = (),
) -> dict[str, list[RunResult]]:
    """Run each (contender, tasks) ``repeats`` times, alternating; results by contender."""
    results: dict[str, list[RunResult]] = {c.name: [] for c, _ in contenders}
    for round_ in range(repeats):
        for contender, tasks in contenders:
            result = measure(ctx, contender, tasks, endpoint_flags=endpoint_flags)
            results[contender.name].append(result)
            print(
                f"  {contender.name:<28} round {round_ + 1}/{repeats}: "
                f"{result.tasks_per_second:8.1f} tasks/s "
                f"{result.cpu_ms_per_task:7.3f} ms CPU/task",
                file=sys.stderr,
                flush=True,
            )
    return results


def medians(results: list[RunResult]) -> dict[str, float]:
    return {
        "tasks_per_second": harness.median([r.tasks_per_second for r in results]),
        "cpu_ms_per_task": harness.median([r.cpu_ms_per_task for r in results]),
        "tasks_per_cpu_second": harness.median([r.tasks_per_cpu_second for r in results]),
    }


def paired_ratio(
    results: dict[str, list[RunResult]], name: str, baseline: str, attribute: str
) -> float:
    """Median over rounds of ``name``'s figure divided by ``baseline``'s in the same round."""
    pairs = zip(results[name], results[baseline], strict=True)
    return harness.median(
        [getattr(a, attribute) / getattr(b, attribute) for a, b in pairs if getattr(b, attribute)]
    )
