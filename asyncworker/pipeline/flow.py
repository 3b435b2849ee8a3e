"""What flows through the pipeline: a polled task, the slot it holds, and its outcome."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import anyio
import structlog
from anyio.lowlevel import checkpoint_if_cancelled

if TYPE_CHECKING:
    from collections.abc import Callable

    from asyncworker.claimcheck import Placement


class ActivityType(NamedTuple):
    """An SWF activity type; `str()` gives the `name:version` metric label."""

    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name}:{self.version}"


_TYPES: dict[tuple[str, str], ActivityType] = {}
"""One `ActivityType` per name and version polled: tasks share it (fewer objects per task)."""
TYPES_KEPT = 1024
"""At most this many are shared; a task list carrying more types gets fresh ones beyond."""


def _activity_type(name: str, version: str) -> ActivityType:
    found = _TYPES.get((name, version))
    if found is None:
        found = ActivityType(name, version)
        if len(_TYPES) < TYPES_KEPT:
            _TYPES[found] = found
    return found


def redact(token: str) -> str:
    """Return a log-safe reference to a task token: its tail only, never the whole secret."""
    return f"...{token[-8:]}" if len(token) > 8 else "..."


def bind_task_context(task: ActivityTask) -> None:
    """Bind the task to the current context (one per running task): every structlog line, and
    every stdlib `logging` line once `configure_logging` routes it, carries these fields."""
    structlog.contextvars.bind_contextvars(
        activity_type=f"{task.activity_type.name}:{task.activity_type.version}",
        activity_id=task.activity_id,
        workflow_id=task.workflow_id,
        task_token=redact(task.token),
    )


@dataclass(slots=True, eq=False)
class ActivityTask:
    """An activity task as PollForActivityTask returned it, plus when and where it was polled."""

    token: str
    activity_id: str
    started_event_id: int
    workflow_id: str
    run_id: str
    activity_type: ActivityType
    input: str | None
    task_list: str
    polled_at: float
    """`anyio.current_time()` when the poll returned: SWF's start-to-close clock is running."""

    @classmethod
    def from_poll(cls, response: dict[str, Any], task_list: str, polled_at: float) -> ActivityTask:
        execution = response["workflowExecution"]
        kind = response["activityType"]
        return cls(
            token=response["taskToken"],
            activity_id=response["activityId"],
            started_event_id=response.get("startedEventId", 0),
            workflow_id=execution["workflowId"],
            run_id=execution["runId"],
            activity_type=_activity_type(kind["name"], kind["version"]),
            input=response.get("input"),
            task_list=task_list,
            polled_at=polled_at,
        )

    def __repr__(self) -> str:
        return (
            f"ActivityTask({self.activity_type}, activity_id={self.activity_id!r}, "
            f"workflow_id={self.workflow_id!r}, token={redact(self.token)!r})"
        )


async def acquire_for(limiter: anyio.CapacityLimiter, borrower: object) -> None:
    """Take a token of ``limiter`` for ``borrower``, waiting if none is free; a cancellation point
    either way. A free token is taken without the scheduling round trip
    ``acquire_on_behalf_of()`` makes (a per-task cost on the hot path); waiters keep their turn,
    since a queue makes ``acquire_on_behalf_of_nowait()`` refuse."""
    await checkpoint_if_cancelled()
    try:
        limiter.acquire_on_behalf_of_nowait(borrower)
    except anyio.WouldBlock:
        await limiter.acquire_on_behalf_of(borrower)


class Slot:
    """One unit of capacity, held from before the poll until the task's response is acknowledged.

    It borrows a token of the worker's `CapacityLimiter` on its own behalf, so the poller can take
    it and the responder (another task) can give it back. `release()` is idempotent.
    """

    __slots__ = ("_limiter", "_released")

    def __init__(self, limiter: anyio.CapacityLimiter) -> None:
        self._limiter = limiter
        self._released = True

    @classmethod
    async def acquire(cls, limiter: anyio.CapacityLimiter) -> Slot:
        """Take a slot, waiting for one if none is free (see `acquire_for`)."""
        slot = cls(limiter)
        await acquire_for(limiter, slot)
        slot._released = False
        return slot

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._limiter.release_on_behalf_of(self)


