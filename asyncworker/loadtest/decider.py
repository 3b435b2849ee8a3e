"""The fan-out decider: schedules each workflow's activities and closes it when they all closed.

Several pollers share one decision task list. Each decision task is read newest-first
(`reverseOrder`) and paged only as far back as `previousStartedEventId`, so a decision costs what
its new events cost, not the whole history. What it needs of older events (when each activity
was scheduled and started) it kept in a small per-workflow record when those events were new.
The latencies come from the events' `eventTimestamp`s: no API call is made per activity.

Decisions per task, from its new events only:
- WorkflowExecutionStarted: schedule every activity of the plan in the workflow's input;
- ActivityTask{Completed,Failed,TimedOut,Canceled} and ScheduleActivityTaskFailed: count the
  activity once (keyed by activity id, so a decision task handed out again counts nothing twice);
  when all of the plan's activities closed, CompleteWorkflowExecution.

SWF hands out at most one decision task per execution at a time, so the per-workflow records
need no locks; their updates never await. A record only changes after SWF acknowledged the
decision it depends on, so a failed RespondDecisionTaskCompleted is simply decided again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import anyio
import structlog

from asyncworker.errors import SwfFault, UnknownResourceFault
from asyncworker.loadtest.calls import RIG_BACKOFF, call, call_with_retries
from asyncworker.loadtest.measure import Measurements, Outcome
from asyncworker.loadtest.workload import PlanError, WorkflowPlan
from asyncworker.swf.faults import retry_delay

if TYPE_CHECKING:
    from collections.abc import Iterable

    from anyio.abc import TaskStatus
    from types_aiobotocore_swf import SWFClient
    from types_aiobotocore_swf.type_defs import DecisionTypeDef

log = structlog.get_logger(__name__)

POLL = "PollForDecisionTask"
RESPOND = "RespondDecisionTaskCompleted"
PAGE_SIZE = 100
"""Events per history page: most decision tasks have only a handful of new events."""
RESPOND_RETRY_WINDOW = 10.0
"""Seconds a history page or a decision is retried on transient faults (inside the decision
task's 30 s timeout)."""

_CLOSING_EVENTS = {
    "ActivityTaskCompleted": Outcome.COMPLETED,
    "ActivityTaskFailed": Outcome.FAILED,
    "ActivityTaskTimedOut": Outcome.TIMED_OUT,
    "ActivityTaskCanceled": Outcome.CANCELED,
}


@dataclass
class WorkflowRecord:
    """What the decider remembers of one open workflow between its decision tasks."""

    plan: WorkflowPlan
    scheduled: bool = False
    """SWF acknowledged the scheduling decision (or its events show it landed)."""
    activity_ids: dict[int, str] = field(default_factory=dict)
    """ActivityTaskScheduled event id → activity id."""
    scheduled_at: dict[str, float] = field(default_factory=dict)
    started_at: dict[str, float] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)

    @property
    def unfinished(self) -> int:
        """Scheduled activities of this workflow that have not closed."""
        return self.plan.total - len(self.closed) if self.scheduled else 0


@dataclass(frozen=True)
class DecisionTask:
    """A polled decision task: its token, execution and the events newer than the last decision."""

    token: str
    run_id: str
    workflow_id: str
    new_events: list[dict[str, Any]]
    """Events after `previousStartedEventId`, oldest first."""
    started_event_id: int


def _timestamp(event: dict[str, Any]) -> float:
    """An event's `eventTimestamp` in epoch seconds (botocore parses it to a datetime)."""
    value = event["eventTimestamp"]
    return float(value.timestamp()) if hasattr(value, "timestamp") else float(value)


