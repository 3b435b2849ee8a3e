"""RespondDecisionTaskCompleted: a decider's decisions applied to its workflow execution.

The call first records ``DecisionTaskCompleted``, then applies the decisions in order, each one
recording the event SWF records for it (``ActivityTaskScheduled``, ``TimerStarted``, ...), or its
``*Failed`` event with SWF's cause when it cannot be carried out. A failed decision, like events
that arrived while the decision task was started, makes SWF schedule a new decision task; it is
scheduled after all decisions are recorded, so ``DecisionTaskScheduled`` follows them in the
history. Close decisions (complete, fail, cancel, continue as new) fail with
``UNHANDLED_DECISION`` when events arrived while the decider was deciding, so it sees them first.

Newly scheduled activity tasks are handed to waiting polls only after every decision is
recorded, as SWF's matching happens after the decision task is processed.

Decisions that act on other executions (signals, cancel requests, child workflows: see
``children.py``) record their ``*Initiated`` event here; they are carried out once the call
returned, as SWF carries them out asynchronously, and their outcome is recorded then.

Deviation, with its reason: ``ScheduleLambdaFunction`` fails with
``LAMBDA_SERVICE_NOT_AVAILABLE_IN_REGION`` (there is no Lambda service locally).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, NamedTuple

from . import children
from .errors import UnknownResourceFault, ValidationException
from .executions import attribute_key, new_run_id, present, resolve_workflow_settings, seconds
from .model import ActivityTask, DecisionTask, Event, Execution, RegisteredType, UserTimer
from .quotas import EXECUTION_SCHEDULE_ACTIVITY, TASK_LIST_SCHEDULING

if TYPE_CHECKING:
    from .state import Engine

MAX_OPEN_ACTIVITIES: Final = 1000
MAX_OPEN_TIMERS: Final = 1000

_ACTIVITY_TIMEOUTS: Final = (
    ("scheduleToStartTimeout", "defaultTaskScheduleToStartTimeout", "SCHEDULE_TO_START"),
    ("scheduleToCloseTimeout", "defaultTaskScheduleToCloseTimeout", "SCHEDULE_TO_CLOSE"),
    ("startToCloseTimeout", "defaultTaskStartToCloseTimeout", "START_TO_CLOSE"),
    ("heartbeatTimeout", "defaultTaskHeartbeatTimeout", "HEARTBEAT"),
)


def attributes_member(decision_type: str) -> str:
    """The member of a ``Decision`` holding ``decision_type``'s attributes."""
    return decision_type[0].lower() + decision_type[1:] + "DecisionAttributes"


_CLOSE_DECISIONS: Final = frozenset(
    {
        "CompleteWorkflowExecution",
        "FailWorkflowExecution",
        "CancelWorkflowExecution",
        "ContinueAsNewWorkflowExecution",
    }
)


def check_decisions(decisions: list[dict[str, Any]]) -> None:
    """Reject the whole call for what SWF rejects beyond the model's constraints.

    A close decision must be the last one of the list, and a timer's ``startToFireTimeout`` is
    a number of seconds (``NONE`` is not allowed for it).
    """
    for decision in decisions[:-1]:
        if decision["decisionType"] in _CLOSE_DECISIONS:
            raise ValidationException("Close must be last decision in list")
    for index, decision in enumerate(decisions, 1):
        attributes = decision.get("startTimerDecisionAttributes")
        if decision["decisionType"] == "StartTimer" and attributes is not None:
            delay: str = attributes["startToFireTimeout"]
            if not delay.isdigit():
                raise ValidationException(
                    f"1 validation error detected: Value '{delay}' at 'decisions.{index}.member."
                    "startTimerDecisionAttributes.startToFireTimeout' failed to satisfy "
                    "constraint: Member must be an integer number of seconds"
                )


def respond_decision_task_completed(engine: Engine, request: dict[str, Any]) -> None:
    """Complete a started decision task and apply its decisions."""
    decision_task = engine.started_decision(request["taskToken"])
    decisions: list[dict[str, Any]] = request.get("decisions") or []
    check_decisions(decisions)
    execution = decision_task.execution
    # Events that came while the task was started scheduled the next one: the decider has not
    # seen them, so it may not close the execution (UNHANDLED_DECISION).
    unhandled = execution.next_decision is not None
    completed_id = _complete(engine, decision_task, request)
    applier = _Applier(engine, execution, completed_id, unhandled=unhandled)
    applier.apply_all(decisions)
    _follow_up(engine, applier)


