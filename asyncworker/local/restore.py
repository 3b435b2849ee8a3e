"""Rebuilding the engine's state from a store (``--db``): histories replayed, clocks re-armed.

Each execution's history is replayed event by event into what is open in it: activity tasks
(queued, or started with their token), the decision task (scheduled, started, or held behind a
started one), user timers, children, a temporary task-list override, and signals, cancel
requests and child starts decided but not yet carried out. Then every deadline is armed again
from the times the events recorded: a timer fires when it was due (at once if that has passed),
a started task still times out at its start-to-close deadline, an execution at its own; only a
heartbeat deadline starts afresh, as heartbeats are not in the history. Queued tasks go back
to their task lists for the next polls, and what was decided but not carried out is carried out.

Closed executions are kept for what is left of their retention period; the others are deleted
from the file.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

from . import children, executions
from .decision_tasks import revert_override
from .decisions import deliver_later, override_task_list, timer_fired
from .executions import attribute_key, new_execution, seconds
from .model import ActivityTask, ChildWorkflow, DecisionTask, Execution, RegisteredType, UserTimer
from .store import StoreError

if TYPE_CHECKING:
    from collections.abc import Callable

    from .model import Domain, Event
    from .state import Engine
    from .store import Loaded, RunKey, Store

_CLOSE_STATUS: Final = {
    "WorkflowExecutionCompleted": "COMPLETED",
    "WorkflowExecutionFailed": "FAILED",
    "WorkflowExecutionCanceled": "CANCELED",
    "WorkflowExecutionTerminated": "TERMINATED",
    "WorkflowExecutionTimedOut": "TIMED_OUT",
    "WorkflowExecutionContinuedAsNew": "CONTINUED_AS_NEW",
}
_ACTIVITY_CLOSED: Final = frozenset(
    {"ActivityTaskCompleted", "ActivityTaskFailed", "ActivityTaskTimedOut", "ActivityTaskCanceled"}
)
_CHILD_ENDED: Final = frozenset(
    {
        "ChildWorkflowExecutionCompleted",
        "ChildWorkflowExecutionFailed",
        "ChildWorkflowExecutionTimedOut",
        "ChildWorkflowExecutionCanceled",
        "ChildWorkflowExecutionTerminated",
        "StartChildWorkflowExecutionFailed",
    }
)
_EXTERNAL_INITIATED: Final = frozenset(
    {"SignalExternalWorkflowExecutionInitiated", "RequestCancelExternalWorkflowExecutionInitiated"}
)
_EXTERNAL_ENDED: Final = frozenset(
    {
        "ExternalWorkflowExecutionSignaled",
        "ExternalWorkflowExecutionCancelRequested",
        "SignalExternalWorkflowExecutionFailed",
        "RequestCancelExternalWorkflowExecutionFailed",
    }
)


def restore(engine: Engine, store: Store) -> None:
    """Load the store into a fresh engine and resume it; journal what follows to the store.
    Raises ``StoreError`` when what the file holds is not a history this endpoint wrote."""
    try:
        _restore(engine, store)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise StoreError(f"{store.path}: unreadable endpoint state ({exc!r})") from exc


def _restore(engine: Engine, store: Store) -> None:
    loaded = store.load()
    for restored in loaded.domains:
        engine.domains[restored.name] = restored
    replays: list[_Replay] = []
    for key, events in loaded.histories.items():
        domain = engine.domains.get(key[0])
        if domain is not None and events:
            replay = _Replay(engine, domain, key, events, loaded.tokens)
            replay.execution.events = store.events(*key)
            list.extend(replay.execution.events, events)  # written already: not journaled again
            domain.executions[key[1:]] = replay.execution
            replays.append(replay)
    for replay in replays:
        _link_parent(replay.execution)
    clock = _Clock(engine)
    closed = [replay.execution for replay in replays if not replay.execution.is_open]
    store.forget(_retain(engine, clock, closed, loaded))
    for replay in replays:
        if replay.execution.is_open:
            replay.resume(clock, store)
    engine.executions.journal = store
    engine.activities.journal = store
    engine.decision_tasks.journal = store


class _Clock:
    """Wall-clock times of events as times of the endpoint's (monotonic) clock."""

    def __init__(self, engine: Engine) -> None:
        self.offset = engine.timers.time() - time.time()

    def loop_time(self, wall: float) -> float:
        return wall + self.offset


