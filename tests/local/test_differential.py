"""Differential tests: the same call sequence against moto server and the local endpoint.

moto is an independent implementation of SWF's API. For what moto implements, both must answer
with the same error codes and the same response shapes (member names), and record the same
event types. Known deviations, where moto differs from SWF, are listed in ``KNOWN_DEVIATIONS``
with the reason and are not compared.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from tests.helpers import swf_client

if TYPE_CHECKING:
    from types_aiobotocore_swf import SWFClient

    from asyncworker.local import LocalEndpoint

pytestmark = pytest.mark.anyio

# step name -> why the answers may differ (where moto departs from SWF).
KNOWN_DEVIATIONS: dict[str, str] = {
    "poll-decision": "moto leaves out previousStartedEventId on a first decision task; SWF sends 0",
    "closed-info": "moto leaves out closeTimestamp of closed executions; SWF sends it",
}

# Behaviour not compared at all, because moto does not model it (SWF-FACTS, "Emulators"):
NOT_COMPARED: dict[str, str] = {
    "empty polls": "moto sleeps 1 s and answers at once; SWF long-polls up to 60 s",
    "cancellation": "moto implements neither the RequestCancelActivityTask decision nor "
    "RespondActivityTaskCanceled; its heartbeats always say cancelRequested false",
    "timeouts": "moto models only the heartbeat timeout, evaluated lazily on later calls",
    "other executions": "moto implements none of the StartChildWorkflowExecution, "
    "SignalExternalWorkflowExecution and RequestCancelExternalWorkflowExecution decisions",
}

Step = tuple[str, str, frozenset[str] | list[str]]


async def _run(client: SWFClient) -> dict[str, Step]:
    """The sequence; each step's outcome is (name, code or 'ok', response members or events)."""
    domain = f"diff-{uuid.uuid4().hex[:8]}"
    outcomes: dict[str, Step] = {}

    async def step(label: str, call: Any, /, **kwargs: Any) -> dict[str, Any]:
        try:
            response = dict(await call(**kwargs))
        except client.exceptions.ClientError as exc:
            outcomes[label] = (label, exc.response["Error"]["Code"], frozenset())
            return {}
        response.pop("ResponseMetadata", None)
        outcomes[label] = (label, "ok", frozenset(response))
        return response

    await step(
        "register-domain",
        client.register_domain,
        name=domain,
        workflowExecutionRetentionPeriodInDays="1",
    )
    await step(
        "register-domain-again",
        client.register_domain,
        name=domain,
        workflowExecutionRetentionPeriodInDays="1",
    )
    await step("describe-unknown-domain", client.describe_domain, name=f"{domain}-none")
    described = await step("describe-domain", client.describe_domain, name=domain)
    outcomes["domain-info"] = ("domain-info", "ok", frozenset(described.get("domainInfo", {})))
    wf = {"name": "wf", "version": "1"}
    act = {"name": "act", "version": "1"}
    await step(
        "register-workflow-type",
        client.register_workflow_type,
        domain=domain,
        **wf,
        defaultTaskList={"name": "d"},
        defaultExecutionStartToCloseTimeout="600",
        defaultTaskStartToCloseTimeout="60",
        defaultChildPolicy="TERMINATE",
    )
    await step("register-workflow-type-again", client.register_workflow_type, domain=domain, **wf)
    await step(
        "register-activity-type",
        client.register_activity_type,
        domain=domain,
        **act,
        defaultTaskList={"name": "a"},
        defaultTaskScheduleToStartTimeout="600",
        defaultTaskScheduleToCloseTimeout="600",
        defaultTaskStartToCloseTimeout="600",
        defaultTaskHeartbeatTimeout="600",
    )
    typed = await step(
        "describe-activity-type", client.describe_activity_type, domain=domain, activityType=act
    )
    outcomes["type-configuration"] = (
        "type-configuration",
        "ok",
        frozenset(typed.get("configuration", {})),
    )
    await step(
        "describe-unknown-type",
        client.describe_activity_type,
        domain=domain,
        activityType={"name": "none", "version": "1"},
    )
    started = await step(
        "start",
        client.start_workflow_execution,
        domain=domain,
        workflowId="w",
        workflowType=wf,
        input="in",
    )
    await step(
        "start-again",
        client.start_workflow_execution,
        domain=domain,
        workflowId="w",
        workflowType=wf,
    )
    task = await step(
        "poll-decision",
        client.poll_for_decision_task,
        domain=domain,
        taskList={"name": "d"},
        identity="decider",
    )
    outcomes["decision-events"] = (
        "decision-events",
        "ok",
        [e["eventType"] for e in task.get("events", [])],
    )
    await step(
        "respond-decision",
        client.respond_decision_task_completed,
        taskToken=task["taskToken"],
        decisions=[
            {
                "decisionType": "ScheduleActivityTask",
                "scheduleActivityTaskDecisionAttributes": {
                    "activityType": act,
                    "activityId": "a1",
                    "input": "x",
                },
            }
        ],
    )
    await step(
        "respond-decision-again",
        client.respond_decision_task_completed,
        taskToken=task["taskToken"],
        decisions=[],
    )
    pending = await step(
        "count-pending", client.count_pending_activity_tasks, domain=domain, taskList={"name": "a"}
    )
    outcomes["pending-count"] = ("pending-count", "ok", [str(pending.get("count"))])
    activity = await step(
        "poll-activity",
        client.poll_for_activity_task,
        domain=domain,
        taskList={"name": "a"},
        identity="worker",
    )
    await step(
        "heartbeat",
        client.record_activity_task_heartbeat,
        taskToken=activity["taskToken"],
        details="half",
    )
    await step(
        "complete",
        client.respond_activity_task_completed,
        taskToken=activity["taskToken"],
        result="r",
    )
    await step(
        "complete-again",
        client.respond_activity_task_completed,
        taskToken=activity["taskToken"],
        result="r",
    )
    await step(
        "complete-unknown-token", client.respond_activity_task_failed, taskToken="not-a-token"
    )
    execution = {"workflowId": "w", "runId": started["runId"]}
    events = await step(
        "history", client.get_workflow_execution_history, domain=domain, execution=execution
    )
    outcomes["history-events"] = (
        "history-events",
        "ok",
        [e["eventType"] for e in events.get("events", [])],
    )
    for event in events.get("events", []):
        if event["eventType"] in ("ActivityTaskStarted", "ActivityTaskCompleted"):
            key = event["eventType"][0].lower() + event["eventType"][1:] + "EventAttributes"
            name = f"attributes-{event['eventType']}"
            outcomes[name] = (name, "ok", frozenset(event[key]))
    detail = await step(
        "describe-execution", client.describe_workflow_execution, domain=domain, execution=execution
    )
    outcomes["open-counts"] = ("open-counts", "ok", frozenset(detail.get("openCounts", {})))
    await step(
        "signal",
        client.signal_workflow_execution,
        domain=domain,
        workflowId="w",
        signalName="s",
        input="i",
    )
    await step(
        "list-open",
        client.list_open_workflow_executions,
        domain=domain,
        startTimeFilter={"oldestDate": 0},
    )
    await step("terminate", client.terminate_workflow_execution, domain=domain, workflowId="w")
    # moto fails with HTTP 500 on a signal without input (a KeyError): always send one.
    await step(
        "signal-closed",
        client.signal_workflow_execution,
        domain=domain,
        workflowId="w",
        signalName="s",
        input="i",
    )
    await step(
        "terminate-closed", client.terminate_workflow_execution, domain=domain, workflowId="w"
    )
    closed = await step(
        "list-closed",
        client.list_closed_workflow_executions,
        domain=domain,
        startTimeFilter={"oldestDate": 0},
    )
    infos = closed.get("executionInfos", [{}])
    outcomes["closed-info"] = ("closed-info", "ok", frozenset(infos[0]) - {"cancelRequested"})
    await step("deprecate-domain", client.deprecate_domain, name=domain)
    await step("deprecate-domain-again", client.deprecate_domain, name=domain)
    return outcomes


async def test_local_endpoint_answers_like_moto(moto_url: str, endpoint: LocalEndpoint) -> None:
    async with swf_client(moto_url) as moto, swf_client(endpoint.url) as local:
        expected = await _run(moto)
        actual = await _run(local)
    assert set(expected) == set(actual)
    differences = {
        name: (expected[name], actual[name])
        for name in expected
        if name not in KNOWN_DEVIATIONS and expected[name] != actual[name]
    }
    assert differences == {}