def _complete(engine: Engine, decision_task: DecisionTask, request: dict[str, Any]) -> int:
    """Record ``DecisionTaskCompleted`` (with the context and task-list override) and close
    the decision task; returns the event's id."""
    execution = decision_task.execution
    attributes: dict[str, Any] = {
        "scheduledEventId": decision_task.scheduled_event_id,
        "startedEventId": decision_task.started_event_id,
    }
    context = request.get("executionContext")
    if context is not None:
        attributes["executionContext"] = context
        execution.latest_execution_context = context
    override = request.get("taskList")
    if override is not None:
        attributes["taskList"] = {"name": override["name"]}
        limit = request.get("taskListScheduleToStartTimeout")
        if limit is not None:
            attributes["taskListScheduleToStartTimeout"] = limit
        override_task_list(execution, override["name"], limit)
    completed_id = engine.record(execution, "DecisionTaskCompleted", attributes)
    engine.finish_decision(decision_task)
    execution.decision_pending = False
    return completed_id


def override_task_list(execution: Execution, name: str, limit: str | None) -> None:
    """Send later decision tasks to ``name``: for good, or, with a schedule-to-start ``limit``,
    until a decision task on it times out (the execution then reverts to its task list)."""
    if limit is None or limit == "NONE":
        execution.base_task_list = execution.task_list_timeout = None
    else:
        if execution.base_task_list is None:
            execution.base_task_list = execution.task_list
        execution.task_list_timeout = limit
    if name == execution.base_task_list:
        execution.base_task_list = execution.task_list_timeout = None
    execution.task_list = name


def _follow_up(engine: Engine, applier: _Applier) -> None:
    """Once every decision is recorded: the next decision task (the held one, or a new one if
    a decision or an event needs it), then the new activity tasks offered to the polls."""
    execution = applier.execution
    needed = applier.needs_decision or execution.decision_pending
    execution.decision_pending = False
    if execution.is_open and not engine.release_decision(execution) and needed:
        engine.schedule_decision(execution)
    for task in applier.scheduled:
        engine.offer_activity(task)
    engine.enforce_history_limit(execution)