class Decider:
    """Polls one decision task list with several pollers and decides the fan-out workflows."""

    def __init__(
        self,
        client: SWFClient,
        *,
        domain: str,
        task_list: str,
        identity: str,
        measurements: Measurements,
        pollers: int = 4,
    ) -> None:
        self._client = client
        self._domain = domain
        self._task_list = task_list
        self._identity = identity[:256]
        self._measurements = measurements
        self._pollers = pollers
        self._workflows: dict[str, WorkflowRecord] = {}
        self._changed = anyio.Event()
        self._refusals: set[tuple[str, str]] = set()

    @property
    def open_workflows(self) -> int:
        """Workflows the decider has seen start and not yet closed."""
        return len(self._workflows)

    def unfinished(self) -> int:
        """Scheduled activities not closed yet, over all open workflows."""
        return sum(record.unfinished for record in self._workflows.values())

    async def wait_for_change(self) -> None:
        """Wait until the decider closes a workflow or counts a closed activity."""
        await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run the pollers until cancelled; ready as soon as they are started."""
        async with anyio.create_task_group() as tg:
            for _ in range(self._pollers):
                tg.start_soon(self._poll_loop)
            task_status.started()

    async def _poll_loop(self) -> None:
        failures = 0
        while True:
            try:
                task = await self._poll()
            except SwfFault as fault:
                if not fault.retryable:
                    raise
                failures += 1
                log.warning("decision poll failed; retrying", error=str(fault))
                await anyio.sleep(retry_delay(fault, failures, RIG_BACKOFF))
                continue
            failures = 0
            if task is not None:
                await self._handle(task)

    async def _poll(self) -> DecisionTask | None:
        """Poll one decision task and read its history back to the previous decision."""
        request: dict[str, Any] = {
            "domain": self._domain,
            "taskList": {"name": self._task_list},
            "identity": self._identity,
            "maximumPageSize": PAGE_SIZE,
            "reverseOrder": True,
        }
        first: Any = await call(POLL, self._client.poll_for_decision_task(**request))
        if not first.get("taskToken"):
            return None
        previous = int(first.get("previousStartedEventId", 0))
        events = list(first.get("events", []))
        page = first
        deadline = anyio.current_time() + RESPOND_RETRY_WINDOW
        while page.get("nextPageToken") and not _reaches(events, previous + 1):
            page_request = {**request, "nextPageToken": page["nextPageToken"]}
            page = await call_with_retries(
                POLL,
                partial(self._client.poll_for_decision_task, **page_request),
                deadline=deadline,
            )
            events.extend(page.get("events", []))
        new_events = sorted((e for e in events if e["eventId"] > previous), key=_event_id)
        execution = first["workflowExecution"]
        return DecisionTask(
            token=first["taskToken"],
            run_id=execution["runId"],
            workflow_id=execution["workflowId"],
            new_events=new_events,
            started_event_id=int(first.get("startedEventId", 0)),
        )

    async def _handle(self, task: DecisionTask) -> None:
        """Decide, respond, and apply to the record what the acknowledged decision implies."""
        record = self._absorb(task)
        if record is None:
            decisions = [_fail_workflow("not started by this load-test run")]
        elif not record.scheduled and _has_event(task, "WorkflowExecutionStarted"):
            decisions = record.plan.decisions()
        elif record.scheduled and len(record.closed) >= record.plan.total:
            decisions = [{"decisionType": "CompleteWorkflowExecution"}]
        else:
            decisions = []
        if not await self._respond(task, decisions) or record is None:
            return
        if decisions and decisions[0]["decisionType"] == "ScheduleActivityTask":
            self._mark_scheduled(record)
        elif decisions:
            del self._workflows[task.run_id]
            self._measurements.record_workflow_completed()
            self._notify()

    def _absorb(self, task: DecisionTask) -> WorkflowRecord | None:
        """Update the workflow's record from the task's new events; None for a stranger."""
        record = self._workflows.get(task.run_id)
        counted = False
        for event in task.new_events:
            if record is None:
                if event["eventType"] != "WorkflowExecutionStarted":
                    continue
                record = self._new_record(task, event)
                if record is None:
                    return None
                continue
            counted |= self._apply(record, event)
        if counted:
            self._notify()
        return record

    def _apply(self, record: WorkflowRecord, event: dict[str, Any]) -> bool:
        """Apply one event to a known workflow's record; True when an activity was counted."""
        kind = event["eventType"]
        if kind == "ActivityTaskScheduled":
            attributes = event["activityTaskScheduledEventAttributes"]
            record.activity_ids[event["eventId"]] = attributes["activityId"]
            record.scheduled_at[attributes["activityId"]] = _timestamp(event)
            self._mark_scheduled(record)
        elif kind == "ActivityTaskStarted":
            scheduled_id = event["activityTaskStartedEventAttributes"]["scheduledEventId"]
            activity_id = record.activity_ids.get(scheduled_id)
            if activity_id is not None:
                record.started_at[activity_id] = _timestamp(event)
        elif kind in _CLOSING_EVENTS:
            return self._close_activity(record, event)
        elif kind == "ScheduleActivityTaskFailed":
            return self._schedule_failed(record, event)
        return False

    def _new_record(self, task: DecisionTask, event: dict[str, Any]) -> WorkflowRecord | None:
        attributes = event["workflowExecutionStartedEventAttributes"]
        try:
            plan = WorkflowPlan.decode(attributes.get("input", ""))
        except PlanError as exc:
            log.warning("not a load-test workflow", workflow_id=task.workflow_id, error=str(exc))
            return None
        record = WorkflowRecord(plan=plan)
        self._workflows[task.run_id] = record
        return record

    def _mark_scheduled(self, record: WorkflowRecord) -> None:
        """Count the plan's activities as scheduled, once per workflow."""
        if not record.scheduled:
            record.scheduled = True
            for activity_type, count in record.plan.type_counts():
                self._measurements.record_scheduled(count, activity_type)

    def _close_activity(self, record: WorkflowRecord, event: dict[str, Any]) -> bool:
        kind = event["eventType"]
        attributes = event[kind[0].lower() + kind[1:] + "EventAttributes"]
        activity_id = record.activity_ids.get(attributes["scheduledEventId"])
        if activity_id is None or activity_id in record.closed:
            return False
        record.closed.add(activity_id)
        started = attributes.get("startedEventId", 0)
        self._measurements.record_closed(
            _CLOSING_EVENTS[kind],
            scheduled_at=record.scheduled_at.pop(activity_id, None),
            started_at=record.started_at.pop(activity_id, None) if started else None,
            closed_at=_timestamp(event),
            activity_type=record.plan.type_of(activity_id),
        )
        return True

    def _schedule_failed(self, record: WorkflowRecord, event: dict[str, Any]) -> bool:
        attributes = event["scheduleActivityTaskFailedEventAttributes"]
        activity_id = attributes["activityId"]
        self._mark_scheduled(record)
        if activity_id in record.closed:
            return False
        record.closed.add(activity_id)
        kind = attributes["activityType"]
        refusal = (f"{kind['name']}:{kind['version']}", str(attributes["cause"]))
        if refusal not in self._refusals:  # once per type and cause, not once per activity
            self._refusals.add(refusal)
            log.warning("SWF refused to schedule", activity_type=refusal[0], cause=refusal[1])
        self._measurements.record_schedule_failed(refusal[0])
        return True

    async def _respond(self, task: DecisionTask, decisions: list[dict[str, Any]]) -> bool:
        """RespondDecisionTaskCompleted with retries; False when SWF did not take it."""
        deadline = anyio.current_time() + RESPOND_RETRY_WINDOW
        try:
            await call_with_retries(
                RESPOND,
                lambda: self._client.respond_decision_task_completed(
                    taskToken=task.token, decisions=cast("list[DecisionTypeDef]", decisions)
                ),
                deadline=deadline,
            )
        except UnknownResourceFault as fault:
            log.info("decision not taken", workflow_id=task.workflow_id, error=str(fault))
            return False
        except SwfFault as fault:
            if not fault.retryable:
                raise
            log.warning("decision not delivered", workflow_id=task.workflow_id, error=str(fault))
            return False
        return True


def _event_id(event: dict[str, Any]) -> int:
    return int(event["eventId"])


def _reaches(events: list[dict[str, Any]], event_id: int) -> bool:
    """Whether a newest-first history read has reached back to `event_id`."""
    return bool(events) and min(_event_id(event) for event in events) <= event_id


def _has_event(task: DecisionTask, kind: str) -> bool:
    return any(event["eventType"] == kind for event in task.new_events)


def _fail_workflow(reason: str) -> dict[str, Any]:
    return {
        "decisionType": "FailWorkflowExecution",
        "failWorkflowExecutionDecisionAttributes": {"reason": reason[:256]},
    }


def closing_event_types() -> Iterable[str]:
    """The history event types that close an activity (for tests and docs)."""
    return (*_CLOSING_EVENTS, "ScheduleActivityTaskFailed")
