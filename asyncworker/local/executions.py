"""Workflow executions: starting and closing them, their history, retention, ids and timestamps.

History events are appended in their wire form, one dict per event, numbered from 1.

* At most ``MAX_OPEN_EXECUTIONS`` executions are open per domain (``LimitExceededFault``), and
  a history reaching ``MAX_HISTORY_EVENTS`` events is terminated (``EVENT_LIMIT_EXCEEDED``, by
  the engine, at the end of the call that reached it).
* Closed executions are retained for the domain's retention period (days on the endpoint's
  clock; 0 drops them as soon as the call that closed them is over), and at most
  ``MAX_CLOSED_EXECUTIONS`` per domain (oldest dropped first), so that long load tests keep
  bounded memory whatever the period.

``Executions`` changes only the domains' execution indexes and the executions themselves; what
is open in a closing execution (tasks, the decision task) is dropped by the engine.
"""

from __future__ import annotations

import base64
import os
import time
from typing import TYPE_CHECKING, Any, Final

from .errors import LimitExceededFault, UnknownResourceFault
from .model import ChildWorkflow, Domain, Execution, RegisteredType

if TYPE_CHECKING:
    from collections.abc import Callable

    from .store import Store
    from .timers import TimerHeap

MAX_OPEN_EXECUTIONS: Final = 100_000
MAX_HISTORY_EVENTS: Final = 25_000
MAX_CLOSED_EXECUTIONS: Final = 100_000
RETENTION_DAY_SECONDS = 86_400.0
"""A day of retention, in seconds of the endpoint's clock."""

_ATTRIBUTE_KEYS: dict[str, str] = {}


def attribute_key(event_type: str) -> str:
    """The history event member holding ``event_type``'s attributes."""
    key = _ATTRIBUTE_KEYS.get(event_type)
    if key is None:
        key = _ATTRIBUTE_KEYS[event_type] = (
            event_type[0].lower() + event_type[1:] + "EventAttributes"
        )
    return key


def seconds(duration: str | None) -> float | None:
    """A validated SWF duration (``"NONE"`` or integer seconds) as seconds; None for NONE."""
    if duration is None or duration == "NONE":
        return None
    return float(int(duration))


def now_timestamp() -> float:
    """Wall-clock time as SWF sends it: epoch seconds with millisecond precision."""
    return round(time.time(), 3)


def new_run_id() -> str:
    """A run id shaped like SWF's: 44 characters of base64."""
    return base64.b64encode(os.urandom(32)).decode()


def unknown_execution(workflow_id: str, run_id: str | None) -> UnknownResourceFault:
    """The fault for a workflow execution that does not exist or is not open, worded as SWF's."""
    message = f"Unknown execution, workflowId = {workflow_id}"
    if run_id is not None:
        message += f", runId = {run_id}"
    return UnknownResourceFault(message)


def present(source: dict[str, Any], *members: str) -> dict[str, Any]:
    """The members of ``source`` that are set, in the given order."""
    return {member: source[member] for member in members if source.get(member) is not None}


def record(
    execution: Execution,
    event_type: str,
    attributes: dict[str, Any],
    timestamp: float | None = None,
) -> int:
    """Append an event to ``execution``'s history (now, or at ``timestamp``) and return its
    event id."""
    events = execution.events
    event_id = len(events) + 1
    events.append(
        {
            "eventId": event_id,
            "eventTimestamp": now_timestamp() if timestamp is None else timestamp,
            "eventType": event_type,
            attribute_key(event_type): attributes,
        }
    )
    return event_id


def record_started(
    execution: Execution, event_type: str, scheduled_event_id: int, identity: str | None
) -> int:
    """Record a task's ``*TaskStarted`` event (with the poller's identity, if it gave one)."""
    attributes: dict[str, Any] = {"scheduledEventId": scheduled_event_id}
    if identity:
        attributes["identity"] = identity
    return record(execution, event_type, attributes)


