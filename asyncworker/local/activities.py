"""Activity tasks: started tasks by token, heartbeats, the four timeouts, closed-token memory.

* The four activity timeouts record ``ActivityTaskTimedOut`` (and the engine schedules a decision
  task); afterwards the task's token is unknown (``UnknownResourceFault``).
* A closed activity task's token is remembered (the newest ``MAX_CLOSED_ACTIVITY_TOKENS``) with
  its ``ActivityTaskScheduled`` event id, so that a late call with it is refused as SWF refuses
  it: ``Unknown activity, scheduledEventId = N``.

``Activities`` changes only the tasks and its own indexes; handing a task to a poll and
scheduling the decision task that follows a close are the engine's.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Final

from .errors import ThrottlingException
from .executions import now_timestamp, record, record_started
from .quotas import EXECUTION_HEARTBEATS, BucketSpec, Quotas, TokenBucket
from .tokens import TokenIssuer, bad_token

if TYPE_CHECKING:
    from collections.abc import Callable

    from .model import ActivityTask, Domain
    from .store import Store
    from .timers import TimerHeap

MAX_CLOSED_ACTIVITY_TOKENS: Final = 100_000


class Activities:
    """The started activity tasks by token, the tokens of closed ones, and their timers."""

    def __init__(
        self,
        timers: TimerHeap,
        quotas: Quotas,
        issuer: TokenIssuer,
        on_timeout: Callable[[ActivityTask, str], None],
    ) -> None:
        self.timers = timers
        self.quotas = quotas
        self._issuer = issuer
        # Called when one of a task's timeouts passes (with the timeout type).
        self._on_timeout = on_timeout
        self.tokens: dict[str, ActivityTask] = {}
        # Tokens of closed activity tasks (the newest ones) -> their scheduled event id.
        self.closed_tokens: OrderedDict[str, int] = OrderedDict()
        self._list_buckets: dict[tuple[str, str], TokenBucket] = {}
        # With ``--db``: the store started tasks' tokens are written to.
        self.journal: Store | None = None

    def scheduling_bucket(
        self, domain: Domain, task_list: str, spec: BucketSpec
    ) -> TokenBucket | None:
        """The per-task-list scheduling-rate bucket (``--quotas aws`` only)."""
        key = (domain.name, task_list)
        bucket = self._list_buckets.get(key)
        if bucket is None:
            bucket = self.quotas.bucket(spec, self.timers.time())
            if bucket is None:
                return None
            self._list_buckets[key] = bucket
        return bucket

    def arm_schedule_to_close(self, task: ActivityTask) -> None:
        """Arm a newly scheduled task's schedule-to-close timeout, if it has one."""
        if task.schedule_to_close is not None:
            task.schedule_to_close_timer = self.timers.call_later(
                task.schedule_to_close, self._on_timeout, task, "SCHEDULE_TO_CLOSE"
            )

    def queued(self, task: ActivityTask) -> None:
        """Arm the schedule-to-start timeout of a task left waiting for a poll."""
        if task.schedule_to_start is not None:
            task.schedule_to_start_timer = self.timers.call_later(
                task.schedule_to_start, self._on_timeout, task, "SCHEDULE_TO_START"
            )

    def start(self, task: ActivityTask, identity: str | None) -> None:
        """Record ``ActivityTaskStarted``, issue a token, arm start-to-close and heartbeat."""
        execution = task.execution
        task.started_event_id = record_started(
            execution, "ActivityTaskStarted", task.scheduled_event_id, identity
        )
        task.token = token = self._issuer.new()
        self.tokens[token] = task
        if self.journal is not None:
            self.journal.token(token, execution, task.started_event_id)
        execution.latest_activity_task_timestamp = now_timestamp()
        if task.schedule_to_start_timer is not None:
            task.schedule_to_start_timer.cancel()
            task.schedule_to_start_timer = None
        timers = self.timers
        if task.start_to_close is not None:
            task.start_to_close_timer = timers.call_later(
                task.start_to_close, self._on_timeout, task, "START_TO_CLOSE"
            )
        if task.heartbeat is not None:
            task.last_heartbeat = timers.time()
            task.heartbeat_timer = timers.call_later(task.heartbeat, self._heartbeat_due, task)

    def resume(self, task: ActivityTask, scheduled_at: float, started_at: float | None) -> None:
        """Re-arm a task restored from a store, from the (endpoint-clock) times it was
        scheduled and started: queued for the next poll if it had not started, else indexed
        by its token; the heartbeat clock starts afresh."""
        timers = self.timers
        timeout = self._on_timeout
        if task.schedule_to_close is not None:
            due = scheduled_at + task.schedule_to_close
            task.schedule_to_close_timer = timers.call_at(due, timeout, task, "SCHEDULE_TO_CLOSE")
        if started_at is None or task.token is None:
            task.execution.domain.activity_list(task.task_list).push(task, task.priority)
            if task.schedule_to_start is not None:
                due = scheduled_at + task.schedule_to_start
                task.schedule_to_start_timer = timers.call_at(
                    due, timeout, task, "SCHEDULE_TO_START"
                )
            return
        self.tokens[task.token] = task
        if task.start_to_close is not None:
            due = started_at + task.start_to_close
            task.start_to_close_timer = timers.call_at(due, timeout, task, "START_TO_CLOSE")
        if task.heartbeat is not None:
            task.last_heartbeat = timers.time()
            task.heartbeat_timer = timers.call_later(task.heartbeat, self._heartbeat_due, task)

    def started(self, token: str) -> ActivityTask:
        """The started, open activity task of ``token``, or ``UnknownResourceFault``."""
        task = self.tokens.get(token)
        if task is None:
            raise bad_token(token, "activity", self.closed_tokens.get(token))
        return task

    def heartbeat(self, task: ActivityTask, details: str | None) -> bool:
        """Reset the heartbeat clock, keep the details; returns ``cancelRequested``."""
        execution = task.execution
        if execution.heartbeat_bucket is None and self.quotas.enabled:
            execution.heartbeat_bucket = self.quotas.bucket(
                EXECUTION_HEARTBEATS, self.timers.time()
            )
        bucket = execution.heartbeat_bucket
        if bucket is not None and not bucket.take(self.timers.time()):
            raise ThrottlingException()
        task.last_heartbeat = self.timers.time()
        if details is not None:
            task.heartbeat_details = details
        return task.cancel_requested

    def close(self, task: ActivityTask, event_type: str, attributes: dict[str, Any]) -> None:
        """Drop the task and record its closing event (the execution then needs a decision)."""
        attributes["scheduledEventId"] = task.scheduled_event_id
        attributes["startedEventId"] = task.started_event_id
        self.discard(task)
        record(task.execution, event_type, attributes)

    def time_out(self, task: ActivityTask, timeout_type: str) -> bool:
        """Close a task whose ``timeout_type`` timeout passed with ``ActivityTaskTimedOut``;
        False when it had closed already (the execution needs no decision)."""
        if task.closed or not task.execution.is_open:
            return False
        attributes: dict[str, Any] = {"timeoutType": timeout_type}
        if task.heartbeat_details is not None:
            attributes["details"] = task.heartbeat_details
        self.close(task, "ActivityTaskTimedOut", attributes)
        return True

    def discard(self, task: ActivityTask) -> None:
        """Forget an activity task: timers, token, queue slot and the execution's index."""
        if task.closed:
            return
        task.closed = True
        for timer in (
            task.schedule_to_start_timer,
            task.schedule_to_close_timer,
            task.start_to_close_timer,
            task.heartbeat_timer,
        ):
            if timer is not None:
                timer.cancel()
        task.schedule_to_start_timer = task.schedule_to_close_timer = None
        task.start_to_close_timer = task.heartbeat_timer = None
        if task.token is not None:
            self.tokens.pop(task.token, None)
            closed = self.closed_tokens
            closed[task.token] = task.scheduled_event_id
            if len(closed) > MAX_CLOSED_ACTIVITY_TOKENS:
                closed.popitem(last=False)
        else:
            domain = task.execution.domain
            domain.activity_list(task.task_list).remove(task, task.priority)
        execution = task.execution
        if execution.activities.get(task.activity_id) is task:
            del execution.activities[task.activity_id]

    def _heartbeat_due(self, task: ActivityTask) -> None:
        task.heartbeat_timer = None
        if task.closed or task.heartbeat is None:
            return
        deadline = task.last_heartbeat + task.heartbeat
        if deadline > self.timers.time() + 0.001:
            task.heartbeat_timer = self.timers.call_at(deadline, self._heartbeat_due, task)
            return
        self._on_timeout(task, "HEARTBEAT")
