"""The executor's idle signal counts a task from the moment it is submitted."""

from __future__ import annotations

import anyio
import pytest

from asyncworker import ActivityRegistry
from asyncworker.metrics import Metrics
from asyncworker.pipeline.executor import Executor
from asyncworker.pipeline.flow import ActivityTask, Outcome, Slot
from asyncworker.pipeline.heartbeat import Heartbeats
from asyncworker.pipeline.payloads import Payloads
from asyncworker.testing import FakeSwf
from tests.helpers import settings

pytestmark = pytest.mark.anyio


def task(n: int) -> ActivityTask:
    return ActivityTask.from_poll(
        {
            "taskToken": f"token-{n}-" + "x" * 20,
            "activityId": f"a{n}",
            "startedEventId": n,
            "workflowExecution": {"workflowId": "w", "runId": "r"},
            "activityType": {"name": "gate", "version": "1"},
            "input": str(n),
        },
        "default",
        anyio.current_time(),
    )


async def test_a_task_submitted_as_the_last_one_ends_keeps_the_executor_busy() -> None:
    """B is submitted in the same step that lets A end: A ends before B's first step runs, and
    wait_idle() must still wait for B (the drain relies on it for drain_timeout)."""
    gate = anyio.Event()
    reg = ActivityRegistry()

    @reg.activity(name="gate")
    async def gated(data: str) -> str:
        if data == "1":
            await gate.wait()
        return data

    fake = FakeSwf()
    metrics = Metrics()
    send, receive = anyio.create_memory_object_stream[Outcome](10)
    slots = anyio.CapacityLimiter(4)
    payloads = Payloads(None, settings(), metrics)
    beats = Heartbeats(fake, metrics, rate=10)
    executor = Executor(reg, beats, send, metrics, payloads, thread_limit=1)
    with send, receive:
        async with anyio.create_task_group() as tg:
            executor.bind(tg)
            executor.submit(task(1), await Slot.acquire(slots))
            await anyio.wait_all_tasks_blocked()
            gate.set()  # A resumes on the next step...
            executor.submit(task(2), await Slot.acquire(slots))  # ...and B starts after it
            assert executor.statistics().running == 2
            with anyio.fail_after(5):
                await executor.wait_idle()
            assert executor.statistics().finished == 2, "wait_idle() returned with B unfinished"
            tg.cancel_scope.cancel()
