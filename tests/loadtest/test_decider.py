"""The fan-out decider against a scripted in-memory SWF: paging, exactly-once counting."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import anyio.lowlevel
import botocore.exceptions
import pytest

from asyncworker.loadtest.decider import PAGE_SIZE, Decider
from asyncworker.loadtest.measure import Measurements
from asyncworker.loadtest.workload import ActivitySpec, Workload

pytestmark = pytest.mark.anyio

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
FAN_OUT = 150
FIRST_BATCH = 100


class History:
    """One execution's history, built event by event."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, kind: str, at: float, **attributes: Any) -> int:
        event_id = len(self.events) + 1
        key = kind[0].lower() + kind[1:] + "EventAttributes"
        self.events.append(
            {
                "eventId": event_id,
                "eventType": kind,
                "eventTimestamp": EPOCH + timedelta(seconds=at),
                key: attributes,
            }
        )
        return event_id

    def decision(self, at: float) -> int:
        self.add("DecisionTaskScheduled", at)
        return self.add("DecisionTaskStarted", at)


class ScriptedSwf:
    """Hands out prepared decision tasks in order, each once the previous one was answered.

    Pages are served newest-first; every call passes a checkpoint, so the decider's pollers
    interleave as they would on a network.
    """

    def __init__(self, tasks: list[tuple[int, int, History]], failures: set[int]) -> None:
        self.tasks = tasks  # (previousStartedEventId, startedEventId, history)
        self.failures = failures
        self.ready = [anyio.Event() for _ in tasks]
        self.ready[0].set()
        self.claimed = 0
        self.pages_per_task = [0] * len(tasks)
        self.responses: list[list[dict[str, Any]]] = []
        self.done = anyio.Event()

    async def poll_for_decision_task(self, **request: Any) -> dict[str, Any]:
        await anyio.lowlevel.checkpoint()
        if "nextPageToken" in request:
            index, offset = map(int, request["nextPageToken"].split(":"))
        elif self.claimed < len(self.tasks):
            index, offset = self.claimed, 0
            self.claimed += 1
            await self.ready[index].wait()
        else:
            await anyio.sleep_forever()
        previous, started, history = self.tasks[index]
        assert request["reverseOrder"] is True
        events = sorted(history.events[:started], key=lambda e: -e["eventId"])
        size = request["maximumPageSize"]
        self.pages_per_task[index] += 1
        page: dict[str, Any] = {
            "taskToken": f"token-{index}",
            "previousStartedEventId": previous,
            "startedEventId": started,
            "workflowExecution": {"workflowId": "wf", "runId": "run"},
            "events": events[offset : offset + size],
        }
        if offset + size < len(events):
            page["nextPageToken"] = f"{index}:{offset + size}"
        return page

    async def respond_decision_task_completed(self, **request: Any) -> dict[str, Any]:
        await anyio.lowlevel.checkpoint()
        index = int(request["taskToken"].removeprefix("token-"))
        if index + 1 < len(self.ready):
            self.ready[index + 1].set()
            # SWF may hand out the next task before this answer's acknowledgement arrives.
            await anyio.lowlevel.checkpoint()
        if index in self.failures:
            error = {"Error": {"Code": "UnknownResourceFault", "Message": "timed out"}}
            raise botocore.exceptions.ClientError(error, "RespondDecisionTaskCompleted")  # type: ignore[arg-type]
        self.responses.append(request["decisions"])
        if request["decisions"] and request["decisions"][0]["decisionType"].startswith("Complete"):
            self.done.set()
        return {}


def _scenario() -> list[tuple[int, int, History]]:
    """Start; 100 of 150 activities close (decided twice: the first answer is lost); the rest."""
    workload = Workload((ActivitySpec("echo", "1"),), fan_out=FAN_OUT, task_list="work")
    plan = workload.plan(FAN_OUT, random.Random(1))
    h = History()
    h.add("WorkflowExecutionStarted", 0.0, input=plan.encode())
    first = h.decision(0.0)
    h.add("DecisionTaskCompleted", 0.1)
    scheduled = [h.add("ActivityTaskScheduled", 0.1, activityId=str(i)) for i in range(FAN_OUT)]
    started = [h.add("ActivityTaskStarted", 0.2, scheduledEventId=s) for s in scheduled]
    for s, t in zip(scheduled[:FIRST_BATCH], started, strict=False):
        h.add("ActivityTaskCompleted", 0.5, scheduledEventId=s, startedEventId=t)
    second = h.decision(0.6)
    h.add("DecisionTaskCompleted", 0.7)
    for s, t in zip(scheduled[FIRST_BATCH:], started[FIRST_BATCH:], strict=True):
        h.add("ActivityTaskCompleted", 1.0, scheduledEventId=s, startedEventId=t)
    third = h.decision(1.1)
    # The second decision task is handed out twice: its first answer comes too late.
    return [(0, first, h), (first, second, h), (first, second, h), (second, third, h)]


async def test_decider_pages_back_only_to_the_previous_decision_and_counts_once() -> None:
    swf = ScriptedSwf(_scenario(), failures={1})
    measurements = Measurements()
    decider = Decider(
        swf,  # type: ignore[arg-type]
        domain="d",
        task_list="decisions",
        identity="test",
        measurements=measurements,
        pollers=3,
    )
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            await tg.start(decider.run)
            await swf.done.wait()
            tg.cancel_scope.cancel()

    schedule, lost_then_empty, complete = swf.responses
    assert len(schedule) == FAN_OUT
    assert lost_then_empty == []
    assert complete == [{"decisionType": "CompleteWorkflowExecution"}]
    counts = measurements.counts
    assert (counts.scheduled, counts.completed, counts.workflows_completed) == (FAN_OUT, FAN_OUT, 1)
    assert decider.open_workflows == 0
    assert decider.unfinished() == 0
    # The last task has 53 new events: one page of PAGE_SIZE reaches back to them.
    assert PAGE_SIZE >= 53
    assert swf.pages_per_task[-1] == 1
    # The second task (and its redelivery) needed every page back to event 4.
    total = len(_scenario()[1][2].events[: _scenario()[1][1]])
    assert swf.pages_per_task[1] == swf.pages_per_task[2] == -(-total // PAGE_SIZE)
    s2c = measurements.latency["schedule_to_close"]
    assert s2c.count == FAN_OUT
    assert s2c.percentile(50) == pytest.approx(0.4, rel=1e-3)
    assert s2c.max() == pytest.approx(0.9, rel=1e-3)