def _retain(engine: Engine, clock: _Clock, closed: list[Execution], loaded: Loaded) -> list[int]:
    """Keep the closed executions whose retention has not ended (oldest first, with the count
    cap); returns the rows of those that are gone."""
    closed.sort(key=lambda execution: execution.close_timestamp or 0.0)
    now = engine.timers.time()
    for execution in closed:
        domain = execution.domain
        days = int(domain.retention_days)
        ends = clock.loop_time(
            (execution.close_timestamp or 0.0) + days * executions.RETENTION_DAY_SECONDS
        )
        if ends > now:
            engine.executions.retain(domain, execution, ends)
        else:
            del domain.executions[(execution.workflow_id, execution.run_id)]
    forgotten: list[int] = []
    for key, rowids in loaded.rowids.items():
        owner = engine.domains.get(key[0])
        if owner is None or key[1:] not in owner.executions:
            forgotten.extend(rowids)
    return forgotten


class _Replay:
    """One execution rebuilt from its history."""

    def __init__(
        self,
        engine: Engine,
        domain: Domain,
        key: RunKey,
        events: list[Event],
        tokens: dict[tuple[RunKey, int], str],
    ) -> None:
        self.engine = engine
        self.key = key
        self.tokens = tokens
        self.execution = _execution(domain, key, events[0])
        self.stamps: dict[int, float] = {}
        self.scheduled: dict[int, ActivityTask] = {}
        self.timers: dict[str, tuple[int, float]] = {}
        self.initiated: dict[int, Event] = {}
        self.externals: dict[int, Event] = {}
        for event in events:
            self.stamps[event["eventId"]] = event["eventTimestamp"]
            handler = _HANDLERS.get(event["eventType"])
            if handler is not None:
                handler(self, event, event[attribute_key(event["eventType"])])
            status = _CLOSE_STATUS.get(event["eventType"])
            if status is not None:
                self.closed(status, event["eventTimestamp"])
                break

    def closed(self, status: str, timestamp: float) -> None:
        """The execution closed: nothing in it is open any more, as `Engine.close` leaves a
        closed execution (describe's open counts and the console read these)."""
        execution = self.execution
        execution.close_status = status
        execution.close_timestamp = timestamp
        execution.activities.clear()
        execution.decision = execution.next_decision = None
        execution.children.clear()
        for pending in (self.scheduled, self.timers, self.initiated, self.externals):
            pending.clear()

    # ------------------------------------------------------------------ decision tasks

    def decision_scheduled(self, event: Event, attributes: dict[str, Any]) -> None:
        execution = self.execution
        priority = int(attributes.get("taskPriority") or 0)
        limit = seconds(attributes.get("scheduleToStartTimeout"))
        decision = DecisionTask(
            execution, event["eventId"], priority, attributes["taskList"]["name"], limit
        )
        current = execution.decision
        if current is not None and current.started_event_id:
            execution.next_decision = decision
        else:
            execution.decision = decision

    def decision_started(self, event: Event, attributes: dict[str, Any]) -> None:
        execution = self.execution
        decision = execution.decision
        if decision is not None:
            decision.started_event_id = event["eventId"]
            decision.previous_started_event_id = execution.previous_started_event_id

    def decision_completed(self, event: Event, attributes: dict[str, Any]) -> None:
        execution = self.execution
        execution.previous_started_event_id = attributes["startedEventId"]
        self._decision_closed()
        if attributes.get("executionContext") is not None:
            execution.latest_execution_context = attributes["executionContext"]
        if attributes.get("taskList") is not None:
            limit = attributes.get("taskListScheduleToStartTimeout")
            override_task_list(execution, attributes["taskList"]["name"], limit)

    def decision_timed_out(self, event: Event, attributes: dict[str, Any]) -> None:
        self._decision_closed()
        revert_override(self.execution)

    def _decision_closed(self) -> None:
        execution = self.execution
        execution.decision, execution.next_decision = execution.next_decision, None

    # ------------------------------------------------------------------ activity tasks

    def activity_scheduled(self, event: Event, attributes: dict[str, Any]) -> None:
        execution = self.execution
        task = ActivityTask(
            execution=execution,
            activity_id=attributes["activityId"],
            activity_type=attributes["activityType"],
            input=attributes.get("input"),
            task_list=attributes["taskList"]["name"],
            priority=int(attributes.get("taskPriority") or 0),
            scheduled_event_id=event["eventId"],
            schedule_to_start=seconds(attributes["scheduleToStartTimeout"]),
            schedule_to_close=seconds(attributes["scheduleToCloseTimeout"]),
            start_to_close=seconds(attributes["startToCloseTimeout"]),
            heartbeat=seconds(attributes["heartbeatTimeout"]),
        )
        execution.activities[task.activity_id] = task
        self.scheduled[task.scheduled_event_id] = task

    def activity_started(self, event: Event, attributes: dict[str, Any]) -> None:
        task = self.scheduled.get(attributes["scheduledEventId"])
        if task is not None:
            task.started_event_id = event["eventId"]
            self.execution.latest_activity_task_timestamp = event["eventTimestamp"]

    def activity_closed(self, event: Event, attributes: dict[str, Any]) -> None:
        task = self.scheduled.pop(attributes["scheduledEventId"], None)
        if task is not None:
            self.execution.activities.pop(task.activity_id, None)

    def activity_cancel_requested(self, event: Event, attributes: dict[str, Any]) -> None:
        task = self.execution.activities.get(attributes["activityId"])
        if task is not None:
            task.latest_cancel_requested_event_id = event["eventId"]
            task.cancel_requested = bool(task.started_event_id)

    # ------------------------------------------------------------------ the rest

    def timer_started(self, event: Event, attributes: dict[str, Any]) -> None:
        due = event["eventTimestamp"] + int(attributes["startToFireTimeout"])
        self.timers[attributes["timerId"]] = (event["eventId"], due)

    def timer_ended(self, event: Event, attributes: dict[str, Any]) -> None:
        self.timers.pop(attributes["timerId"], None)

    def cancel_requested(self, event: Event, attributes: dict[str, Any]) -> None:
        self.execution.cancel_requested = True

    def child_initiated(self, event: Event, attributes: dict[str, Any]) -> None:
        children.initiate(self.execution, attributes["workflowId"], event["eventId"])
        self.initiated[event["eventId"]] = event

    def child_started(self, event: Event, attributes: dict[str, Any]) -> None:
        child = self.execution.children.get(attributes["initiatedEventId"])
        if child is not None:
            child.started_event_id = event["eventId"]
        self.initiated.pop(attributes["initiatedEventId"], None)

    def child_ended(self, event: Event, attributes: dict[str, Any]) -> None:
        self.execution.children.pop(attributes["initiatedEventId"], None)
        self.initiated.pop(attributes["initiatedEventId"], None)

    def external_initiated(self, event: Event, attributes: dict[str, Any]) -> None:
        self.externals[event["eventId"]] = event

    def external_ended(self, event: Event, attributes: dict[str, Any]) -> None:
        self.externals.pop(attributes["initiatedEventId"], None)

    # ------------------------------------------------------------------ after the replay

    def resume(self, clock: _Clock, store: Store) -> None:
        """Index the open execution and arm its clocks, tasks and pending deliveries."""
        engine = self.engine
        execution = self.execution
        execution.domain.open_executions[execution.workflow_id] = execution
        limit = seconds(execution.execution_timeout)
        if limit is not None:
            due = clock.loop_time(execution.start_timestamp + limit)
            execution.timeout = engine.timers.call_at(due, engine.execution_timed_out, execution)
        for timer_id, (started_id, due) in self.timers.items():
            handle = engine.timers.call_at(
                clock.loop_time(due), timer_fired, engine, execution, timer_id
            )
            execution.timers[timer_id] = UserTimer(timer_id, started_id, handle)
        for task in execution.activities.values():
            scheduled_at = clock.loop_time(self.stamps[task.scheduled_event_id])
            started_at = None
            if task.started_event_id:
                task.token = self._token(task.started_event_id, store)
                started_at = clock.loop_time(self.stamps[task.started_event_id])
            engine.activities.resume(task, scheduled_at, started_at)
        self._resume_decisions(clock, store)
        for event in self.initiated.values():
            _restart_child(engine, execution, event)
        for event in self.externals.values():
            deliver_later(engine, execution, event)

    def _resume_decisions(self, clock: _Clock, store: Store) -> None:
        execution = self.execution
        decision = execution.decision
        if decision is None:
            return
        if decision.started_event_id:
            decision.token = self._token(decision.started_event_id, store)
            started_at = clock.loop_time(self.stamps[decision.started_event_id])
            self.engine.decision_tasks.resume(decision, started_at)
        else:
            scheduled_at = clock.loop_time(self.stamps[decision.scheduled_event_id])
            self.engine.decision_tasks.resume(decision, scheduled_at)
        if execution.next_decision is not None:
            held = execution.domain.held_decisions
            task_list = execution.next_decision.task_list
            held[task_list] = held.get(task_list, 0) + 1

    def _token(self, started_event_id: int, store: Store) -> str:
        """The started task's token from the file (a fresh one if it was never written), kept
        for the next start."""
        token = self.tokens.get((self.key, started_event_id)) or self.engine.issuer.new()
        store.token(token, self.execution, started_event_id)
        return token


