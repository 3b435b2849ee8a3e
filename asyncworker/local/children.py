"""Child workflow executions: the StartChildWorkflowExecution decision, and what a closing child
or parent does to the other.

* The decision is checked as it is applied: an unknown or deprecated workflow type, a setting
  with neither a value nor a type default, or ``MAX_OPEN_CHILDREN`` open children already fail
  it at once, with ``StartChildWorkflowExecutionFailed`` and ``initiatedEventId`` 0 (SWF records
  no ``StartChildWorkflowExecutionInitiated`` for those).
* Otherwise ``StartChildWorkflowExecutionInitiated`` is recorded and the child is started after
  the deciding call returns, as SWF starts it asynchronously. The parent then records
  ``ChildWorkflowExecutionStarted``, or ``StartChildWorkflowExecutionFailed`` with the initiated
  event's id when the workflowId is already open (``WORKFLOW_ALREADY_RUNNING``) or the domain
  is full (``OPEN_WORKFLOWS_LIMIT_EXCEEDED``), and gets a decision task.
* The child's ``WorkflowExecutionStarted`` names its parent (``parentWorkflowExecution``,
  ``parentInitiatedEventId``), and so do describe and the list calls (``parent``).
* When the child closes, the parent records ``ChildWorkflowExecutionCompleted``, ``Failed``,
  ``TimedOut``, ``Canceled`` or ``Terminated`` with the initiated and started event ids, and
  gets a decision task. A child that continues as new stays the child: the new run names the
  same parent, and the parent hears of the run that finally closes.
* When the parent closes, whichever way, its child policy is applied to its open children:
  ``TERMINATE`` terminates them and ``REQUEST_CANCEL`` records ``WorkflowExecutionCancelRequested``
  in each (both with the cause ``CHILD_POLICY_APPLIED``); ``ABANDON`` leaves them running. The
  policy is the execution's, or the one TerminateWorkflowExecution gave; a child initiated but not
  yet started when its parent closed gets the policy as soon as it starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from .errors import LimitExceededFault
from .executions import MAX_OPEN_EXECUTIONS, present, resolve_workflow_settings
from .model import ChildWorkflow, Execution, RegisteredType

if TYPE_CHECKING:
    from .state import Engine

MAX_OPEN_CHILDREN: Final = 1000

# A child's close status -> the parent's event and the members it copies from the close event.
_CLOSED_EVENTS: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "COMPLETED": ("ChildWorkflowExecutionCompleted", ("result",)),
    "FAILED": ("ChildWorkflowExecutionFailed", ("reason", "details")),
    "TIMED_OUT": ("ChildWorkflowExecutionTimedOut", ("timeoutType",)),
    "CANCELED": ("ChildWorkflowExecutionCanceled", ("details",)),
    "TERMINATED": ("ChildWorkflowExecutionTerminated", ()),
}
_POLICY_CAUSE: Final = {"cause": "CHILD_POLICY_APPLIED"}


def resolve(
    parent: Execution, attributes: dict[str, Any]
) -> tuple[RegisteredType, dict[str, Any]] | str:
    """The child's registered type and resolved settings, or the cause of the
    ``StartChildWorkflowExecutionFailed`` recorded at once."""
    workflow_type = attributes["workflowType"]
    registered = parent.domain.workflow_types.get((workflow_type["name"], workflow_type["version"]))
    if registered is None:
        return "WORKFLOW_TYPE_DOES_NOT_EXIST"
    if registered.status != "REGISTERED":
        return "WORKFLOW_TYPE_DEPRECATED"
    settings, missing = resolve_workflow_settings(attributes, registered.configuration)
    if missing is not None:
        return f"DEFAULT_{missing}_UNDEFINED"
    if len(parent.children) >= MAX_OPEN_CHILDREN:
        return "OPEN_CHILDREN_LIMIT_EXCEEDED"
    if len(parent.domain.open_executions) >= MAX_OPEN_EXECUTIONS:
        return "OPEN_WORKFLOWS_LIMIT_EXCEEDED"
    return registered, settings


def initiated_attributes(
    attributes: dict[str, Any], registered: RegisteredType, settings: dict[str, Any]
) -> dict[str, Any]:
    """The ``StartChildWorkflowExecutionInitiated`` attributes: the decision's, completed with
    the type's defaults."""
    event: dict[str, Any] = {"workflowId": attributes["workflowId"]}
    event["workflowType"] = registered.key()
    event.update(present(attributes, "control", "input"))
    event["executionStartToCloseTimeout"] = settings["executionStartToCloseTimeout"]
    event["taskList"] = {"name": settings["taskList"]}
    event.update(present(settings, "taskPriority"))
    event["childPolicy"] = settings["childPolicy"]
    event["taskStartToCloseTimeout"] = settings["taskStartToCloseTimeout"]
    event.update(present(settings, "tagList", "lambdaRole"))
    return event