class ListSlot(Slot):
    """A slot that also holds one of its task list's slots (`task_list_concurrency`).

    The list's slot is taken first, so the pollers of a saturated list wait without holding any
    of the worker's slots, which stay free for the other lists. Both are given back together.
    """

    __slots__ = ("_list",)

    def __init__(self, limiter: anyio.CapacityLimiter, list_limiter: anyio.CapacityLimiter) -> None:
        super().__init__(limiter)
        self._list = list_limiter

    @classmethod
    async def acquire_both(
        cls, limiter: anyio.CapacityLimiter, list_limiter: anyio.CapacityLimiter
    ) -> ListSlot:
        """Take a slot of the list, then one of the worker (see `acquire_for`)."""
        slot = cls(limiter, list_limiter)
        await acquire_for(list_limiter, slot)
        try:
            await acquire_for(limiter, slot)
        except BaseException:
            list_limiter.release_on_behalf_of(slot)
            raise
        slot._released = False
        return slot

    def release(self) -> None:
        if not self._released:
            super().release()
            self._list.release_on_behalf_of(self)


class OutcomeKind(enum.StrEnum):
    """How a task ended; the `outcome` label of `asyncworker_activity_tasks_total`."""

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    TIMED_OUT = "timed_out"
    ABANDONED = "abandoned"


class TaskDeadline:
    """When SWF times a task out, as far as the worker knows: one object per task, shared by its
    context, its heartbeats and its outcome, so all see the same value.

    It starts as the type's default start-to-close timeout after the poll. A deadline probe that
    finds the task alive (the decider chose a longer timeout) moves it one probe period past the
    next probe, and each later probe that finds it alive moves it on: answers are retried while
    SWF may still take them, and given up once SWF has not been heard from for a whole period.
    """

    __slots__ = ("at",)

    def __init__(self, at: float) -> None:
        self.at = at
        """On the `anyio.current_time()` clock."""

    def __repr__(self) -> str:
        return f"TaskDeadline({self.at!r})"


@dataclass(slots=True, eq=False)
class Outcome:
    """Exactly one per task: what to tell SWF, already fitted to SWF's limits."""

    task: ActivityTask
    slot: Slot
    kind: OutcomeKind
    result: str | None = None
    reason: str | None = None
    details: str | None = None
    handler_seconds: float = 0.0
    deadline: TaskDeadline | None = None
    """The task's deadline, if known: responses are not retried past it (it may move on)."""
    on_settle: Callable[[], None] | None = None
    """Called once the answer is acknowledged or given up on (ends the task's heartbeats)."""
    offload: Placement | None = None
    """Set when `result` or `details` is over the claim-check threshold: it goes to S3 first
    (`pipeline/payloads.py`), and the answer carries its reference."""

    @property
    def needs_response(self) -> bool:
        return self.kind in _ANSWERED

    def settle(self) -> None:
        """The answer is acknowledged or given up on: free the slot, end what kept the task."""
        self.slot.release()
        if self.on_settle is not None:
            self.on_settle()


_ANSWERED = frozenset({OutcomeKind.COMPLETED, OutcomeKind.FAILED, OutcomeKind.CANCELED})


class CancelReason(enum.Enum):
    """Why the worker stops a running handler."""

    REQUESTED = "cancel requested"
    """A heartbeat said the decider asked to cancel: answer Canceled."""
    ABANDONED = "abandoned"
    """SWF no longer knows the task (UnknownResourceFault): answer nothing."""
    SHUTDOWN = "worker shutdown"
    """The drain timed out: answer Failed so the decider can reschedule at once."""
    TIMED_OUT = "timed out"
    """Past the local deadline SWF said the task is gone: it timed out there; answer nothing."""