_HANDLERS: Final[dict[str, Callable[[_Replay, Event, dict[str, Any]], None]]] = {
    "DecisionTaskScheduled": _Replay.decision_scheduled,
    "DecisionTaskStarted": _Replay.decision_started,
    "DecisionTaskCompleted": _Replay.decision_completed,
    "DecisionTaskTimedOut": _Replay.decision_timed_out,
    "ActivityTaskScheduled": _Replay.activity_scheduled,
    "ActivityTaskStarted": _Replay.activity_started,
    **dict.fromkeys(_ACTIVITY_CLOSED, _Replay.activity_closed),
    "ActivityTaskCancelRequested": _Replay.activity_cancel_requested,
    "TimerStarted": _Replay.timer_started,
    "TimerFired": _Replay.timer_ended,
    "TimerCanceled": _Replay.timer_ended,
    "WorkflowExecutionCancelRequested": _Replay.cancel_requested,
    "StartChildWorkflowExecutionInitiated": _Replay.child_initiated,
    "ChildWorkflowExecutionStarted": _Replay.child_started,
    **dict.fromkeys(_CHILD_ENDED, _Replay.child_ended),
    **dict.fromkeys(_EXTERNAL_INITIATED, _Replay.external_initiated),
    **dict.fromkeys(_EXTERNAL_ENDED, _Replay.external_ended),
}