def resolve_workflow_settings(
    given: dict[str, Any], defaults: dict[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """Settings of a new run from the request, else the type's defaults.

    Returns the settings and, when one has neither, the name of what is missing as used in
    SWF's ``DEFAULT_<NAME>_UNDEFINED`` causes.
    """
    task_list = (given.get("taskList") or defaults.get("defaultTaskList") or {}).get("name")
    settings: dict[str, Any] = {
        "taskList": task_list,
        "executionStartToCloseTimeout": given.get("executionStartToCloseTimeout")
        or defaults.get("defaultExecutionStartToCloseTimeout"),
        "taskStartToCloseTimeout": given.get("taskStartToCloseTimeout")
        or defaults.get("defaultTaskStartToCloseTimeout"),
        "childPolicy": given.get("childPolicy") or defaults.get("defaultChildPolicy"),
        "taskPriority": given.get("taskPriority") or defaults.get("defaultTaskPriority"),
        "lambdaRole": given.get("lambdaRole") or defaults.get("defaultLambdaRole"),
        "input": given.get("input"),
        "tagList": given.get("tagList"),
    }
    for member, name in (
        ("executionStartToCloseTimeout", "EXECUTION_START_TO_CLOSE_TIMEOUT"),
        ("taskList", "TASK_LIST"),
        ("taskStartToCloseTimeout", "TASK_START_TO_CLOSE_TIMEOUT"),
        ("childPolicy", "CHILD_POLICY"),
    ):
        if not settings[member]:
            return settings, name
    return settings, None


def new_execution(
    domain: Domain,
    workflow_type: RegisteredType,
    workflow_id: str,
    run_id: str,
    settings: dict[str, Any],
    start_timestamp: float,
) -> Execution:
    """An execution's record from resolved ``settings`` (see ``Engine.start_execution``)."""
    return Execution(
        domain=domain,
        workflow_id=workflow_id,
        run_id=run_id,
        workflow_type=workflow_type,
        task_list=settings["taskList"],
        task_priority=settings.get("taskPriority"),
        execution_timeout=settings["executionStartToCloseTimeout"],
        task_timeout=settings["taskStartToCloseTimeout"],
        child_policy=settings["childPolicy"],
        lambda_role=settings.get("lambdaRole"),
        tag_list=list(settings.get("tagList") or ()),
        start_timestamp=start_timestamp,
    )


class Executions:
    """The domains with their executions: lookups, starting, closing and retention."""

    def __init__(self, timers: TimerHeap, on_timeout: Callable[[Execution], None]) -> None:
        self.timers = timers
        # Called when an execution's start-to-close timeout passes.
        self._on_timeout = on_timeout
        self.domains: dict[str, Domain] = {}
        # With ``--db``: the store new histories are written to.
        self.journal: Store | None = None

    def domain(self, name: str) -> Domain:
        """The named domain, or ``UnknownResourceFault``."""
        domain = self.domains.get(name)
        if domain is None:
            raise UnknownResourceFault(f"Unknown domain: {name}")
        return domain

    def open_execution(self, domain: Domain, workflow_id: str, run_id: str | None) -> Execution:
        """The open execution of ``workflow_id`` (and ``run_id`` when given)."""
        execution = domain.open_executions.get(workflow_id)
        if execution is None or (run_id is not None and execution.run_id != run_id):
            raise unknown_execution(workflow_id, run_id)
        return execution

    def start(
        self,
        domain: Domain,
        workflow_type: RegisteredType,
        workflow_id: str,
        settings: dict[str, Any],
        run_id: str | None = None,
        parent: ChildWorkflow | None = None,
    ) -> Execution:
        """Open a new run with resolved ``settings``: record ``WorkflowExecutionStarted``,
        index it and arm its timeout (its first decision task is the engine's). ``parent`` is
        the parent's record of a child execution."""
        if len(domain.open_executions) >= MAX_OPEN_EXECUTIONS:
            raise LimitExceededFault("Limit of open workflow executions reached for this domain")
        run_id = run_id or new_run_id()
        execution = new_execution(
            domain, workflow_type, workflow_id, run_id, settings, now_timestamp()
        )
        execution.parent = parent
        if self.journal is not None:
            execution.events = self.journal.events(domain.name, workflow_id, run_id)
        attributes: dict[str, Any] = {
            "executionStartToCloseTimeout": execution.execution_timeout,
            "taskStartToCloseTimeout": execution.task_timeout,
            "childPolicy": execution.child_policy,
            "taskList": {"name": execution.task_list},
            "workflowType": workflow_type.key(),
        }
        if parent is not None:
            attributes["parentWorkflowExecution"] = parent.parent.ref()
        # SWF sends 0 for an execution no parent started.
        attributes["parentInitiatedEventId"] = 0 if parent is None else parent.initiated_event_id
        for member in ("input", "taskPriority", "tagList", "lambdaRole", "continuedExecutionRunId"):
            value = settings.get(member)
            if value is not None:
                attributes[member] = value
        record(execution, "WorkflowExecutionStarted", attributes)
        domain.executions[(workflow_id, run_id)] = execution
        domain.open_executions[workflow_id] = execution
        limit = seconds(execution.execution_timeout)
        if limit is not None:
            execution.timeout = self.timers.call_later(limit, self._on_timeout, execution)
        return execution

    def close(
        self, execution: Execution, status: str, event_type: str, attributes: dict[str, Any]
    ) -> int:
        """Record the close event, take the execution out of the open ones, stop its timeout
        and user timers, and retain it; returns the close event's id."""
        event_id = record(execution, event_type, attributes)
        execution.close_status = status
        execution.close_timestamp = now_timestamp()
        domain = execution.domain
        if domain.open_executions.get(execution.workflow_id) is execution:
            del domain.open_executions[execution.workflow_id]
        if execution.timeout is not None:
            execution.timeout.cancel()
            execution.timeout = None
        for user_timer in execution.timers.values():
            user_timer.handle.cancel()
        execution.timers.clear()
        self._retain(domain, execution)
        return event_id

    def _retain(self, domain: Domain, execution: Execution) -> None:
        ends = self.timers.time() + int(domain.retention_days) * RETENTION_DAY_SECONDS
        self.retain(domain, execution, ends)

    def retain(self, domain: Domain, execution: Execution, ends: float) -> None:
        """Keep a closed execution until ``ends`` (endpoint clock), within the count cap."""
        key = (execution.workflow_id, execution.run_id)
        closed = domain.closed_order
        closed[key] = ends
        while len(closed) > MAX_CLOSED_EXECUTIONS:
            oldest, _ = closed.popitem(last=False)
            domain.executions.pop(oldest, None)
        if domain.retention_timer is None:
            domain.retention_timer = self.timers.call_at(ends, self._expire, domain)

    def _expire(self, domain: Domain) -> None:
        """Drop the closed executions whose retention ended; re-arm for the next one."""
        domain.retention_timer = None
        closed = domain.closed_order
        now = self.timers.time()
        while closed:
            key, ends = next(iter(closed.items()))
            if ends > now + 0.001:
                domain.retention_timer = self.timers.call_at(ends, self._expire, domain)
                return
            del closed[key]
            domain.executions.pop(key, None)

    def signal(self, execution: Execution, attributes: dict[str, Any]) -> None:
        """Record ``WorkflowExecutionSignaled`` (the execution then needs a decision)."""
        record(execution, "WorkflowExecutionSignaled", attributes)

    def request_cancel(self, execution: Execution, attributes: dict[str, Any]) -> None:
        """Record ``WorkflowExecutionCancelRequested`` (the execution then needs a decision)."""
        execution.cancel_requested = True
        record(execution, "WorkflowExecutionCancelRequested", attributes)
