"""SWF from the test side: clients, registration, a scripted decider, histories.

The local endpoint's tests use one domain and types (`DOMAIN`, `WORKFLOW`, `ACTIVITY`); the
daemon's tests start `SCRIPTED_WORKFLOW` executions in a domain of their own with
`start_activities()`. Both decide with `decide()` and build decisions with `schedule()` and
`decision()`.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import anyio

from asyncworker.swf.admin import register_workflow_type
from asyncworker.swf.connect import open_client
from tests.helpers.waiting import poll_until

if TYPE_CHECKING:
    from collections.abc import Sequence
    from contextlib import AbstractAsyncContextManager

    from types_aiobotocore_swf import SWFClient
    from types_aiobotocore_swf.type_defs import WorkflowExecutionTypeDef


DOMAIN = "test-domain"
# Typed as Any: they are passed as the typed client's TypedDicts and compared as plain dicts.
WORKFLOW: Any = {"name": "wf", "version": "1"}
ACTIVITY: Any = {"name": "act", "version": "1"}
DECISIONS = "decisions"
ACTIVITIES = "activities"
#: The workflow type of `start_activities()`, registered in any domain by `ensure_workflow_type()`.
SCRIPTED_WORKFLOW: Any = {"name": "asyncworker-test", "version": "1"}
CLOSED = {
    "ActivityTaskCompleted": "completed",
    "ActivityTaskFailed": "failed",
    "ActivityTaskTimedOut": "timed_out",
    "ActivityTaskCanceled": "canceled",
}
ALL_NONE = {
    "scheduleToStartTimeout": "NONE",
    "scheduleToCloseTimeout": "NONE",
    "startToCloseTimeout": "NONE",
    "heartbeatTimeout": "NONE",
}


def swf_client(url: str, region: str = "us-east-1") -> AbstractAsyncContextManager[SWFClient]:
    """A test-side SWF client (decider, history reads) on `url`, signing for `region`: the
    worker's own client factory, with a poll-safe read timeout and no retries."""
    return open_client(
        region=region, endpoint_url=url, max_pool_connections=10, read_timeout=70, connect_timeout=5
    )


def type_registrations(domain: str = DOMAIN, **activity_defaults: str) -> list[tuple[str, Any]]:
    """(method, parameters) of the test domain, workflow type and activity type registrations,
    for the async (aiobotocore) and the sync (boto3) clients alike."""
    return [
        ("register_domain", {"name": domain, "workflowExecutionRetentionPeriodInDays": "1"}),
        (
            "register_workflow_type",
            {
                "domain": domain,
                "name": WORKFLOW["name"],
                "version": WORKFLOW["version"],
                "defaultTaskList": {"name": DECISIONS},
                "defaultExecutionStartToCloseTimeout": "600",
                "defaultTaskStartToCloseTimeout": "30",
                "defaultChildPolicy": "TERMINATE",
            },
        ),
        (
            "register_activity_type",
            {
                "domain": domain,
                "name": ACTIVITY["name"],
                "version": ACTIVITY["version"],
                "defaultTaskList": {"name": ACTIVITIES},
                "defaultTaskScheduleToStartTimeout": "NONE",
                "defaultTaskScheduleToCloseTimeout": "NONE",
                "defaultTaskStartToCloseTimeout": "NONE",
                "defaultTaskHeartbeatTimeout": "NONE",
                **activity_defaults,
            },
        ),
    ]


async def register(client: SWFClient, *, domain: str = DOMAIN, **activity_defaults: str) -> None:
    """Register the test domain, workflow type and activity type."""
    for method, params in type_registrations(domain, **activity_defaults):
        await getattr(client, method)(**params)


async def start(
    client: SWFClient,
    workflow_id: str,
    *,
    domain: str = DOMAIN,
    workflow: Any = WORKFLOW,
    **settings: Any,
) -> str:
    """Start an execution of `workflow` (the test workflow type) in `domain`; returns its run
    id."""
    response = await client.start_workflow_execution(
        domain=domain, workflowId=workflow_id, workflowType=workflow, **settings
    )
    return response["runId"]


def schedule(
    activity_id: str, *, activity_type: Any = ACTIVITY, **attributes: Any
) -> dict[str, Any]:
    """A ScheduleActivityTask decision for `activity_type` (the test activity type)."""
    return {
        "decisionType": "ScheduleActivityTask",
        "scheduleActivityTaskDecisionAttributes": {
            "activityType": activity_type,
            "activityId": activity_id,
            **attributes,
        },
    }


def decision(decision_type: str, **attributes: Any) -> dict[str, Any]:
    """Any decision with its attributes."""
    member = decision_type[0].lower() + decision_type[1:] + "DecisionAttributes"
    return {"decisionType": decision_type, member: attributes}


