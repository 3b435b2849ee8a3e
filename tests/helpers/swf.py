"""SWF calls for one test domain and types: clients, registration, decisions, history."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

if TYPE_CHECKING:
    from types_aiobotocore_swf import SWFClient


DOMAIN = "test-domain"
# Typed as Any: they are passed as the typed client's TypedDicts and compared as plain dicts.
WORKFLOW: Any = {"name": "wf", "version": "1"}
ACTIVITY: Any = {"name": "act", "version": "1"}
DECISIONS = "decisions"
ACTIVITIES = "activities"
ALL_NONE = {
    "scheduleToStartTimeout": "NONE",
    "scheduleToCloseTimeout": "NONE",
    "startToCloseTimeout": "NONE",
    "heartbeatTimeout": "NONE",
}


@asynccontextmanager
async def swf_client(url: str, region: str = "us-east-1") -> AsyncIterator[SWFClient]:
    """An aiobotocore SWF client on ``url`` with a poll-safe read timeout and no retries,
    signing for ``region``."""
    config = AioConfig(
        read_timeout=70, connect_timeout=5, retries={"mode": "standard", "total_max_attempts": 1}
    )
    session = get_session()
    async with session.create_client(
        "swf", endpoint_url=url, region_name=region, config=config
    ) as client:
        yield client


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


async def start(client: SWFClient, workflow_id: str, **settings: Any) -> str:
    """Start an execution of the test workflow type; returns its run id."""
    response = await client.start_workflow_execution(
        domain=DOMAIN, workflowId=workflow_id, workflowType=WORKFLOW, **settings
    )
    return response["runId"]


def schedule(activity_id: str, **attributes: Any) -> dict[str, Any]:
    """A ScheduleActivityTask decision for the test activity type."""
    return {
        "decisionType": "ScheduleActivityTask",
        "scheduleActivityTaskDecisionAttributes": {
            "activityType": ACTIVITY,
            "activityId": activity_id,
            **attributes,
        },
    }


def decision(decision_type: str, **attributes: Any) -> dict[str, Any]:
    """Any decision with its attributes."""
    member = decision_type[0].lower() + decision_type[1:] + "DecisionAttributes"
    return {"decisionType": decision_type, member: attributes}


async def decide(
    client: SWFClient, decisions: Sequence[dict[str, Any]], *, task_list: str = DECISIONS
) -> dict[str, Any]:
    """Poll one decision task (it must come), answer it with ``decisions``; returns the task."""
    task = await client.poll_for_decision_task(
        domain=DOMAIN, taskList={"name": task_list}, identity="decider"
    )
    assert task.get("taskToken"), "expected a decision task"
    await client.respond_decision_task_completed(
        taskToken=task["taskToken"],
        decisions=list(decisions),  # type: ignore[arg-type]
    )
    return dict(task)


async def history(client: SWFClient, workflow_id: str, run_id: str) -> list[dict[str, Any]]:
    """The whole history of an execution."""
    execution: Any = {"workflowId": workflow_id, "runId": run_id}
    response = await client.get_workflow_execution_history(domain=DOMAIN, execution=execution)
    return [dict(event) for event in response["events"]]


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
