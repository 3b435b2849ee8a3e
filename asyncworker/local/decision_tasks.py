"""Decision tasks: scheduling, the one held behind a started task, start, completion, timeout.

* An execution has at most one decision task scheduled and one started. An event that arrives
  while one is started (an activity closing, a signal, a timer firing) schedules the next one at
  once, as SWF records ``DecisionTaskScheduled`` right after the event, before the started task's
  ``DecisionTaskCompleted``; that task is handed to a decider only once the started one completes
  or times out (which then schedules no other).
* The decision task timeout records ``DecisionTaskTimedOut`` (and the engine schedules a decision
  task); afterwards the task's token is unknown (``UnknownResourceFault``).
* A task-list override given with ``taskListScheduleToStartTimeout`` is temporary: a decision
  task on it that no decider starts in time times out (``SCHEDULE_TO_START``), and that timeout
  or a start-to-close one reverts the execution to its task list from before the override.

``DecisionTasks`` changes only the executions' decision tasks and its own token index; it
returns the task that is to be offered to the decision polls, and the engine offers it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .executions import record, record_started, seconds
from .model import DecisionTask, Execution
from .tokens import TokenIssuer, bad_token

if TYPE_CHECKING:
    from collections.abc import Callable

    from .store import Store
    from .timers import TimerHeap


def revert_override(execution: Execution) -> None:
    """A decision task timed out: end a temporary task-list override, if one is in force."""
    if execution.base_task_list is not None:
        execution.task_list = execution.base_task_list
        execution.base_task_list = execution.task_list_timeout = None


class DecisionTasks:
    """The started decision tasks by token, and the rules of scheduling one per execution."""

    def __init__(
        self,
        timers: TimerHeap,
        issuer: TokenIssuer,
        on_timeout: Callable[[DecisionTask], None],
    ) -> None:
        self.timers = timers
        self._issuer = issuer
        # Called when a started task's start-to-close timeout passes.
        self._on_timeout = on_timeout
        self.tokens: dict[str, DecisionTask] = {}
        # The execution whose decisions are being applied: decision tasks it needs are
        # scheduled once all its decisions are recorded, not in the middle of them.
        self.applying: Execution | None = None
        # With ``--db``: the store started tasks' tokens are written to.
        self.journal: Store | None = None

    def schedule(self, execution: Execution) -> DecisionTask | None:
        """Make sure a decision task is scheduled. Returns a newly scheduled task to offer to
        the decision polls now; None when there is none to offer (one is scheduled already,
        the new one is held behind the started one, the execution is applying decisions, or
        it is closed)."""
        if not execution.is_open:
            return None
        if execution is self.applying:
            execution.decision_pending = True
            return None
        current = execution.decision
        if current is not None and (not current.started_event_id or execution.next_decision):
            return None
        attributes: dict[str, Any] = {"taskList": {"name": execution.task_list}}
        if execution.task_priority is not None:
            attributes["taskPriority"] = execution.task_priority
        attributes["startToCloseTimeout"] = execution.task_timeout
        # NONE but on a temporary task-list override (taskListScheduleToStartTimeout).
        limit = "NONE" if execution.base_task_list is None else execution.task_list_timeout
        attributes["scheduleToStartTimeout"] = limit
        # Always caused by the event just recorded, and stamped with its time, as SWF does.
        cause = execution.events[-1]["eventTimestamp"] if execution.events else None
        event_id = record(execution, "DecisionTaskScheduled", attributes, cause)
        priority = int(execution.task_priority) if execution.task_priority else 0
        decision = DecisionTask(execution, event_id, priority, execution.task_list, seconds(limit))
        if current is not None:
            execution.next_decision = decision
            held = execution.domain.held_decisions
            held[decision.task_list] = held.get(decision.task_list, 0) + 1
            return None
        execution.decision = decision
        return decision

    def release(self, execution: Execution) -> DecisionTask | None:
        """The task held behind the one that just closed, now the execution's decision task
        (to offer); None if none was held."""
        decision = self._unhold(execution)
        if decision is not None:
            execution.decision = decision
        return decision

    def queued(self, decision: DecisionTask) -> None:
        """A task no poll took at once: arm its schedule-to-start timeout, if it has one."""
        if decision.schedule_to_start is not None:
            decision.timer = self.timers.call_later(
                decision.schedule_to_start, self._on_timeout, decision
            )

    def start(self, decision: DecisionTask, identity: str | None) -> None:
        """Record ``DecisionTaskStarted``, issue a token and arm the start-to-close timeout."""
        execution = decision.execution
        if decision.timer is not None:
            decision.timer.cancel()
            decision.timer = None
        decision.started_event_id = record_started(
            execution, "DecisionTaskStarted", decision.scheduled_event_id, identity
        )
        decision.previous_started_event_id = execution.previous_started_event_id
        decision.token = token = self._issuer.new()
        self.tokens[token] = decision
        if self.journal is not None:
            self.journal.token(token, execution, decision.started_event_id)
        limit = seconds(execution.task_timeout)
        if limit is not None:
            decision.timer = self.timers.call_later(limit, self._on_timeout, decision)

    def resume(self, decision: DecisionTask, since: float) -> None:
        """Re-arm an execution's decision task restored from a store: a started one (with its
        token) times out ``taskStartToCloseTimeout`` after ``since``, its start; a scheduled one
        is queued for the next poll, timing out after its schedule-to-start limit from
        ``since``, its scheduling, when it has one."""
        execution = decision.execution
        if decision.token is not None:
            self.tokens[decision.token] = decision
            limit = seconds(execution.task_timeout)
        else:
            execution.domain.decision_list(decision.task_list).push(decision, decision.priority)
            limit = decision.schedule_to_start
        if limit is not None:
            decision.timer = self.timers.call_at(since + limit, self._on_timeout, decision)

    def started(self, token: str) -> DecisionTask:
        """The started decision task of ``token``, or ``UnknownResourceFault``."""
        decision = self.tokens.get(token)
        if decision is None:
            raise bad_token(token, "decision task")
        return decision

    def finish(self, decision: DecisionTask) -> None:
        """Close a started decision task (completed or timed out); its token dies."""
        self.discard(decision)
        decision.execution.previous_started_event_id = decision.started_event_id

    def time_out(self, decision: DecisionTask) -> bool:
        """Record ``DecisionTaskTimedOut`` (start-to-close, or schedule-to-start for a task on a
        temporary override, which is then reverted) and drop the task; False when it had
        closed already (the execution needs no other decision task)."""
        decision.timer = None
        execution = decision.execution
        if decision.closed or not execution.is_open:
            return False
        started = decision.started_event_id
        record(
            execution,
            "DecisionTaskTimedOut",
            {
                "timeoutType": "START_TO_CLOSE" if started else "SCHEDULE_TO_START",
                "scheduledEventId": decision.scheduled_event_id,
                "startedEventId": started,
            },
        )
        self.discard(decision)
        revert_override(execution)
        return True

    def drop(self, execution: Execution) -> None:
        """Forget every decision task of a closed execution, scheduled, started or held."""
        if execution.decision is not None:
            self.discard(execution.decision)
        held = self._unhold(execution)
        if held is not None:
            held.closed = True
        execution.decision_pending = False

    def discard(self, decision: DecisionTask) -> None:
        """Forget a decision task: its timer, token or queue slot, and the execution's link."""
        decision.closed = True
        execution = decision.execution
        if execution.decision is decision:
            execution.decision = None
        if decision.timer is not None:
            decision.timer.cancel()
            decision.timer = None
        if decision.token is not None:
            self.tokens.pop(decision.token, None)
        elif not decision.started_event_id:
            execution.domain.decision_list(decision.task_list).remove(decision, decision.priority)

    def _unhold(self, execution: Execution) -> DecisionTask | None:
        decision = execution.next_decision
        if decision is not None:
            execution.next_decision = None
            held = execution.domain.held_decisions
            held[decision.task_list] -= 1
            if not held[decision.task_list]:
                del held[decision.task_list]
        return decision
