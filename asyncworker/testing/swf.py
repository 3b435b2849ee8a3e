"""SWF from a test's side: a client, a scripted decider, and the results of activities.

`start_activities()` starts an execution of a workflow type of its own and schedules activities
from its first decision task; `wait_closed()` reads how they ended from the history. `decide()`
answers one decision task with any decisions (`schedule()`, `decision()`).
"""

from __future__ import annotations

import inspect
import uuid
from typing import TYPE_CHECKING, Any, TypeVar, overload

import anyio

from asyncworker.pipeline.flow import ActivityType, OutcomeKind
from asyncworker.swf.admin import register_workflow_type
from asyncworker.swf.connect import open_client
from asyncworker.testing.environment import ActivityOutcome

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from contextlib import AbstractAsyncContextManager

    from types_aiobotocore_swf import SWFClient
    from types_aiobotocore_swf.type_defs import WorkflowExecutionTypeDef

T = TypeVar("T")

REGION = "us-east-1"
DECISIONS = "decisions"
"""The decision task list of `SCRIPTED_WORKFLOW`."""
#: The workflow type of `start_activities()`, registered in any domain by `ensure_workflow_type()`.
SCRIPTED_WORKFLOW: Any = {"name": "asyncworker-test", "version": "1"}
CLOSED = {
    "ActivityTaskCompleted": "completed",
    "ActivityTaskFailed": "failed",
    "ActivityTaskTimedOut": "timed_out",
    "ActivityTaskCanceled": "canceled",
}


def aws_credentials(
    access_key: str = "testing",
    secret_key: str | None = "testing",
    session_token: str | None = None,
) -> dict[str, str]:
    """The environment variables botocore reads credentials from (None: not set). The local
    endpoint and moto accept any credentials; botocore needs some to sign."""
    values = {
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_SESSION_TOKEN": session_token,
    }
    return {name: value for name, value in values.items() if value is not None}


def swf_client(url: str, region: str = REGION) -> AbstractAsyncContextManager[SWFClient]:
    """A test-side SWF client (decider, history reads) on `url`, signing for `region`: the
    worker's own client factory, with a poll-safe read timeout and no retries."""
    return open_client(
        region=region, endpoint_url=url, max_pool_connections=10, read_timeout=70, connect_timeout=5
    )


async def start(
    client: SWFClient,
    workflow_id: str,
    *,
    domain: str,
    workflow: Any = SCRIPTED_WORKFLOW,
    **settings: Any,
) -> str:
    """Start an execution of `workflow` in `domain`; returns its run id."""
    response = await client.start_workflow_execution(
        domain=domain, workflowId=workflow_id, workflowType=workflow, **settings
    )
    return response["runId"]


def attributes(event: dict[str, Any]) -> dict[str, Any]:
    """The ``*EventAttributes`` member of an event."""
    key = event["eventType"][0].lower() + event["eventType"][1:] + "EventAttributes"
    found: dict[str, Any] = event[key]
    return found


def schedule(activity_id: str, *, activity_type: Any, **attributes: Any) -> dict[str, Any]:
    """A ScheduleActivityTask decision for `activity_type` (`{"name": ..., "version": ...}`)."""
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
    domain: str,
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
    activities: Sequence[tuple[str | ActivityType, str | None]],
    *,
    task_list: str | None = "default",
    start_to_close: str | None = None,
) -> WorkflowExecutionTypeDef:
    """Start a `SCRIPTED_WORKFLOW` execution and schedule `(type, input)` activities from its
    first decision task; activity ids are `a0`, `a1`, ... in order. A type given as a name is
    version 1; a task list of None (and no `start_to_close`) takes the type's registered
    defaults."""
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
    options: dict[str, Any] = {}
    if start_to_close is not None:
        options["startToCloseTimeout"] = start_to_close
    if task_list is not None:
        options["taskList"] = {"name": task_list}
    decisions = [
        schedule(
            f"a{index}",
            activity_type=_type_of(activity),
            **options,
            **({} if data is None else {"input": data}),
        )
        for index, (activity, data) in enumerate(activities)
    ]
    await decide(client, decisions, domain=domain, execution=execution, identity="test-decider")
    return execution


def _type_of(activity: str | ActivityType) -> dict[str, str]:
    """SWF's activityType for an `ActivityType`, a `name:version` or a bare name (version 1)."""
    if isinstance(activity, ActivityType):
        return {"name": activity.name, "version": activity.version}
    name, _, version = activity.rpartition(":")
    return {"name": name, "version": version} if name else {"name": activity, "version": "1"}


class ActivityScheduler:
    """Schedules activities in `domain` as a decider does, and returns how SWF closed them.

    Each `run_all()` starts a workflow execution of its own, schedules the activities from its
    first decision task, and reads the history (bounded by `within` seconds) until all closed.
    """

    def __init__(self, client: SWFClient, domain: str, *, within: float = 30.0) -> None:
        self.client = client
        self.domain = domain
        self.within = within

    async def run(
        self,
        activity: str | ActivityType,
        input: str | None = None,
        *,
        task_list: str | None = None,
        start_to_close: int | None = None,
    ) -> ActivityOutcome:
        """Schedule one activity (`name:version`, a bare name meaning version 1, or an
        `ActivityType`) and wait until it closes."""
        [outcome] = await self.run_all(
            [(activity, input)], task_list=task_list, start_to_close=start_to_close
        )
        return outcome

    async def run_all(
        self,
        activities: Sequence[tuple[str | ActivityType, str | None]],
        *,
        task_list: str | None = None,
        start_to_close: int | None = None,
    ) -> list[ActivityOutcome]:
        """Schedule `(type, input)` activities in one execution; their outcomes, in order. The
        task list and timeout default to the types' registered ones."""
        execution = await start_activities(
            self.client,
            self.domain,
            activities,
            task_list=task_list,
            start_to_close=None if start_to_close is None else str(start_to_close),
        )
        closed = await wait_closed(
            self.client, self.domain, execution, len(activities), self.within
        )
        return [_outcome(*closed[f"a{index}"]) for index in range(len(activities))]


def _outcome(kind: str, closing: dict[str, Any]) -> ActivityOutcome:
    """How SWF closed an activity, from its closing event: the worker's answer as SWF recorded
    it, or (timed out) the timeout type as the reason and the last heartbeat's details."""
    return ActivityOutcome(
        OutcomeKind(kind),
        result=closing.get("result"),
        reason=closing.get("reason") or closing.get("timeoutType"),
        details=closing.get("details"),
    )


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


@overload
async def poll_until(
    probe: Callable[[], Awaitable[T | None]], within: float = ..., *, every: float = ...
) -> T: ...
@overload
async def poll_until(
    probe: Callable[[], T | None], within: float = ..., *, every: float = ...
) -> T: ...
async def poll_until(probe: Callable[[], Any], within: float = 5.0, *, every: float = 0.2) -> Any:
    """Call `probe` every `every` seconds until it returns something other than None or False
    (bounded by `within`), and return that. `probe` may be a plain function (a condition on
    in-process state) or a coroutine function (SWF history, a /metrics page).

    For state only visible by asking: there is nothing to await.
    """
    with anyio.fail_after(within):
        while True:
            result = probe()
            if inspect.isawaitable(result):
                result = await result
            if result is not None and result is not False:
                return result
            await anyio.sleep(every)