class _Applier:
    """Applies one decision task's decisions to its execution."""

    def __init__(self, engine: Engine, execution: Execution, completed_id: int, *, unhandled: bool):
        self.engine = engine
        self.execution = execution
        self.completed_id = completed_id
        self.unhandled = unhandled
        self.needs_decision = False
        self.scheduled: list[ActivityTask] = []

    def apply_all(self, decisions: list[dict[str, Any]]) -> None:
        """Apply the decisions in order, until one closes the execution. Decision tasks the
        execution needs meanwhile are deferred to ``_follow_up``."""
        engine = self.engine
        execution = self.execution
        engine.applying = execution
        try:
            for decision in decisions:
                if not execution.is_open:
                    break
                self.apply(decision)
        finally:
            engine.applying = None

    def apply(self, decision: dict[str, Any]) -> None:
        decision_type: str = decision["decisionType"]
        attributes: dict[str, Any] = decision.get(attributes_member(decision_type)) or {}
        handler = getattr(self, "_" + decision_type)
        handler(attributes)

    def _record(self, event_type: str, attributes: dict[str, Any]) -> int:
        attributes["decisionTaskCompletedEventId"] = self.completed_id
        return self.engine.record(self.execution, event_type, attributes)

    def _fail(self, event_type: str, attributes: dict[str, Any], cause: str) -> None:
        attributes["cause"] = cause
        self._record(event_type, attributes)
        self.needs_decision = True

    # ------------------------------------------------------------------ activities

    def _ScheduleActivityTask(self, attributes: dict[str, Any]) -> None:
        activity_type = attributes["activityType"]
        activity_id: str = attributes["activityId"]
        resolved = self._resolve_activity(attributes)
        if isinstance(resolved, str):
            failed = {"activityType": activity_type, "activityId": activity_id}
            self._fail("ScheduleActivityTaskFailed", failed, resolved)
            return
        task_list, timeouts, priority = resolved
        event: dict[str, Any] = {"activityType": activity_type, "activityId": activity_id}
        for member in ("input", "control"):
            if attributes.get(member) is not None:
                event[member] = attributes[member]
        event.update(timeouts)
        event["taskList"] = {"name": task_list}
        if priority is not None:
            event["taskPriority"] = priority
        scheduled_id = self._record("ActivityTaskScheduled", event)
        task = ActivityTask(
            execution=self.execution,
            activity_id=activity_id,
            activity_type=activity_type,
            input=attributes.get("input"),
            task_list=task_list,
            priority=int(priority) if priority else 0,
            scheduled_event_id=scheduled_id,
            schedule_to_start=seconds(timeouts["scheduleToStartTimeout"]),
            schedule_to_close=seconds(timeouts["scheduleToCloseTimeout"]),
            start_to_close=seconds(timeouts["startToCloseTimeout"]),
            heartbeat=seconds(timeouts["heartbeatTimeout"]),
        )
        self.execution.activities[activity_id] = task
        self.engine.activities.arm_schedule_to_close(task)
        self.scheduled.append(task)

    def _resolve_activity(
        self, attributes: dict[str, Any]
    ) -> tuple[str, dict[str, str], str | None] | str:
        """The task list, timeouts and priority of a task to schedule, the decision's or its
        type's defaults; or the cause of ``ScheduleActivityTaskFailed``. The scheduling rate
        is checked (and spent) last, once nothing else fails."""
        activity_type = attributes["activityType"]
        registered = self.execution.domain.activity_types.get(
            (activity_type["name"], activity_type["version"])
        )
        if registered is None:
            return "ACTIVITY_TYPE_DOES_NOT_EXIST"
        cause = self._unschedulable(registered, attributes["activityId"])
        if cause is not None:
            return cause
        config = registered.configuration
        task_list = (attributes.get("taskList") or config.get("defaultTaskList") or {}).get("name")
        if not task_list:
            return "DEFAULT_TASK_LIST_UNDEFINED"
        timeouts: dict[str, str] = {}
        for member, default, kind in _ACTIVITY_TIMEOUTS:
            value = attributes.get(member) or config.get(default)
            if not value:
                return f"DEFAULT_{kind}_TIMEOUT_UNDEFINED"
            timeouts[member] = value
        if not self._within_scheduling_rate(task_list):
            return "ACTIVITY_CREATION_RATE_EXCEEDED"
        return (
            task_list,
            timeouts,
            attributes.get("taskPriority") or config.get("defaultTaskPriority"),
        )

    def _unschedulable(self, registered: RegisteredType, activity_id: str) -> str | None:
        """Why no task of the registered type can be scheduled with this id now, or None."""
        if registered.status != "REGISTERED":
            return "ACTIVITY_TYPE_DEPRECATED"
        activities = self.execution.activities
        if activity_id in activities:
            return "ACTIVITY_ID_ALREADY_IN_USE"
        if len(activities) >= MAX_OPEN_ACTIVITIES:
            return "OPEN_ACTIVITIES_LIMIT_EXCEEDED"
        return None

    def _within_scheduling_rate(self, task_list: str) -> bool:
        engine = self.engine
        if not engine.quotas.enabled:
            return True
        now = engine.timers.time()
        execution = self.execution
        if execution.schedule_bucket is None:
            execution.schedule_bucket = engine.quotas.bucket(EXECUTION_SCHEDULE_ACTIVITY, now)
        list_bucket = engine.scheduling_bucket(execution.domain, task_list, TASK_LIST_SCHEDULING)
        execution_ok = execution.schedule_bucket is None or execution.schedule_bucket.take(now)
        return execution_ok and (list_bucket is None or list_bucket.take(now))

    def _RequestCancelActivityTask(self, attributes: dict[str, Any]) -> None:
        activity_id: str = attributes["activityId"]
        task = self.execution.activities.get(activity_id)
        if task is None:
            self._fail(
                "RequestCancelActivityTaskFailed",
                {"activityId": activity_id},
                "ACTIVITY_ID_UNKNOWN",
            )
            return
        requested_id = self._record("ActivityTaskCancelRequested", {"activityId": activity_id})
        task.latest_cancel_requested_event_id = requested_id
        if task.started_event_id:
            task.cancel_requested = True
            return
        # Not yet handed to a worker: SWF cancels it at once.
        self.engine.discard_activity(task)
        self.engine.record(
            self.execution,
            "ActivityTaskCanceled",
            {
                "scheduledEventId": task.scheduled_event_id,
                "startedEventId": 0,
                "latestCancelRequestedEventId": requested_id,
            },
        )
        self.needs_decision = True

    # ------------------------------------------------------------------ closing the execution

    def _close(
        self, failed_event: str, status: str, event: str, attributes: dict[str, Any]
    ) -> None:
        if self.unhandled:
            self._fail(failed_event, {}, "UNHANDLED_DECISION")
            return
        attributes["decisionTaskCompletedEventId"] = self.completed_id
        self.engine.close(self.execution, status, event, attributes)

    def _CompleteWorkflowExecution(self, attributes: dict[str, Any]) -> None:
        event = present(attributes, "result")
        self._close(
            "CompleteWorkflowExecutionFailed", "COMPLETED", "WorkflowExecutionCompleted", event
        )

    def _FailWorkflowExecution(self, attributes: dict[str, Any]) -> None:
        event = present(attributes, "reason", "details")
        self._close("FailWorkflowExecutionFailed", "FAILED", "WorkflowExecutionFailed", event)

    def _CancelWorkflowExecution(self, attributes: dict[str, Any]) -> None:
        event = present(attributes, "details")
        self._close("CancelWorkflowExecutionFailed", "CANCELED", "WorkflowExecutionCanceled", event)

    def _ContinueAsNewWorkflowExecution(self, attributes: dict[str, Any]) -> None:
        failed = "ContinueAsNewWorkflowExecutionFailed"
        if self.unhandled:
            return self._fail(failed, {}, "UNHANDLED_DECISION")
        execution = self.execution
        current = execution.workflow_type
        version = attributes.get("workflowTypeVersion") or current.version
        registered = execution.domain.workflow_types.get((current.name, version))
        if registered is None:
            return self._fail(failed, {}, "WORKFLOW_TYPE_DOES_NOT_EXIST")
        if registered.status != "REGISTERED":
            return self._fail(failed, {}, "WORKFLOW_TYPE_DEPRECATED")
        settings, missing = resolve_workflow_settings(attributes, registered.configuration)
        if missing:
            return self._fail(failed, {}, f"DEFAULT_{missing}_UNDEFINED")
        run_id = new_run_id()
        event: dict[str, Any] = {
            "newExecutionRunId": run_id,
            "taskList": {"name": settings["taskList"]},
            "childPolicy": settings["childPolicy"],
            "workflowType": registered.key(),
            "executionStartToCloseTimeout": settings["executionStartToCloseTimeout"],
            "taskStartToCloseTimeout": settings["taskStartToCloseTimeout"],
        }
        event.update(present(settings, "input", "taskPriority", "tagList", "lambdaRole"))
        event["decisionTaskCompletedEventId"] = self.completed_id
        engine = self.engine
        engine.close(execution, "CONTINUED_AS_NEW", "WorkflowExecutionContinuedAsNew", event)
        settings["continuedExecutionRunId"] = execution.run_id
        engine.start_execution(
            execution.domain, registered, execution.workflow_id, settings, run_id, execution.parent
        )
        return None

    # ------------------------------------------------------------------ timers and markers

    def _StartTimer(self, attributes: dict[str, Any]) -> None:
        execution = self.execution
        timer_id: str = attributes["timerId"]
        if timer_id in execution.timers:
            self._fail("StartTimerFailed", {"timerId": timer_id}, "TIMER_ID_ALREADY_IN_USE")
            return
        if len(execution.timers) >= MAX_OPEN_TIMERS:
            self._fail("StartTimerFailed", {"timerId": timer_id}, "OPEN_TIMERS_LIMIT_EXCEEDED")
            return
        event = {"timerId": timer_id, **present(attributes, "control")}
        event["startToFireTimeout"] = attributes["startToFireTimeout"]
        started_id = self._record("TimerStarted", event)
        delay = float(int(attributes["startToFireTimeout"]))
        handle = self.engine.timers.call_later(delay, timer_fired, self.engine, execution, timer_id)
        execution.timers[timer_id] = UserTimer(timer_id, started_id, handle)

    def _CancelTimer(self, attributes: dict[str, Any]) -> None:
        timer_id: str = attributes["timerId"]
        user_timer = self.execution.timers.pop(timer_id, None)
        if user_timer is None:
            self._fail("CancelTimerFailed", {"timerId": timer_id}, "TIMER_ID_UNKNOWN")
            return
        user_timer.handle.cancel()
        self._record(
            "TimerCanceled", {"timerId": timer_id, "startedEventId": user_timer.started_event_id}
        )

    def _RecordMarker(self, attributes: dict[str, Any]) -> None:
        self._record("MarkerRecorded", present(attributes, "markerName", "details"))

    # ------------------------------------------------------------------ other executions

    def _SignalExternalWorkflowExecution(self, attributes: dict[str, Any]) -> None:
        initiated = present(attributes, "workflowId", "runId", "signalName", "input", "control")
        initiated_id = self._record("SignalExternalWorkflowExecutionInitiated", initiated)
        self.engine.defer(_deliver_signal, self._external(attributes, initiated_id))

    def _RequestCancelExternalWorkflowExecution(self, attributes: dict[str, Any]) -> None:
        initiated = present(attributes, "workflowId", "runId", "control")
        initiated_id = self._record("RequestCancelExternalWorkflowExecutionInitiated", initiated)
        self.engine.defer(_deliver_cancel_request, self._external(attributes, initiated_id))

    def _external(self, attributes: dict[str, Any], initiated_id: int) -> _External:
        return _External(self.engine, self.execution, self.completed_id, initiated_id, attributes)

    def _StartChildWorkflowExecution(self, attributes: dict[str, Any]) -> None:
        failed = {
            "workflowType": attributes["workflowType"],
            "workflowId": attributes["workflowId"],
            "initiatedEventId": 0,
            **present(attributes, "control"),
        }
        resolved = children.resolve(self.execution, attributes)
        if isinstance(resolved, str):
            self._fail("StartChildWorkflowExecutionFailed", failed, resolved)
            return
        registered, settings = resolved
        initiated = children.initiated_attributes(attributes, registered, settings)
        initiated_id = self._record("StartChildWorkflowExecutionInitiated", initiated)
        child = children.initiate(self.execution, attributes["workflowId"], initiated_id)
        failed["initiatedEventId"] = initiated_id
        failed["decisionTaskCompletedEventId"] = self.completed_id
        self.engine.defer(children.start, self.engine, child, registered, settings, failed)

    def _ScheduleLambdaFunction(self, attributes: dict[str, Any]) -> None:
        failed = present(attributes, "id", "name")
        self._fail("ScheduleLambdaFunctionFailed", failed, "LAMBDA_SERVICE_NOT_AVAILABLE_IN_REGION")


