"""Retention of closed executions by the domain's period, and temporary task-list overrides."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from asyncworker.local import executions
from tests.helpers import (
    DECISIONS,
    DOMAIN,
    attributes,
    decide,
    history,
    poll_until,
    register,
    start,
    type_registrations,
    types_of,
)

if TYPE_CHECKING:
    from types_aiobotocore_swf import SWFClient

pytestmark = pytest.mark.anyio


async def _retained(swf: SWFClient, domain: str, workflow_id: str, run_id: str) -> bool:
    try:
        await swf.describe_workflow_execution(
            domain=domain, execution={"workflowId": workflow_id, "runId": run_id}
        )
    except swf.exceptions.UnknownResourceFault:
        return False
    return True


async def _closed_ids(swf: SWFClient, domain: str) -> set[str]:
    since: Any = {"oldestDate": 0}
    infos = (await swf.list_closed_workflow_executions(domain=domain, startTimeFilter=since))[
        "executionInfos"
    ]
    return {info["execution"]["workflowId"] for info in infos}


async def test_a_domain_retaining_0_days_forgets_closed_executions(swf: SWFClient) -> None:
    await register(swf, domain="brief")
    await swf.register_domain(name="none-kept", workflowExecutionRetentionPeriodInDays="0")
    for method, params in type_registrations("none-kept")[1:]:  # the types, not the domain
        await getattr(swf, method)(**params)
    run_id = await start(swf, "w", domain="none-kept")
    kept = await start(swf, "w", domain="brief")
    await swf.terminate_workflow_execution(domain="none-kept", workflowId="w")
    await swf.terminate_workflow_execution(domain="brief", workflowId="w")

    async def forgotten() -> bool:
        return not await _retained(swf, "none-kept", "w", run_id)

    assert await poll_until(forgotten, 5)
    assert await _closed_ids(swf, "none-kept") == set()
    assert await _retained(swf, "brief", "w", kept)  # 1 day: still there


async def test_closed_executions_are_dropped_when_their_retention_ends(
    swf: SWFClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a day of the endpoint's clock shortened to 0.5 s, and at most 2 closed kept
    monkeypatch.setattr(executions, "RETENTION_DAY_SECONDS", 0.5)
    monkeypatch.setattr(executions, "MAX_CLOSED_EXECUTIONS", 2)
    runs = {}
    for workflow_id in ("a", "b", "c"):
        runs[workflow_id] = await start(swf, workflow_id)
        await swf.terminate_workflow_execution(domain=DOMAIN, workflowId=workflow_id)
    # the count cap dropped the oldest at once; the others are kept for their period
    assert await _closed_ids(swf, DOMAIN) == {"b", "c"}
    assert await _retained(swf, DOMAIN, "c", runs["c"])

    async def forgotten() -> bool:
        return await _closed_ids(swf, DOMAIN) == set()

    assert await poll_until(forgotten, 10, every=0.1)
    # a later close arms retention again
    run_id = await start(swf, "d")
    await swf.terminate_workflow_execution(domain=DOMAIN, workflowId="d")
    assert await _retained(swf, DOMAIN, "d", run_id)
    assert await poll_until(forgotten, 10, every=0.1)


async def _override(swf: SWFClient, limit: str) -> str:
    """Start an execution, answer its first decision task with a task-list override to
    `nowhere` (no decider polls it) lasting `limit`, and signal it; returns the run id."""
    run_id = await start(swf, "o")
    task = await swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": DECISIONS})
    await swf.respond_decision_task_completed(
        taskToken=task["taskToken"],
        decisions=[],
        taskList={"name": "nowhere"},
        taskListScheduleToStartTimeout=limit,
    )
    await swf.signal_workflow_execution(domain=DOMAIN, workflowId="o", signalName="s")
    return run_id


async def test_a_temporary_override_reverts_when_no_decider_starts_the_task(
    swf: SWFClient,
) -> None:
    run_id = await _override(swf, "1")
    # the task on `nowhere` times out after 1 s, and the next one is on the original list
    task = await decide(swf, [], execution={"workflowId": "o", "runId": run_id})
    events = task["events"]
    assert types_of(events)[3:] == [
        "DecisionTaskCompleted",
        "WorkflowExecutionSignaled",
        "DecisionTaskScheduled",
        "DecisionTaskTimedOut",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
    ]
    assert attributes(events[3])["taskList"] == {"name": "nowhere"}
    assert attributes(events[3])["taskListScheduleToStartTimeout"] == "1"
    assert attributes(events[5])["taskList"] == {"name": "nowhere"}
    assert attributes(events[5])["scheduleToStartTimeout"] == "1"
    assert attributes(events[6]) == {
        "timeoutType": "SCHEDULE_TO_START",
        "scheduledEventId": 6,
        "startedEventId": 0,
    }
    assert attributes(events[7])["taskList"] == {"name": DECISIONS}
    assert attributes(events[7])["scheduleToStartTimeout"] == "NONE"


async def test_a_permanent_override_does_not_time_out(swf: SWFClient) -> None:
    run_id = await _override(swf, "NONE")
    # nothing on the original list within a poll timeout (2 s)
    empty = await swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": DECISIONS})
    assert not empty.get("taskToken")
    events = await history(swf, "o", run_id)
    assert types_of(events)[-1] == "DecisionTaskScheduled"
    assert attributes(events[-1])["taskList"] == {"name": "nowhere"}
    assert attributes(events[-1])["scheduleToStartTimeout"] == "NONE"


async def test_a_started_task_on_a_temporary_override_timing_out_reverts(swf: SWFClient) -> None:
    run_id = await start(swf, "s", taskStartToCloseTimeout="1")
    task = await swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": DECISIONS})
    await swf.respond_decision_task_completed(
        taskToken=task["taskToken"],
        decisions=[],
        taskList={"name": "elsewhere"},
        taskListScheduleToStartTimeout="30",
    )
    await swf.signal_workflow_execution(domain=DOMAIN, workflowId="s", signalName="s")
    # started on the override in time, then left to time out (1 s)
    started = await swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": "elsewhere"})
    assert started.get("taskToken")
    nxt = await decide(swf, [], execution={"workflowId": "s", "runId": run_id})
    timed_out = next(e for e in nxt["events"] if e["eventType"] == "DecisionTaskTimedOut")
    assert attributes(timed_out)["timeoutType"] == "START_TO_CLOSE"
    assert attributes(nxt["events"][-2])["taskList"] == {"name": DECISIONS}
