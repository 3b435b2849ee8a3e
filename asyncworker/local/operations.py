"""The operation table: every SWF operation name mapped to the function that serves it.

Executions and tasks are served here; registration lives in ``registry.py`` and the read-only
calls in ``visibility.py``. Every handler takes the engine and the validated request and returns
the response structure. The two long polls answer through a ``reply`` callback instead, maybe
much later, and also receive ``is_connected``, telling whether the poll's client is still there, so
that a task handed to a vanished client is counted as lost.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from . import registry, visibility
from .decisions import respond_decision_task_completed
from .errors import (
    DefaultUndefinedFault,
    TypeDeprecatedFault,
    ValidationException,
    WorkflowExecutionAlreadyStartedFault,
)
from .executions import present, resolve_workflow_settings
from .state import Engine

if TYPE_CHECKING:
    from .model import ActivityTask, DecisionTask

SyncHandler = Callable[[Engine, dict[str, Any]], dict[str, Any]]
Reply = Callable[[dict[str, Any]], None]
PollHandler = Callable[[Engine, dict[str, Any], Callable[[], bool], Reply], None]

MAX_EXECUTION_SECONDS: Final = 365 * 24 * 3600
_EMPTY: Final[dict[str, Any]] = {}


# --------------------------------------------------------------------------- executions


def start_workflow_execution(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """StartWorkflowExecution."""
    domain = registry.registered_domain(engine, request["domain"])
    workflow_type = registry.find_type(domain, "workflow", request["workflowType"])
    if workflow_type.status != "REGISTERED":
        raise TypeDeprecatedFault(
            registry.type_name("workflow", workflow_type.name, workflow_type.version)
        )
    workflow_id: str = request["workflowId"]
    if workflow_id in domain.open_executions:
        raise WorkflowExecutionAlreadyStartedFault(
            f"Workflow execution already started: workflowId={workflow_id}"
        )
    settings, missing = resolve_workflow_settings(request, workflow_type.configuration)
    if missing is not None:
        readable = missing.lower().replace("_", " ")
        raise DefaultUndefinedFault(
            f"No {readable} was given and the workflow type has no default {readable}"
        )
    limit = settings["executionStartToCloseTimeout"]
    if limit == "NONE" or int(limit) > MAX_EXECUTION_SECONDS:
        raise ValidationException(
            f"Value '{limit}' at 'executionStartToCloseTimeout' failed to satisfy constraint: "
            f"Member must be an integer number of seconds up to {MAX_EXECUTION_SECONDS}"
        )
    execution = engine.start_execution(domain, workflow_type, workflow_id, settings)
    return {"runId": execution.run_id}


def signal_workflow_execution(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """SignalWorkflowExecution."""
    domain = engine.domain(request["domain"])
    execution = engine.open_execution(domain, request["workflowId"], request.get("runId"))
    attributes = present(request, "signalName", "input")
    # Signaled through the API, not by a decision: SWF records 0.
    attributes["externalInitiatedEventId"] = 0
    engine.signal(execution, attributes)
    return _EMPTY


def request_cancel_workflow_execution(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """RequestCancelWorkflowExecution."""
    domain = engine.domain(request["domain"])
    execution = engine.open_execution(domain, request["workflowId"], request.get("runId"))
    engine.request_cancel(execution, {"externalInitiatedEventId": 0})
    return _EMPTY


def terminate_workflow_execution(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """TerminateWorkflowExecution."""
    domain = engine.domain(request["domain"])
    execution = engine.open_execution(domain, request["workflowId"], request.get("runId"))
    attributes = present(request, "reason", "details")
    attributes["childPolicy"] = request.get("childPolicy") or execution.child_policy
    engine.close(execution, "TERMINATED", "WorkflowExecutionTerminated", attributes)
    return _EMPTY


# --------------------------------------------------------------------------- decision tasks


def poll_for_decision_task(
    engine: Engine, request: dict[str, Any], is_connected: Callable[[], bool], reply: Reply
) -> None:
    """PollForDecisionTask: a long poll, or the next history page of a task already held."""
    if request.get("nextPageToken"):
        reply(visibility.decision_page(engine, request))
        return
    domain = engine.domain(request["domain"])
    task_list = domain.decision_list(request["taskList"]["name"])

    def deliver(decision: DecisionTask | None) -> None:
        if decision is None:
            reply({"startedEventId": 0, "previousStartedEventId": 0})
            return
        if not is_connected():
            engine.mark_lost(decision)
        reply(visibility.decision_task_response(decision, request))

    engine.poll(task_list, request.get("identity"), is_connected, engine.start_decision, deliver)


def _respond_decision(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    respond_decision_task_completed(engine, request)
    return _EMPTY


# --------------------------------------------------------------------------- activity tasks


def poll_for_activity_task(
    engine: Engine, request: dict[str, Any], is_connected: Callable[[], bool], reply: Reply
) -> None:
    """PollForActivityTask: waits up to the poll timeout for a task of the task list."""
    domain = engine.domain(request["domain"])
    task_list = domain.activity_list(request["taskList"]["name"])

    def deliver(task: ActivityTask | None) -> None:
        if task is None:
            reply({"startedEventId": 0})
            return
        if not is_connected():
            engine.mark_lost(task)
        reply(activity_task_response(task))

    engine.poll(task_list, request.get("identity"), is_connected, engine.start_activity, deliver)


def activity_task_response(task: ActivityTask) -> dict[str, Any]:
    """The ``ActivityTask`` structure a poll answers with."""
    response: dict[str, Any] = {
        "taskToken": task.token,
        "activityId": task.activity_id,
        "startedEventId": task.started_event_id,
        "workflowExecution": task.execution.ref(),
        "activityType": task.activity_type,
    }
    if task.input is not None:
        response["input"] = task.input
    return response


def respond_activity_task_completed(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """RespondActivityTaskCompleted."""
    task = engine.started_activity(request["taskToken"])
    engine.close_activity(task, "ActivityTaskCompleted", present(request, "result"))
    return _EMPTY


def respond_activity_task_failed(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """RespondActivityTaskFailed."""
    task = engine.started_activity(request["taskToken"])
    engine.close_activity(task, "ActivityTaskFailed", present(request, "reason", "details"))
    return _EMPTY


def respond_activity_task_canceled(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """RespondActivityTaskCanceled (accepted whether or not cancellation was requested)."""
    task = engine.started_activity(request["taskToken"])
    attributes = present(request, "details")
    if task.latest_cancel_requested_event_id:
        attributes["latestCancelRequestedEventId"] = task.latest_cancel_requested_event_id
    engine.close_activity(task, "ActivityTaskCanceled", attributes)
    return _EMPTY


def record_activity_task_heartbeat(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    """RecordActivityTaskHeartbeat: resets the heartbeat clock; reports ``cancelRequested``."""
    task = engine.started_activity(request["taskToken"])
    return {"cancelRequested": engine.heartbeat(task, request.get("details"))}


# --------------------------------------------------------------------------- the table

SYNC_OPERATIONS: Final[dict[str, SyncHandler]] = {
    "RegisterDomain": registry.register_domain,
    "DescribeDomain": registry.describe_domain,
    "ListDomains": registry.list_domains,
    "DeprecateDomain": registry.deprecate_domain,
    "UndeprecateDomain": registry.undeprecate_domain,
    "RegisterActivityType": partial(registry.register_type, "activity"),
    "DescribeActivityType": partial(registry.describe_type, "activity"),
    "ListActivityTypes": partial(registry.list_types, "activity"),
    "DeprecateActivityType": partial(registry.deprecate_type, "activity"),
    "UndeprecateActivityType": partial(registry.undeprecate_type, "activity"),
    "DeleteActivityType": partial(registry.delete_type, "activity"),
    "RegisterWorkflowType": partial(registry.register_type, "workflow"),
    "DescribeWorkflowType": partial(registry.describe_type, "workflow"),
    "ListWorkflowTypes": partial(registry.list_types, "workflow"),
    "DeprecateWorkflowType": partial(registry.deprecate_type, "workflow"),
    "UndeprecateWorkflowType": partial(registry.undeprecate_type, "workflow"),
    "DeleteWorkflowType": partial(registry.delete_type, "workflow"),
    "TagResource": registry.tag_resource,
    "UntagResource": registry.untag_resource,
    "ListTagsForResource": registry.list_tags_for_resource,
    "StartWorkflowExecution": start_workflow_execution,
    "SignalWorkflowExecution": signal_workflow_execution,
    "RequestCancelWorkflowExecution": request_cancel_workflow_execution,
    "TerminateWorkflowExecution": terminate_workflow_execution,
    "DescribeWorkflowExecution": visibility.describe_workflow_execution,
    "GetWorkflowExecutionHistory": visibility.get_workflow_execution_history,
    "ListOpenWorkflowExecutions": visibility.list_open_workflow_executions,
    "ListClosedWorkflowExecutions": visibility.list_closed_workflow_executions,
    "CountOpenWorkflowExecutions": visibility.count_open_workflow_executions,
    "CountClosedWorkflowExecutions": visibility.count_closed_workflow_executions,
    "CountPendingActivityTasks": visibility.count_pending_activity_tasks,
    "CountPendingDecisionTasks": visibility.count_pending_decision_tasks,
    "RespondDecisionTaskCompleted": _respond_decision,
    "RespondActivityTaskCompleted": respond_activity_task_completed,
    "RespondActivityTaskFailed": respond_activity_task_failed,
    "RespondActivityTaskCanceled": respond_activity_task_canceled,
    "RecordActivityTaskHeartbeat": record_activity_task_heartbeat,
}

REGISTRY_WRITES: Final = frozenset(
    name
    for name in SYNC_OPERATIONS
    if name.startswith(("Register", "Deprecate", "Undeprecate", "Delete", "Tag", "Untag"))
)
"""The calls that change domains or types (with ``--db``, the domains are written again)."""

POLL_OPERATIONS: Final[dict[str, PollHandler]] = {
    "PollForActivityTask": poll_for_activity_task,
    "PollForDecisionTask": poll_for_decision_task,
}
