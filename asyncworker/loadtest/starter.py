"""The open-model generator: workflow executions started on a clock, not gated by completions.

Arrival `k` is due at a fixed offset from the run's start (uniform spacing, or Poisson
inter-arrival times from a seeded generator). A scheduler task sleeps until each due time and
hands the arrival to a bounded stream; `concurrency` sender tasks call StartWorkflowExecution.
When the senders cannot keep up, the stream fills, the scheduler waits, and the arrivals that
fell due meanwhile are released at once when it resumes: the offered rate is kept, and each
arrival's lag (send time minus due time) is recorded, so falling behind is reported, never
silently turned into a lower rate.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import anyio
import structlog

from asyncworker.errors import AlreadyExistsFault, SwfFault
from asyncworker.loadtest.calls import call_with_retries

if TYPE_CHECKING:
    from collections.abc import Iterator

    from anyio.abc import ObjectReceiveStream
    from types_aiobotocore_swf import SWFClient

    from asyncworker.loadtest.measure import Measurements
    from asyncworker.loadtest.workload import WorkflowPlan, Workload

log = structlog.get_logger(__name__)

START = "StartWorkflowExecution"
START_RETRY_WINDOW = 10.0
"""Seconds a StartWorkflowExecution is retried on transient faults before it counts as an error."""


class StartError(Exception):
    """StartWorkflowExecution failed for a reason no retry can fix (missing type, bad domain)."""


@dataclass(frozen=True)
class StarterConfig:
    """Where, how fast and for how long workflows are started."""

    domain: str
    workflow_name: str
    workflow_version: str
    decision_task_list: str
    workflow_id_prefix: str
    rate: float
    """Offered load in activities per second (workflows per second = rate / fan-out)."""
    duration: float | None = None
    """Seconds of arrivals; with `count`, whichever ends first."""
    count: int | None = None
    """Activities to offer in total (the last workflow may be smaller than the fan-out)."""
    concurrency: int = 32
    """StartWorkflowExecution calls in flight at once."""
    arrivals: Literal["uniform", "poisson"] = "uniform"
    seed: int | None = None
    execution_timeout: int = 3600
    """Seconds: leftover workflows close themselves this long after they started."""
    decision_timeout: int = 30
    """Seconds a decision task may stay started before SWF hands it out again."""
    tag: str | None = None
    """A tag put on every workflow, so the run's leftovers can be listed and closed."""

    def __post_init__(self) -> None:
        if not (self.rate > 0 and math.isfinite(self.rate)):  # inf: arrivals that never end
            raise ValueError(f"--rate must be a positive number, got {self.rate}")
        if self.duration is None and self.count is None:
            raise ValueError("give --duration or --count")
        if self.duration is not None and not (self.duration > 0 and math.isfinite(self.duration)):
            raise ValueError(f"--duration must be a positive number, got {self.duration}")
        if self.count is not None and self.count <= 0:
            raise ValueError(f"--count must be positive, got {self.count}")


@dataclass(frozen=True)
class Arrival:
    """One workflow to start: its sequence number, due time (anyio clock) and plan."""

    seq: int
    due: float
    plan: WorkflowPlan


def arrival_schedule(
    config: StarterConfig, fan_out: int, rng: random.Random
) -> Iterator[tuple[float, int]]:
    """Yield (offset in seconds from the start, activities) for every arrival of the run."""
    workflow_rate = config.rate / fan_out
    remaining = config.count if config.count is not None else math.inf
    offset = 0.0
    for seq in itertools.count(1):
        if remaining <= 0 or (config.duration is not None and offset >= config.duration):
            return
        size = int(min(fan_out, remaining))
        yield offset, size
        remaining -= size
        if config.arrivals == "poisson":
            offset += rng.expovariate(workflow_rate)
        else:
            offset = seq / workflow_rate  # not a running sum: no accumulated rounding


class Starter:
    """Starts the run's workflow executions on the open-model clock."""

    def __init__(
        self,
        client: SWFClient,
        config: StarterConfig,
        workload: Workload,
        measurements: Measurements,
    ) -> None:
        self._client = client
        self._config = config
        self._workload = workload
        self._measurements = measurements
        self._rng = random.Random(config.seed)

    async def run(self) -> None:
        """Start every arrival of the run; returns when the last one was started (or failed)."""
        send, receive = anyio.create_memory_object_stream[Arrival](self._config.concurrency)
        async with anyio.create_task_group() as tg:
            for _ in range(self._config.concurrency):
                tg.start_soon(self._sender, receive.clone())
            receive.close()
            async with send:
                start = anyio.current_time()
                schedule = arrival_schedule(self._config, self._workload.fan_out, self._rng)
                for seq, (offset, size) in enumerate(schedule):
                    due = start + offset
                    await anyio.sleep_until(due)
                    await send.send(Arrival(seq, due, self._workload.plan(size, self._rng)))

    async def _sender(self, arrivals: ObjectReceiveStream[Arrival]) -> None:
        async with arrivals:
            async for arrival in arrivals:
                self._measurements.record_arrival(anyio.current_time() - arrival.due)
                await self._start(arrival)

    async def _start(self, arrival: Arrival) -> None:
        """StartWorkflowExecution with retries; AlreadyStarted means an earlier attempt landed."""
        config = self._config
        workflow_id = f"{config.workflow_id_prefix}-{arrival.seq}"
        plan_input = arrival.plan.encode()
        try:
            await call_with_retries(
                START,
                lambda: self._client.start_workflow_execution(
                    domain=config.domain,
                    workflowId=workflow_id,
                    workflowType={"name": config.workflow_name, "version": config.workflow_version},
                    taskList={"name": config.decision_task_list},
                    input=plan_input,
                    executionStartToCloseTimeout=str(config.execution_timeout),
                    taskStartToCloseTimeout=str(config.decision_timeout),
                    childPolicy="TERMINATE",
                    tagList=[config.tag] if config.tag else [],
                ),
                deadline=anyio.current_time() + START_RETRY_WINDOW,
            )
        except SwfFault as fault:
            if not isinstance(fault, AlreadyExistsFault):
                if not fault.retryable:
                    raise StartError(str(fault)) from fault
                log.warning("workflow not started", workflow_id=workflow_id, error=str(fault))
                self._measurements.record_start_error()
                return
        self._measurements.record_workflow_started(arrival.plan.total)