class _External(NamedTuple):
    """A signal or cancel request one execution's decision sends to another, delivered after
    the deciding call returned."""

    engine: Engine
    source: Execution
    completed_id: int
    initiated_id: int
    attributes: dict[str, Any]

    def target(self, decision: str) -> Execution | None:
        """The open target execution; None after reporting ``<decision>Failed``."""
        attributes = self.attributes
        try:
            return self.engine.open_execution(
                self.source.domain, attributes["workflowId"], attributes.get("runId")
            )
        except UnknownResourceFault:
            failed = present(attributes, "workflowId", "runId")
            failed["cause"] = "UNKNOWN_EXTERNAL_WORKFLOW_EXECUTION"
            failed["initiatedEventId"] = self.initiated_id
            failed["decisionTaskCompletedEventId"] = self.completed_id
            failed.update(present(attributes, "control"))
            self.report(f"{decision}Failed", failed)
            return None

    def delivered(self, event_type: str, target: Execution) -> None:
        """Report the delivery to ``target`` in the source."""
        self.report(
            event_type, {"workflowExecution": target.ref(), "initiatedEventId": self.initiated_id}
        )

    def report(self, event_type: str, attributes: dict[str, Any]) -> None:
        """Record the outcome in the source, if still open, and give it a decision task."""
        source = self.source
        if source.is_open:
            engine = self.engine
            engine.record(source, event_type, attributes)
            engine.schedule_decision(source)
            engine.enforce_history_limit(source)


