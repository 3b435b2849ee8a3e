"""The records the local endpoint keeps: domains, types, executions, tasks and timers.

These are plain slotted records; the rules that change them live in ``executions.py``,
``activities.py``, ``decision_tasks.py`` and ``polls.py`` (tied together by ``state.py``'s
``Engine``) and ``decisions.py`` (a decider's decisions). History events are stored in their
wire form, one dict per event, so a poll or a history page is serialised without conversion.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .tasklists import TaskList

if TYPE_CHECKING:
    from .quotas import TokenBucket
    from .timers import Timer

Event = dict[str, Any]
TypeKind = Literal["activity", "workflow"]

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
"""The region of a call whose request carries no SigV4 credential scope."""


def domain_arn(region: str, name: str) -> str:
    """A domain's ARN as SWF spells it, in the region the caller signed for."""
    return f"arn:aws:swf:{region}:{ACCOUNT_ID}:/domain/{name}"


@dataclass(eq=False, slots=True)
class RegisteredType:
    """An activity or workflow type with its registered defaults (``configuration`` on the wire)."""

    kind: TypeKind
    name: str
    version: str
    description: str | None
    configuration: dict[str, Any]
    creation_date: float
    status: str = "REGISTERED"
    deprecation_date: float | None = None

    def key(self) -> dict[str, str]:
        """The type's ``{"name", "version"}`` member."""
        return {"name": self.name, "version": self.version}

    def info(self) -> dict[str, Any]:
        """The ``ActivityTypeInfo`` / ``WorkflowTypeInfo`` structure."""
        info: dict[str, Any] = {
            f"{self.kind}Type": self.key(),
            "status": self.status,
            "creationDate": self.creation_date,
        }
        if self.description is not None:
            info["description"] = self.description
        if self.deprecation_date is not None:
            info["deprecationDate"] = self.deprecation_date
        return info


@dataclass(eq=False, slots=True)
class Domain:
    """A domain: its types, its executions, and its task lists."""

    name: str
    description: str | None
    retention_days: str
    status: str = "REGISTERED"
    tags: dict[str, str] = field(default_factory=dict)
    activity_types: dict[tuple[str, str], RegisteredType] = field(default_factory=dict)
    workflow_types: dict[tuple[str, str], RegisteredType] = field(default_factory=dict)
    # Every retained execution by (workflowId, runId), in start order.
    executions: dict[tuple[str, str], Execution] = field(default_factory=dict)
    # The open execution of each workflowId (at most one may be open).
    open_executions: dict[str, Execution] = field(default_factory=dict)
    # Closed executions in close order, oldest first, with the endpoint-clock time each one's
    # retention ends: the same period for all, so the first one always ends first.
    closed_order: OrderedDict[tuple[str, str], float] = field(default_factory=OrderedDict)
    # The timer dropping the first closed execution when its retention ends.
    retention_timer: Timer | None = None
    activity_lists: dict[str, TaskList[ActivityTask]] = field(default_factory=dict)
    decision_lists: dict[str, TaskList[DecisionTask]] = field(default_factory=dict)
    # Decision tasks per task list scheduled behind a started one (pending, but not queued).
    held_decisions: dict[str, int] = field(default_factory=dict)

    def arn(self, region: str) -> str:
        """The domain's ARN in ``region``, the resource of the tagging operations."""
        return domain_arn(region, self.name)

    def activity_list(self, name: str) -> TaskList[ActivityTask]:
        """The named activity task list, created on first use as SWF does."""
        task_list = self.activity_lists.get(name)
        if task_list is None:
            task_list = self.activity_lists[name] = TaskList(name)
        return task_list

    def decision_list(self, name: str) -> TaskList[DecisionTask]:
        """The named decision task list, created on first use as SWF does."""
        task_list = self.decision_lists.get(name)
        if task_list is None:
            task_list = self.decision_lists[name] = TaskList(name)
        return task_list


