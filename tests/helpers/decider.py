"""A scripted decider for any domain: a workflow with activities, a cancel, the history."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio

from asyncworker.swf.admin import register_workflow_type
from tests.helpers.waiting import poll_until

if TYPE_CHECKING:
    from types_aiobotocore_swf import SWFClient
    from types_aiobotocore_swf.type_defs import DecisionTypeDef, WorkflowExecutionTypeDef


WORKFLOW = ("asyncworker-test", "1")


CLOSED = {
    "ActivityTaskCompleted": "completed",
    "ActivityTaskFailed": "failed",
    "ActivityTaskTimedOut": "timed_out",
    "ActivityTaskCanceled": "canceled",
}


async def ensure_workflow_type(client: SWFClient, domain: str) -> None:
    await register_workflow_type(
        client,
        domain,
        name=WORKFLOW[0],
        version=WORKFLOW[1],
        task_list="decisions",
        decision_timeout=60,
        execution_timeout=3600,
    )


async def schedule(
    client: SWFClient,
    domain: str,
    activities: Sequence[tuple[str, str]],
    *,
    task_list: str = "default",
    start_to_close: str | None = None,
) -> WorkflowExecutionTypeDef:
    """Start a workflow and schedule `(name, input)` activities (version 1) from its first
    decision task; activity ids are `a0`, `a1`, ... in order."""
    await ensure_workflow_type(client, domain)
    workflow_id = f"wf-{uuid.uuid4().hex[:10]}"
    started = await client.start_workflow_execution(
        domain=domain,
        workflowId=workflow_id,
        workflowType={"name": WORKFLOW[0], "version": WORKFLOW[1]},
        taskList={"name": "decisions"},
    )
    with anyio.fail_after(30):
        while True:
            task = await client.poll_for_decision_task(
                domain=domain, taskList={"name": "decisions"}, identity="test-decider"
            )
            if not task.get("taskToken"):
                continue
            if task["workflowExecution"]["workflowId"] == workflow_id:
                break
            # another test workflow's decision task (its activities closed): nothing to decide
            await client.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[])
    decisions: list[DecisionTypeDef] = []
    for index, (name, data) in enumerate(activities):
        attributes: Any = {
            "activityType": {"name": name, "version": "1"},
            "activityId": f"a{index}",
            "input": data,
            "taskList": {"name": task_list},
        }
        if start_to_close is not None:
            attributes["startToCloseTimeout"] = start_to_close
        decisions.append(
            {
                "decisionType": "ScheduleActivityTask",
                "scheduleActivityTaskDecisionAttributes": attributes,
            }
        )
    await client.respond_decision_task_completed(taskToken=task["taskToken"], decisions=decisions)
    return {"workflowId": workflow_id, "runId": started["runId"]}


async def history_events(
    client: SWFClient, domain: str, execution: WorkflowExecutionTypeDef
) -> list[Any]:
    """The execution's whole history, every page."""
    events: list[Any] = []
    kwargs: dict[str, Any] = {"domain": domain, "execution": execution}
    while True:
        page = await client.get_workflow_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextPageToken"):
            return events
        kwargs["nextPageToken"] = page["nextPageToken"]


def activity_events(events: list[Any]) -> dict[str, list[str]]:
    """activityId → the types of its events in order (ActivityTaskScheduled, ...Started, ...)."""
    ids: dict[int, str] = {}
    timeline: dict[str, list[str]] = {}
    for event in events:
        kind = event["eventType"]
        if kind == "ActivityTaskScheduled":
            activity_id = event["activityTaskScheduledEventAttributes"]["activityId"]
            ids[event["eventId"]] = activity_id
            timeline[activity_id] = [kind]
        elif kind.startswith("ActivityTask") and kind != "ActivityTaskCancelRequested":
            key = kind[0].lower() + kind[1:] + "EventAttributes"
            timeline[ids[event[key]["scheduledEventId"]]].append(kind)
    return timeline


async def closed_activities(
    client: SWFClient, domain: str, execution: WorkflowExecutionTypeDef
) -> dict[str, tuple[str, dict[str, Any]]]:
    """activityId → (how it closed, the closing event's attributes), from the full history."""
    events = await history_events(client, domain, execution)
    scheduled = {
        e["eventId"]: e["activityTaskScheduledEventAttributes"]["activityId"]
        for e in events
        if e["eventType"] == "ActivityTaskScheduled"
    }
    closed: dict[str, tuple[str, dict[str, Any]]] = {}
    for event in events:
        kind = CLOSED.get(event["eventType"])
        if kind is not None:
            key = event["eventType"][0].lower() + event["eventType"][1:] + "EventAttributes"
            attributes = event[key]
            closed[scheduled[attributes["scheduledEventId"]]] = (kind, attributes)
    return closed


async def wait_closed(
    client: SWFClient, domain: str, execution: WorkflowExecutionTypeDef, count: int, within: float
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Poll the history (bounded in time) until `count` activities have closed."""

    async def probe() -> dict[str, tuple[str, dict[str, Any]]] | None:
        closed = await closed_activities(client, domain, execution)
        return closed if len(closed) >= count else None

    return await poll_until(probe, within)


async def decide(
    client: SWFClient,
    domain: str,
    execution: WorkflowExecutionTypeDef,
    decisions: list[DecisionTypeDef],
    within: float = 30.0,
) -> None:
    """Signal `execution` so SWF schedules a decision task, then answer it with `decisions`."""
    workflow_id = execution["workflowId"]
    await client.signal_workflow_execution(
        domain=domain, workflowId=workflow_id, runId=execution["runId"], signalName="test"
    )
    with anyio.fail_after(within):
        while True:
            task = await client.poll_for_decision_task(
                domain=domain, taskList={"name": "decisions"}, identity="test-decider"
            )
            if not task.get("taskToken"):
                continue
            mine = task["workflowExecution"]["workflowId"] == workflow_id
            await client.respond_decision_task_completed(
                taskToken=task["taskToken"], decisions=decisions if mine else []
            )
            if mine:
                return


async def request_cancel(
    client: SWFClient, domain: str, execution: WorkflowExecutionTypeDef, activity_id: str
) -> None:
    """The decider asks SWF to cancel activity `activity_id` (RequestCancelActivityTask)."""
    await decide(
        client,
        domain,
        execution,
        [
            {
                "decisionType": "RequestCancelActivityTask",
                "requestCancelActivityTaskDecisionAttributes": {"activityId": activity_id},
            }
        ],
    )
