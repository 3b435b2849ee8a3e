"""Pre-load activity tasks into an endpoint, the way SWF gets them: through a decider.

Each workflow execution's first decision task schedules up to 1,000 activities (SWF's limit of
open activities per execution). The calls go over one raw keep-alive connection
(`benchmarks.endpoint.SwfConnection`), so pre-loading costs the orchestrator little and the
endpoint nothing it would not do for a real decider.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from benchmarks.endpoint import SwfConnection

MAX_OPEN_ACTIVITIES = 1000
WORKFLOW = {"name": "bench-workflow", "version": "1"}
DECISIONS = "bench-decisions"
_workflow_ids = itertools.count()


@dataclass(frozen=True)
class ActivityKind:
    """An activity type to schedule, and the input every task of it gets."""

    name: str
    version: str = "1"
    input: str = "hello"


ECHO = ActivityKind("echo", "1", "hello")


def connect(url: str) -> SwfConnection:
    host, _, port = url.removeprefix("http://").rpartition(":")
    return SwfConnection(host, int(port))


def register(url: str, domain: str, task_list: str, kinds: list[ActivityKind]) -> None:
    """Register the domain, the workflow type and ``kinds`` at ``url``."""
    conn = connect(url)
    try:
        register_on(conn, domain, kinds, task_list)
    finally:
        conn.close()


def register_on(
    conn: SwfConnection, domain: str, kinds: list[ActivityKind], task_list: str
) -> None:
    """Register the domain, the workflow type and ``kinds`` (idempotent on a fresh endpoint)."""
    _idempotent(
        conn, "RegisterDomain", {"name": domain, "workflowExecutionRetentionPeriodInDays": "1"}
    )
    _idempotent(
        conn,
        "RegisterWorkflowType",
        {
            "domain": domain,
            **WORKFLOW,
            "defaultTaskList": {"name": DECISIONS},
            "defaultExecutionStartToCloseTimeout": "86400",
            "defaultTaskStartToCloseTimeout": "600",
            "defaultChildPolicy": "TERMINATE",
        },
    )
    for kind in kinds:
        _idempotent(
            conn,
            "RegisterActivityType",
            {
                "domain": domain,
                "name": kind.name,
                "version": kind.version,
                "defaultTaskList": {"name": task_list},
                "defaultTaskScheduleToStartTimeout": "NONE",
                "defaultTaskScheduleToCloseTimeout": "NONE",
                "defaultTaskStartToCloseTimeout": "3600",
                "defaultTaskHeartbeatTimeout": "NONE",
            },
        )


def _idempotent(conn: SwfConnection, operation: str, body: dict[str, object]) -> None:
    try:
        conn.call(operation, body)
    except RuntimeError as exc:
        if "AlreadyExistsFault" not in str(exc):
            raise


def schedule(
    conn: SwfConnection, domain: str, task_list: str, kind: ActivityKind, count: int
) -> int:
    """Schedule ``count`` tasks of ``kind`` on ``task_list``; returns the executions started."""
    executions = 0
    remaining = count
    while remaining > 0:
        batch = min(remaining, MAX_OPEN_ACTIVITIES)
        workflow_id = f"bench-{next(_workflow_ids)}"
        conn.call(
            "StartWorkflowExecution",
            {"domain": domain, "workflowId": workflow_id, "workflowType": WORKFLOW},
        )
        decision = _decision_task(conn, domain, workflow_id)
        decisions = [
            {
                "decisionType": "ScheduleActivityTask",
                "scheduleActivityTaskDecisionAttributes": {
                    "activityType": {"name": kind.name, "version": kind.version},
                    "activityId": f"a{index}",
                    "input": kind.input,
                    "taskList": {"name": task_list},
                },
            }
            for index in range(batch)
        ]
        conn.call(
            "RespondDecisionTaskCompleted",
            {"taskToken": decision["taskToken"], "decisions": decisions},
        )
        executions += 1
        remaining -= batch
    return executions


def _decision_task(conn: SwfConnection, domain: str, workflow_id: str) -> dict[str, object]:
    """The first decision task of ``workflow_id``, answering any other one found on the way."""
    for _ in range(10_000):
        task = conn.call("PollForDecisionTask", {"domain": domain, "taskList": {"name": DECISIONS}})
        if not task.get("taskToken"):
            continue
        execution = task["workflowExecution"]
        if execution["workflowId"] == workflow_id:
            return task
        conn.call("RespondDecisionTaskCompleted", {"taskToken": task["taskToken"], "decisions": []})
    raise RuntimeError(f"no decision task for {workflow_id}")


def preload(url: str, domain: str, task_list: str, kind: ActivityKind, count: int) -> None:
    """Register everything needed and schedule ``count`` tasks of ``kind`` at ``url``."""
    conn = connect(url)
    try:
        register_on(conn, domain, [kind], task_list)
        schedule(conn, domain, task_list, kind, count)
    finally:
        conn.close()
