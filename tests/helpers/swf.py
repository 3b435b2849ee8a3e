"""SWF from the test side: clients, registration, a scripted decider, histories.

The local endpoint's tests use one domain and types (`DOMAIN`, `WORKFLOW`, `ACTIVITY`); the
daemon's tests start `SCRIPTED_WORKFLOW` executions in a domain of their own with
`start_activities()`. Both decide with `decide()` and build decisions with `schedule()` and
`decision()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asyncworker.testing import swf as testing_swf
from asyncworker.testing.swf import (
    DECISIONS,
    attributes,
    history_events,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from types_aiobotocore_swf import SWFClient


DOMAIN = "test-domain"
# Typed as Any: they are passed as the typed client's TypedDicts and compared as plain dicts.
WORKFLOW: Any = {"name": "wf", "version": "1"}
ACTIVITY: Any = {"name": "act", "version": "1"}
ACTIVITIES = "activities"
ALL_NONE = {
    "scheduleToStartTimeout": "NONE",
    "scheduleToCloseTimeout": "NONE",
    "startToCloseTimeout": "NONE",
    "heartbeatTimeout": "NONE",
}


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


async def history(client: SWFClient, workflow_id: str, run_id: str) -> list[dict[str, Any]]:
    """The whole history of an execution in the test domain, as plain dicts."""
    execution: Any = {"workflowId": workflow_id, "runId": run_id}
    return [dict(event) for event in await history_events(client, DOMAIN, execution)]


def types_of(events: Sequence[dict[str, Any]]) -> list[str]:
    return [event["eventType"] for event in events]


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
    return await testing_swf.start(
        client, workflow_id, domain=domain, workflow=workflow, **settings
    )


def schedule(
    activity_id: str, *, activity_type: Any = ACTIVITY, **attributes: Any
) -> dict[str, Any]:
    """A ScheduleActivityTask decision for `activity_type` (the test activity type)."""
    return testing_swf.schedule(activity_id, activity_type=activity_type, **attributes)


async def decide(
    client: SWFClient, decisions: Sequence[dict[str, Any]], *, domain: str = DOMAIN, **options: Any
) -> dict[str, Any]:
    """`asyncworker.testing.swf.decide` in the test domain unless told another."""
    return await testing_swf.decide(client, decisions, domain=domain, **options)