def initiate(parent: Execution, workflow_id: str, initiated_event_id: int) -> ChildWorkflow:
    """The parent's record of a child just initiated, counted among its open children."""
    child = ChildWorkflow(parent, workflow_id, initiated_event_id)
    parent.children[initiated_event_id] = child
    return child


def start(
    engine: Engine,
    child: ChildWorkflow,
    registered: RegisteredType,
    settings: dict[str, Any],
    failed: dict[str, Any],
) -> None:
    """Start an initiated child (after the deciding call returned) and tell the parent.

    ``failed`` holds the ``StartChildWorkflowExecutionFailed`` attributes to record, with a
    cause, if the child cannot start.
    """
    parent = child.parent
    domain = parent.domain
    if child.workflow_id in domain.open_executions:
        _not_started(engine, child, failed, "WORKFLOW_ALREADY_RUNNING")
        return
    try:
        execution = engine.start_execution(
            domain, registered, child.workflow_id, settings, parent=child
        )
    except LimitExceededFault:
        _not_started(engine, child, failed, "OPEN_WORKFLOWS_LIMIT_EXCEEDED")
        return
    if child.policy_on_start is not None:
        # The parent closed between the decision and now.
        apply_policy(engine, execution, child.policy_on_start)
        return
    child.started_event_id = engine.record(
        parent,
        "ChildWorkflowExecutionStarted",
        {
            "workflowExecution": execution.ref(),
            "workflowType": registered.key(),
            "initiatedEventId": child.initiated_event_id,
        },
    )
    _decide(engine, parent)


def _not_started(engine: Engine, child: ChildWorkflow, failed: dict[str, Any], cause: str) -> None:
    parent = child.parent
    parent.children.pop(child.initiated_event_id, None)
    if parent.is_open:
        failed["cause"] = cause
        engine.record(parent, "StartChildWorkflowExecutionFailed", failed)
        _decide(engine, parent)


def closed(engine: Engine, execution: Execution, status: str, attributes: dict[str, Any]) -> None:
    """An execution closed: tell its parent, and apply its child policy to its children."""
    record = execution.parent
    if record is not None and status != "CONTINUED_AS_NEW":
        _tell_parent(engine, record, execution, status, attributes)
    if execution.children:
        policy: str = execution.child_policy
        if status != "CONTINUED_AS_NEW":  # that event's childPolicy is the new run's
            policy = attributes.get("childPolicy") or policy
        children = list(execution.children.values())
        execution.children.clear()
        for child in children:
            if child.execution is None:
                child.policy_on_start = policy
            else:
                apply_policy(engine, child.execution, policy)


def _tell_parent(
    engine: Engine,
    record: ChildWorkflow,
    execution: Execution,
    status: str,
    attributes: dict[str, Any],
) -> None:
    parent = record.parent
    parent.children.pop(record.initiated_event_id, None)
    if not parent.is_open:
        return
    event_type, members = _CLOSED_EVENTS[status]
    event: dict[str, Any] = {
        "workflowExecution": execution.ref(),
        "workflowType": execution.workflow_type.key(),
    }
    event.update(present(attributes, *members))
    event["initiatedEventId"] = record.initiated_event_id
    event["startedEventId"] = record.started_event_id
    engine.record(parent, event_type, event)
    _decide(engine, parent)


def apply_policy(engine: Engine, execution: Execution, policy: str) -> None:
    """Apply a closed parent's child policy to one of its open children."""
    if not execution.is_open:
        return
    if policy == "TERMINATE":
        attributes = {"childPolicy": execution.child_policy, **_POLICY_CAUSE}
        engine.close(execution, "TERMINATED", "WorkflowExecutionTerminated", attributes)
    elif policy == "REQUEST_CANCEL":
        engine.request_cancel(execution, dict(_POLICY_CAUSE))


def _decide(engine: Engine, parent: Execution) -> None:
    engine.schedule_decision(parent)
    engine.enforce_history_limit(parent)
