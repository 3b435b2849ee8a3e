"""The SWF engine: the facade the operations call, over the endpoint's four collaborators.

All state lives in one ``Engine`` on one event loop, so no locks are needed: every method runs to
completion between two awaits. Each call does O(1) work whatever the number of open executions
and tasks: executions are indexed by domain and workflowId, tasks by token and task list, and all
deadlines sit in one timer heap (``timers.py``).

The state is split as httpcore splits a connection pool: ``executions.py`` (domains, executions,
history, retention), ``activities.py`` (activity tasks), ``decision_tasks.py`` (decision tasks)
and ``polls.py`` (waiting long polls). Each changes only its own state and returns what is left
to do: the task to offer, the poll to answer, whether the execution now needs a decision task.
The engine does it: it matches tasks with polls, answers polls (always as a fresh event-loop
callback, never inside another call's state change), and makes the changes that span
collaborators (closing an execution drops its tasks; closing a task schedules a decision task).
Calls that need nothing of another collaborator are the collaborator's own bound methods, set on
the engine, so they cost no extra call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import children
from .activities import Activities
from .decision_tasks import DecisionTasks
from .executions import MAX_HISTORY_EVENTS, Executions, record
from .model import (
    DEFAULT_REGION,
    ActivityTask,
    ChildWorkflow,
    DecisionTask,
    Domain,
    Execution,
    RegisteredType,
)
from .polls import Polls
from .timers import TimerHeap
from .tokens import TokenIssuer

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

    from .quotas import Quotas
    from .tasklists import PollWaiter, TaskList


class Engine:
    """Domains, executions and tasks of one endpoint, with their timers and long polls."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, poll_timeout: float, quotas: Quotas):
        self.loop = loop
        self.quotas = quotas
        self.timers = timers = TimerHeap(loop)
        self.issuer = issuer = TokenIssuer()
        self.executions = executions = Executions(timers, self.execution_timed_out)
        self.activities = activities = Activities(timers, quotas, issuer, self.activity_timed_out)
        self.decision_tasks = decision_tasks = DecisionTasks(
            timers, issuer, self.decision_timed_out
        )
        self.polls = polls = Polls(timers, poll_timeout, self._poll_expired)
        # The collaborators' state and the calls that need nothing of the others.
        self.domains = executions.domains
        self.domain = executions.domain
        self.open_execution = executions.open_execution
        self.activity_tokens = activities.tokens
        self.closed_activity_tokens = activities.closed_tokens
        self.scheduling_bucket = activities.scheduling_bucket
        self.start_activity = activities.start
        self.started_activity = activities.started
        self.heartbeat = activities.heartbeat
        self.discard_activity = activities.discard
        self.decision_tokens = decision_tasks.tokens
        self.start_decision = decision_tasks.start
        self.started_decision = decision_tasks.started
        self.finish_decision = decision_tasks.finish
        self.mark_lost = polls.mark_lost
        # The region of the call being served: the one its SigV4 credential scope names.
        self.region = DEFAULT_REGION

    record = staticmethod(record)

    # ----------------------------------------------------------------- executions

    def start_execution(
        self,
        domain: Domain,
        workflow_type: RegisteredType,
        workflow_id: str,
        settings: dict[str, Any],
        run_id: str | None = None,
        parent: ChildWorkflow | None = None,
    ) -> Execution:
        """Open a new run with resolved ``settings`` and schedule its first decision task.

        ``settings`` holds the resolved ``taskList`` name, ``taskPriority``,
        ``executionStartToCloseTimeout``, ``taskStartToCloseTimeout``, ``childPolicy`` and the
        optional ``input``, ``tagList``, ``lambdaRole`` and ``continuedExecutionRunId``.
        ``parent`` is the parent's record of a child (which then follows this run).
        """
        execution = self.executions.start(
            domain, workflow_type, workflow_id, settings, run_id, parent
        )
        if parent is not None:
            parent.execution = execution
        self.schedule_decision(execution)
        return execution

    def close(
        self, execution: Execution, status: str, event_type: str, attributes: dict[str, Any]
    ) -> int:
        """Record the close event, drop everything still open in the execution, then tell its
        parent and apply its child policy to its children."""
        event_id = self.executions.close(execution, status, event_type, attributes)
        discard_activity = self.activities.discard
        for task in list(execution.activities.values()):
            discard_activity(task)
        self.decision_tasks.drop(execution)
        if execution.parent is not None or execution.children:
            children.closed(self, execution, status, attributes)
        return event_id

    def defer(self, callback: Callable[..., None], *args: Any) -> None:
        """Run ``callback(*args)`` once the current call is over, as SWF carries out what one
        execution's decisions do to another asynchronously."""
        self.loop.call_soon(callback, *args)

    def signal(self, execution: Execution, attributes: dict[str, Any]) -> None:
        """Record ``WorkflowExecutionSignaled`` and schedule a decision task."""
        self.executions.signal(execution, attributes)
        self.schedule_decision(execution)
        self.enforce_history_limit(execution)

    def request_cancel(self, execution: Execution, attributes: dict[str, Any]) -> None:
        """Record ``WorkflowExecutionCancelRequested`` and schedule a decision task."""
        self.executions.request_cancel(execution, attributes)
        self.schedule_decision(execution)
        self.enforce_history_limit(execution)

    def enforce_history_limit(self, execution: Execution) -> None:
        """Terminate an execution whose history reached SWF's 25,000-event limit."""
        if execution.is_open and len(execution.events) >= MAX_HISTORY_EVENTS:
            self.close(
                execution,
                "TERMINATED",
                "WorkflowExecutionTerminated",
                {"childPolicy": execution.child_policy, "cause": "EVENT_LIMIT_EXCEEDED"},
            )

    def execution_timed_out(self, execution: Execution) -> None:
        execution.timeout = None
        if execution.is_open:
            self.close(
                execution,
                "TIMED_OUT",
                "WorkflowExecutionTimedOut",
                {"timeoutType": "START_TO_CLOSE", "childPolicy": execution.child_policy},
            )

    # ----------------------------------------------------------------- decision tasks

    @property
    def applying(self) -> Execution | None:
        """The execution whose decisions are being applied: decision tasks it needs are
        scheduled once all its decisions are recorded, not in the middle of them."""
        return self.decision_tasks.applying

    @applying.setter
    def applying(self, execution: Execution | None) -> None:
        self.decision_tasks.applying = execution

    def schedule_decision(self, execution: Execution) -> None:
        """Make sure a decision task is scheduled: offered now, or held while one is started."""
        decision = self.decision_tasks.schedule(execution)
        if decision is not None:
            self._offer_decision(decision)

    def release_decision(self, execution: Execution) -> bool:
        """Offer the decision task held behind the one that just closed; False if none."""
        decision = self.decision_tasks.release(execution)
        if decision is None:
            return False
        self._offer_decision(decision)
        return True

    def _offer_decision(self, decision: DecisionTask) -> None:
        task_list = decision.execution.domain.decision_list(decision.task_list)
        waiter = self.polls.offer(task_list, decision, decision.priority)
        if waiter is None:
            self.decision_tasks.queued(decision)
        else:
            self.decision_tasks.start(decision, waiter.identity)
            self.loop.call_soon(waiter.deliver, decision)

    def decision_timed_out(self, decision: DecisionTask) -> None:
        if self.decision_tasks.time_out(decision):
            execution = decision.execution
            if not self.release_decision(execution):
                self.schedule_decision(execution)
            self.enforce_history_limit(execution)

    # ----------------------------------------------------------------- activity tasks

    def offer_activity(self, task: ActivityTask) -> None:
        """Hand a newly scheduled task to the oldest waiting poll, or queue it."""
        if task.closed:
            return
        task_list = task.execution.domain.activity_list(task.task_list)
        waiter = self.polls.offer(task_list, task, task.priority)
        if waiter is None:
            self.activities.queued(task)
        else:
            self.activities.start(task, waiter.identity)
            self.loop.call_soon(waiter.deliver, task)

    def close_activity(
        self, task: ActivityTask, event_type: str, attributes: dict[str, Any]
    ) -> None:
        """Record the task's closing event, drop the task and schedule a decision task."""
        self.activities.close(task, event_type, attributes)
        execution = task.execution
        self.schedule_decision(execution)
        self.enforce_history_limit(execution)

    def activity_timed_out(self, task: ActivityTask, timeout_type: str) -> None:
        """One of a task's timeouts passed: close it, then schedule a decision task."""
        if self.activities.time_out(task, timeout_type):
            execution = task.execution
            self.schedule_decision(execution)
            self.enforce_history_limit(execution)

    # ----------------------------------------------------------------- long polls

    def poll(
        self,
        task_list: TaskList[Any],
        identity: str | None,
        is_connected: Callable[[], bool],
        start: Callable[[Any, str | None], None],
        deliver: Callable[[Any], None],
    ) -> None:
        """Serve a long poll: ``deliver`` a pending task at once, or wait for one.

        ``start`` records the task as started by this poll. A waiting poll is answered by a
        later ``deliver(task)`` when a task arrives, or ``deliver(None)`` when the poll
        timeout passes; both run as fresh event-loop callbacks, never inside another call's
        state change. Raises ``LimitExceededFault`` when 1,000 polls already wait.
        """
        task = task_list.pop()
        if task is not None:
            start(task, identity)
            deliver(task)
        elif not self.polls.wait(task_list, identity, is_connected, deliver):
            deliver(None)

    def _poll_expired(self, task_list: TaskList[Any], waiter: PollWaiter[Any]) -> None:
        if self.polls.expire(task_list, waiter):
            self.loop.call_soon(waiter.deliver, None)

    def close_polls(self) -> None:
        """Answer every waiting poll empty and accept no new waits (endpoint shutdown)."""
        for waiter in self.polls.close(self.domains.values()):
            self.loop.call_soon(waiter.deliver, None)

    # ----------------------------------------------------------------- statistics

    def stats(self) -> dict[str, Any]:
        """Open executions, pending tasks and waiting polls per task list, lost tasks."""
        activities: dict[str, int] = {}
        decisions: dict[str, int] = {}
        waiting: dict[str, int] = {}
        for domain in self.domains.values():
            for name, activity_list in domain.activity_lists.items():
                _add(activities, name, len(activity_list))
                _add(waiting, name, len(activity_list.waiters))
            for name, decision_list in domain.decision_lists.items():
                _add(decisions, name, len(decision_list))
                _add(waiting, name, len(decision_list.waiters))
        return {
            "open_executions": sum(len(d.open_executions) for d in self.domains.values()),
            "pending_activity_tasks": activities,
            "pending_decision_tasks": decisions,
            "waiting_polls": waiting,
            "lost_tasks": self.polls.lost_tasks,
            "timers": len(self.timers),
        }


def _add(counts: dict[str, int], name: str, value: int) -> None:
    if value:
        counts[name] = counts.get(name, 0) + value