def deliver_later(engine: Engine, source: Execution, initiated: Event) -> None:
    """Deliver the signal or cancel request of a ``*Initiated`` event after this call."""
    attributes = initiated[attribute_key(initiated["eventType"])]
    external = _External(
        engine,
        source,
        attributes["decisionTaskCompletedEventId"],
        initiated["eventId"],
        attributes,
    )
    if initiated["eventType"] == "SignalExternalWorkflowExecutionInitiated":
        engine.defer(_deliver_signal, external)
    else:
        engine.defer(_deliver_cancel_request, external)


def _deliver_signal(external: _External) -> None:
    target = external.target("SignalExternalWorkflowExecution")
    if target is not None:
        signal = present(external.attributes, "signalName", "input")
        signal["externalWorkflowExecution"] = external.source.ref()
        signal["externalInitiatedEventId"] = external.initiated_id
        external.engine.signal(target, signal)
        external.delivered("ExternalWorkflowExecutionSignaled", target)


def _deliver_cancel_request(external: _External) -> None:
    target = external.target("RequestCancelExternalWorkflowExecution")
    if target is not None:
        request = {
            "externalWorkflowExecution": external.source.ref(),
            "externalInitiatedEventId": external.initiated_id,
        }
        external.engine.request_cancel(target, request)
        external.delivered("ExternalWorkflowExecutionCancelRequested", target)


def timer_fired(engine: Engine, execution: Execution, timer_id: str) -> None:
    """A user timer fired: record ``TimerFired`` and schedule a decision task."""
    user_timer = execution.timers.pop(timer_id, None)
    if user_timer is None or not execution.is_open:
        return
    engine.record(
        execution,
        "TimerFired",
        {"timerId": timer_id, "startedEventId": user_timer.started_event_id},
    )
    engine.schedule_decision(execution)
    engine.enforce_history_limit(execution)