@dataclass(eq=False, slots=True)
class Execution:
    """One run of a workflow: configuration, history and what is open in it."""

    domain: Domain
    workflow_id: str
    run_id: str
    workflow_type: RegisteredType
    task_list: str
    task_priority: str | None
    execution_timeout: str
    task_timeout: str
    child_policy: str
    lambda_role: str | None
    tag_list: list[str]
    start_timestamp: float
    events: list[Event] = field(default_factory=list)
    close_status: str | None = None
    close_timestamp: float | None = None
    cancel_requested: bool = False
    activities: dict[str, ActivityTask] = field(default_factory=dict)
    timers: dict[str, UserTimer] = field(default_factory=dict)
    # Child executions this one started that are still open (or not yet started), by the id of
    # their StartChildWorkflowExecutionInitiated event.
    children: dict[int, ChildWorkflow] = field(default_factory=dict)
    # The parent's record of this execution, when a StartChildWorkflowExecution decision
    # started it (carried over to the next run by ContinueAsNew).
    parent: ChildWorkflow | None = None
    # The task list a temporary override (taskListScheduleToStartTimeout) reverts to, and
    # the override's schedule-to-start timeout; both None without one.
    base_task_list: str | None = None
    task_list_timeout: str | None = None
    # The execution's decision task, scheduled or started.
    decision: DecisionTask | None = None
    # A decision task scheduled while ``decision`` is started (SWF records its
    # DecisionTaskScheduled at once): handed out once the started one closes.
    next_decision: DecisionTask | None = None
    # A decision of the task being completed needs a decision task once all are applied.
    decision_pending: bool = False
    previous_started_event_id: int = 0
    latest_activity_task_timestamp: float | None = None
    latest_execution_context: str | None = None
    timeout: Timer | None = None
    heartbeat_bucket: TokenBucket | None = None
    schedule_bucket: TokenBucket | None = None

    @property
    def is_open(self) -> bool:
        """True until a close event is recorded."""
        return self.close_status is None

    def ref(self) -> dict[str, str]:
        """The ``WorkflowExecution`` structure ``{"workflowId", "runId"}``."""
        return {"workflowId": self.workflow_id, "runId": self.run_id}


@dataclass(eq=False, slots=True)
class ChildWorkflow:
    """A child execution as its parent knows it: initiated, then started, until it closes."""

    parent: Execution
    workflow_id: str
    initiated_event_id: int
    # The ChildWorkflowExecutionStarted event in the parent; 0 until the child started.
    started_event_id: int = 0
    # The child's current run (the latest one after ContinueAsNew); None until started.
    execution: Execution | None = None
    # The policy the parent closed with, when it closed before the child started.
    policy_on_start: str | None = None


@dataclass(eq=False, slots=True)
class ActivityTask:
    """A scheduled activity task; started once handed to a poll, then closed exactly once."""

    execution: Execution
    activity_id: str
    activity_type: dict[str, str]
    input: str | None
    task_list: str
    priority: int
    scheduled_event_id: int
    schedule_to_start: float | None
    schedule_to_close: float | None
    start_to_close: float | None
    heartbeat: float | None
    started_event_id: int = 0
    token: str | None = None
    closed: bool = False
    lost: bool = False
    cancel_requested: bool = False
    latest_cancel_requested_event_id: int = 0
    heartbeat_details: str | None = None
    last_heartbeat: float = 0.0
    schedule_to_start_timer: Timer | None = None
    schedule_to_close_timer: Timer | None = None
    start_to_close_timer: Timer | None = None
    heartbeat_timer: Timer | None = None


@dataclass(eq=False, slots=True)
class DecisionTask:
    """An execution's decision task: scheduled, then started by a poll, then closed."""

    execution: Execution
    scheduled_event_id: int
    priority: int
    task_list: str = ""
    # Seconds it may wait for a poll: only on a temporarily overridden task list.
    schedule_to_start: float | None = None
    started_event_id: int = 0
    previous_started_event_id: int = 0
    token: str | None = None
    closed: bool = False
    lost: bool = False
    # The schedule-to-start timeout while queued, then the start-to-close timeout.
    timer: Timer | None = None


@dataclass(eq=False, slots=True)
class UserTimer:
    """A timer a decider started with the StartTimer decision."""

    timer_id: str
    started_event_id: int
    handle: Timer