def _link_parent(execution: Execution) -> None:
    """Make an execution its parent's child again, when a parent started it (the latest run
    of a child that continued as new is the one its parent knows)."""
    started = execution.events[0][attribute_key("WorkflowExecutionStarted")]
    ref = started.get("parentWorkflowExecution")
    if ref is None:
        return
    parent = execution.domain.executions.get((ref["workflowId"], ref["runId"]))
    if parent is None:
        return
    child = parent.children.get(started["parentInitiatedEventId"])
    if child is None:  # the child or the parent closed: the child only remembers its parent
        child = ChildWorkflow(parent, execution.workflow_id, started["parentInitiatedEventId"])
    child.execution = execution
    execution.parent = child


def _execution(domain: Domain, key: RunKey, started: Event) -> Execution:
    """The execution as its ``WorkflowExecutionStarted`` event describes it."""
    attributes = started[attribute_key("WorkflowExecutionStarted")]
    workflow_type = attributes["workflowType"]
    registered = domain.workflow_types.get((workflow_type["name"], workflow_type["version"]))
    if registered is None:  # deleted since: keep the name
        registered = RegisteredType(
            "workflow", workflow_type["name"], workflow_type["version"], None, {}, 0.0, "DEPRECATED"
        )
    settings = {**attributes, "taskList": attributes["taskList"]["name"]}
    return new_execution(domain, registered, key[1], key[2], settings, started["eventTimestamp"])


def _restart_child(engine: Engine, parent: Execution, initiated: Event) -> None:
    """Start a child whose start was decided but not carried out before the restart."""
    attributes = initiated[attribute_key("StartChildWorkflowExecutionInitiated")]
    child = parent.children.get(initiated["eventId"])
    workflow_type = attributes["workflowType"]
    registered = parent.domain.workflow_types.get((workflow_type["name"], workflow_type["version"]))
    if child is None or registered is None:
        parent.children.pop(initiated["eventId"], None)
        return
    settings = {
        "taskList": attributes["taskList"]["name"],
        "executionStartToCloseTimeout": attributes["executionStartToCloseTimeout"],
        "taskStartToCloseTimeout": attributes["taskStartToCloseTimeout"],
        "childPolicy": attributes["childPolicy"],
        **{
            member: attributes[member]
            for member in ("taskPriority", "lambdaRole", "input", "tagList")
            if member in attributes
        },
    }
    failed = {
        "workflowType": workflow_type,
        "workflowId": attributes["workflowId"],
        "initiatedEventId": initiated["eventId"],
        "decisionTaskCompletedEventId": attributes["decisionTaskCompletedEventId"],
        **({"control": attributes["control"]} if "control" in attributes else {}),
    }
    engine.defer(children.start, engine, child, registered, settings, failed)
