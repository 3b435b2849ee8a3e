"""The open-model generator: arrival schedule, and lag reported (not hidden) when behind."""

from __future__ import annotations

import random
from typing import Any

import anyio
import pytest

from asyncworker.loadtest.measure import Measurements
from asyncworker.loadtest.starter import Starter, StarterConfig, arrival_schedule
from asyncworker.loadtest.workload import ActivitySpec, WorkflowPlan, Workload


def _config(**overrides: Any) -> StarterConfig:
    fields: dict[str, Any] = {
        "domain": "d",
        "workflow_name": "w",
        "workflow_version": "1",
        "decision_task_list": "decisions",
        "workflow_id_prefix": "lt-test",
        "rate": 1000.0,
        "duration": 10.0,
    }
    return StarterConfig(**(fields | overrides))


def test_uniform_schedule_is_exact() -> None:
    schedule = list(arrival_schedule(_config(), fan_out=100, rng=random.Random(1)))
    assert len(schedule) == 100
    assert schedule[1][0] == pytest.approx(0.1)
    assert schedule[-1][0] == pytest.approx(9.9)
    assert {size for _, size in schedule} == {100}


def test_count_bounds_the_run_and_the_last_workflow_is_smaller() -> None:
    config = _config(duration=None, count=250)
    schedule = list(arrival_schedule(config, fan_out=100, rng=random.Random(1)))
    assert [size for _, size in schedule] == [100, 100, 50]


def test_poisson_schedule_keeps_the_mean_rate() -> None:
    config = _config(arrivals="poisson", rate=100.0, duration=100.0)
    schedule = list(arrival_schedule(config, fan_out=1, rng=random.Random(7)))
    assert len(schedule) == pytest.approx(10_000, rel=0.05)


class SlowSwf:
    """StartWorkflowExecution takes 20 ms: one sender manages 50 workflows per second."""

    def __init__(self) -> None:
        self.started: list[str] = []

    async def start_workflow_execution(self, **request: Any) -> dict[str, str]:
        await anyio.sleep(0.02)
        WorkflowPlan.decode(request["input"])
        self.started.append(request["workflowId"])
        return {"runId": "r"}


@pytest.mark.anyio
async def test_a_slow_endpoint_shows_as_lag_not_as_a_lower_offered_load() -> None:
    """20 arrivals due within 0.1 s, one sender at 50/s: all go out, the last ~0.3 s late."""
    swf = SlowSwf()
    measurements = Measurements()
    workload = Workload((ActivitySpec("echo", "1"),), fan_out=2, task_list="work")
    config = _config(rate=400.0, duration=0.1, concurrency=1)
    starter = Starter(swf, config, workload, measurements)  # type: ignore[arg-type]
    with anyio.fail_after(10):
        await starter.run()
    assert len(swf.started) == 20
    assert len(set(swf.started)) == 20
    assert measurements.counts.offered == 40
    assert measurements.generator_lag.count == 20
    lag_max = measurements.generator_lag.max()
    assert lag_max is not None
    assert lag_max > 0.2