async def decide(
    client: SWFClient,
    decisions: Sequence[dict[str, Any]],
    *,
    domain: str = DOMAIN,
    task_list: str = DECISIONS,
    execution: WorkflowExecutionTypeDef | None = None,
    identity: str = "decider",
    within: float = 30.0,
) -> dict[str, Any]:
    """Poll a decision task from `task_list`, answer it with `decisions`; returns the task.

    Without `execution`, the first poll must bring a task. With it, polls go on (bounded by
    `within`) until that execution's task comes; other executions' tasks (other tests'
    workflows, their activities closed) are answered with no decisions.
    """

    async def answer() -> dict[str, Any] | None:
        task = await client.poll_for_decision_task(
            domain=domain, taskList={"name": task_list}, identity=identity
        )
        if execution is None:
            assert task.get("taskToken"), "expected a decision task"
        elif not task.get("taskToken"):
            return None
        mine = (
            execution is None or task["workflowExecution"]["workflowId"] == execution["workflowId"]
        )
        await client.respond_decision_task_completed(
            taskToken=task["taskToken"],
            decisions=list(decisions) if mine else [],  # type: ignore[arg-type]
        )
        return dict(task) if mine else None

    if execution is None:
        task = await answer()
        assert task is not None
        return task
    with anyio.fail_after(within):
        while (task := await answer()) is None:
            pass
    return task


async def ensure_workflow_type(client: SWFClient, domain: str) -> None:
    await register_workflow_type(
        client,
        domain,
        name=SCRIPTED_WORKFLOW["name"],
        version=SCRIPTED_WORKFLOW["version"],
        task_list=DECISIONS,
        decision_timeout=60,
        execution_timeout=3600,
    )


async def start_activities(
    client: SWFClient,
    domain: str,
    activities: Sequence[tuple[str, str]],
    *,
    task_list: str = "default",
    start_to_close: str | None = None,
) -> WorkflowExecutionTypeDef:
    """Start a `SCRIPTED_WORKFLOW` execution and schedule `(name, input)` activities (version 1)
    from its first decision task; activity ids are `a0`, `a1`, ... in order."""
    await ensure_workflow_type(client, domain)
    workflow_id = f"wf-{uuid.uuid4().hex[:10]}"
    run_id = await start(
        client,
        workflow_id,
        domain=domain,
        workflow=SCRIPTED_WORKFLOW,
        taskList={"name": DECISIONS},
    )
    execution: WorkflowExecutionTypeDef = {"workflowId": workflow_id, "runId": run_id}
    timeout = {} if start_to_close is None else {"startToCloseTimeout": start_to_close}
    decisions = [
        schedule(
            f"a{index}",
            activity_type={"name": name, "version": "1"},
            input=data,
            taskList={"name": task_list},
            **timeout,
        )
        for index, (name, data) in enumerate(activities)
    ]
    await decide(client, decisions, domain=domain, execution=execution, identity="test-decider")
    return execution


async def request_cancel(
    client: SWFClient, domain: str, execution: WorkflowExecutionTypeDef, activity_id: str
) -> None:
    """The decider asks SWF to cancel activity `activity_id` (RequestCancelActivityTask): a
    signal makes SWF schedule a decision task, answered with the request."""
    await client.signal_workflow_execution(
        domain=domain,
        workflowId=execution["workflowId"],
        runId=execution["runId"],
        signalName="test",
    )
    cancel = decision("RequestCancelActivityTask", activityId=activity_id)
    await decide(client, [cancel], domain=domain, execution=execution, identity="test-decider")


async def history(client: SWFClient, workflow_id: str, run_id: str) -> list[dict[str, Any]]:
    """The whole history of an execution in the test domain, as plain dicts."""
    execution: Any = {"workflowId": workflow_id, "runId": run_id}
    return [dict(event) for event in await history_events(client, DOMAIN, execution)]


def types_of(events: Sequence[dict[str, Any]]) -> list[str]:
    return [event["eventType"] for event in events]


def attributes(event: dict[str, Any]) -> dict[str, Any]:
    """The ``*EventAttributes`` member of an event."""
    key = event["eventType"][0].lower() + event["eventType"][1:] + "EventAttributes"
    found: dict[str, Any] = event[key]
    return found


def error_code(exc: BaseException) -> str:
    """botocore's error code of a ClientError."""
    response = getattr(exc, "response", {})
    code: str = response.get("Error", {}).get("Code", "")
    return code


def error_message(exc: BaseException) -> str:
    """botocore's error message of a ClientError."""
    response = getattr(exc, "response", {})
    message: str = response.get("Error", {}).get("Message", "")
    return message


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
            timeline[ids[attributes(event)["scheduledEventId"]]].append(kind)
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
            closing = attributes(event)
            closed[scheduled[closing["scheduledEventId"]]] = (kind, closing)
    return closed


async def wait_closed(
    client: SWFClient, domain: str, execution: WorkflowExecutionTypeDef, count: int, within: float
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Poll the history (bounded in time) until `count` activities have closed."""

    async def probe() -> dict[str, tuple[str, dict[str, Any]]] | None:
        closed = await closed_activities(client, domain, execution)
        return closed if len(closed) >= count else None

    return await poll_until(probe, within)
