"""The executor: runs each activity in its own child task and maps every ending to one outcome.

Each task runs in the worker's task group under its own cancel scope. When the activity type
declares a start-to-close timeout, the heartbeat service asks SWF about the task at that local
deadline (a decider may have scheduled it with a longer one): if SWF says it is gone, the handler is
cancelled and nothing is answered (`timed_out`). Async handlers run on the event loop;
sync handlers in worker threads under the thread limit, or in worker processes (`processes`).
`settle.settle()` is the one place that decides what SWF is told; nothing a handler does (any
exception, BaseException subclasses included, bad results, ignoring cancellation) escapes it. A
worker's interceptors, if any, run around the handler call (so what they raise is settled the
same way) and see each outcome.
"""

from __future__ import annotations

import logging
import math
from contextlib import contextmanager, nullcontext
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import anyio
import structlog

from asyncworker.activity import ActivityContext, ActivityDefinition, ActivityRegistry
from asyncworker.claimcheck import ClaimCheck, is_reference
from asyncworker.pipeline.flow import (
    ActivityTask,
    CancelReason,
    Outcome,
    OutcomeKind,
    Slot,
    TaskDeadline,
    acquire_for,
    bind_task_context,
    redact,
)
from asyncworker.pipeline.settle import NOTHING, SHUTDOWN_REASON, failed, input_problem, settle
from asyncworker.s3 import GET_OBJECT, PUT_OBJECT

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator
    from contextlib import AbstractContextManager

    from anyio.abc import TaskGroup
    from anyio.streams.memory import MemoryObjectSendStream

    from asyncworker.claimcheck import Placement
    from asyncworker.interceptors import Interceptors
    from asyncworker.metrics import Metrics
    from asyncworker.pipeline.heartbeat import HeartbeatHandle, Heartbeats
    from asyncworker.pipeline.limits import TypeLimit, TypeLimits
    from asyncworker.pipeline.payloads import Payloads
    from asyncworker.pipeline.processes import ProcessPool

log = structlog.get_logger(__name__)


def _capturing(handler: Callable[..., Any], *args: Any) -> tuple[Any, BaseException | None]:
    """``handler(*args)`` on a worker thread, its exception returned instead of raised: raised
    through anyio's future, it would keep that future, and the future it, in a cycle with the
    frame awaiting it (the handler's frames and their locals included) that only the garbage
    collector frees."""
    try:
        return handler(*args), None
    except BaseException as exc:
        return NOTHING, exc


def _debug_logging() -> bool:
    """Whether debug lines are logged: their fields cost time to build on every task."""
    try:
        return bool(log.is_enabled_for(logging.DEBUG))
    except AttributeError:  # a wrapper class that cannot tell: log
        return True


class ExecutorStatistics(NamedTuple):
    running: int
    started: int
    finished: int


_FINAL = frozenset({CancelReason.ABANDONED, CancelReason.TIMED_OUT})
"""Reasons after which SWF no longer takes an answer: they override any earlier reason."""


class RunningTask:
    """One running handler: its scope, why it was cancelled, and its context's control side."""

    __slots__ = (
        "answered", "beats", "deadline", "definition", "limit", "on_request", "placement",
        "reason", "requested", "scope", "slot", "storing", "task", "turn", "waited", "waiting",
    )  # fmt: skip

    def __init__(self, task: ActivityTask, slot: Slot, definition: ActivityDefinition) -> None:
        self.task = task
        self.slot = slot
        timeout = definition.start_to_close
        self.deadline = None if timeout is None else TaskDeadline(task.polled_at + timeout)
        """When SWF times the task out: the type's default timeout, until a probe moves it."""
        self.definition = definition
        self.scope: anyio.CancelScope | None = None
        self.reason: CancelReason | None = None
        self.requested = False
        self.answered = False
        self.beats: HeartbeatHandle | None = None
        self.on_request: Callable[[], None] | None = None
        """Set while the handler runs in a worker process: forwards a cancel request to it."""
        self.placement: Placement | None = None
        """Where large values go when the codec is a claim check and the worker has a store."""
        self.limit: TypeLimit | None = None
        """Its type's `max_concurrent` limit, if the executor has one for it (a type that was
        admitted as waiting for its turn has one, and only such a type)."""
        self.waiting = False
        """Waiting for its turn under its type's `max_concurrent`: any cancel stops the wait."""
        self.waited = 0.0
        """Seconds it waited for that turn (not handler time)."""
        self.turn = False
        """It had its turn (it is no longer counted as waiting)."""
        self.storing = False
        """Its handler has ended and its large value is being stored: a cancel request no
        longer stops anything (the work is done), the drain and SWF dropping the task do."""

    def __call__(self, reason: CancelReason) -> None:
        """The task's cancel callback, as its heartbeats hold it: the record itself rather than
        a bound `cancel` method, one object fewer per running task."""
        self.cancel(reason)

    @property
    def cancel_requested(self) -> bool:
        return self.requested

    def heartbeat(self, details: str | None) -> None:
        if self.beats is not None:
            self.beats.beat(details)

    def kept_alive(self) -> AbstractContextManager[None]:
        """Heartbeat for the task while its handler cannot (see `_kept_alive`)."""
        return _kept_alive(self)

    def cancel(self, reason: CancelReason) -> None:
        """Stop the handler. A sync handler asked to cancel only sees the flag (threads can't be
        interrupted; a process handler gets `cancel_grace` before its process is killed);
        otherwise the scope is cancelled too (for a thread handler, the task then waits for its
        thread: `ctx.cancel_requested` is true; a process handler's process is killed)."""
        if self.reason is None or reason in _FINAL:
            self.reason = reason
        self.requested = True
        if self.scope is not None and (
            reason is not CancelReason.REQUESTED
            or (not self.storing and (self.definition.is_async or self.waiting))
        ):
            self.scope.cancel()
        elif self.on_request is not None:
            self.on_request()


@contextmanager
def _kept_alive(running: RunningTask) -> Iterator[None]:
    """Heartbeat for the task while its handler cannot (it waits for its type's turn or for a
    worker process, or a claim-check value moves, which S3 throttling may stretch past the
    heartbeat timeout) when its type declares a heartbeat timeout: SWF would time it out
    otherwise. Then the handler's own rule again."""
    definition, beats = running.definition, running.beats
    if definition.heartbeat_timeout and beats is not None:
        beats.keep_alive()
    try:
        yield
    finally:
        if beats is not None:
            beats.auto = definition.auto_heartbeat


class Executor:
    """Runs polled tasks and sends their outcomes to the responder."""

    def __init__(
        self,
        registry: ActivityRegistry,
        heartbeats: Heartbeats,
        outcomes: MemoryObjectSendStream[Outcome],
        metrics: Metrics,
        payloads: Payloads,
        *,
        thread_limit: int,
        processes: ProcessPool | None = None,
        types: TypeLimits | None = None,
        interceptors: Interceptors | None = None,
    ) -> None:
        self._registry = registry
        self._interceptors = interceptors
        """What runs around each handler and sees each outcome (None: nothing, the fast path)."""
        self._payloads = payloads
        self._types = types
        self._heartbeats = heartbeats
        self._outcomes = outcomes
        self._metrics = metrics
        self._threads = anyio.CapacityLimiter(thread_limit)
        """A sync handler's turn, before its thread: a task waiting for one is heartbeaten."""
        self._thread_runs = anyio.CapacityLimiter(thread_limit)
        """What `to_thread` takes (never waited on: a turn was taken first)."""
        self._processes = processes
        self._tg: TaskGroup | None = None
        self._running: set[RunningTask] = set()
        self._active = 0
        """Tasks submitted and not yet handed to the responder (started or about to start)."""
        self._idle = anyio.Event()
        self._idle.set()
        self._waiting = 0
        self._sent = anyio.Event()
        self._started = 0
        self._finished = 0

    def statistics(self) -> ExecutorStatistics:
        return ExecutorStatistics(self._active, self._started, self._finished)

    def bind(self, tg: TaskGroup) -> None:
        """Run tasks as children of `tg` (the worker's task group)."""
        self._tg = tg

    def submit(self, task: ActivityTask, slot: Slot) -> None:
        """Start running `task`, which holds `slot` until its outcome is acknowledged."""
        assert self._tg is not None, "bind() the executor to a task group first"
        if self._types is not None:
            self._types.admit(task.activity_type, task.task_list)
        self._started += 1
        self._active += 1  # here, not when the task first runs: wait_idle() must see it at once
        if self._idle.is_set():
            self._idle = anyio.Event()
        self._tg.start_soon(self._run, task, slot, name=f"activity {task.activity_type}")

    async def wait_idle(self) -> None:
        """Return once no task is running."""
        await self._idle.wait()

    def cancel_all(self, reason: CancelReason) -> None:
        for running in list(self._running):
            running.cancel(reason)

    async def answer_stuck(self) -> int:
        """Answer Failed(`worker shutdown`) for handlers still running after cancellation.

        A handler that ignores cancellation can't be stopped in Python; its task is answered so
        the decider can reschedule it, and whatever the handler does later is dropped.
        """
        stuck = [running for running in self._running if not running.answered]
        for running in stuck:  # before the first await: a handler ending meanwhile stays silent
            running.answered = True
        for running in stuck:
            log.error("handler ignores cancellation; answering for it", task=repr(running.task))
            await self._finish(
                Outcome(running.task, running.slot, OutcomeKind.FAILED, reason=SHUTDOWN_REASON)
            )
        return len(stuck)

    async def wait_sent(self) -> None:
        """Return once no outcome waits for room in the (full) outcome stream."""
        while self._waiting:
            self._sent = anyio.Event()
            await self._sent.wait()

    async def close(self) -> None:
        """No more outcomes: the responder drains what it has and stops; a late outcome is
        dropped (see `_drop`)."""
        await self._outcomes.aclose()

    async def _run(self, task: ActivityTask, slot: Slot) -> None:
        """One task from start to its outcome handed over, in one coroutine (each coroutine a
        task keeps alive is walked by every full garbage collection while it runs)."""
        try:
            bind_task_context(task)  # this task's own context: its handler's log lines carry it
            definition = self._registry.get(task.activity_type)
            if definition is None:
                await self._finish(self._unknown_type(task, slot))
                return
            running = self._track(task, slot, definition)
            beats, handed_over = running.beats, False
            assert beats is not None
            try:
                if running.limit is None:
                    outcome = await self._execute(running)
                else:
                    outcome = await self._execute_limited(running, running.limit)
                if not running.answered:  # answer_stuck() may have answered for a stuck handler
                    running.answered = True
                    if outcome.needs_response and (definition.heartbeat_timeout or beats.extended):
                        # The answer may wait for a busy responder: keep the task alive at SWF
                        # until it is acknowledged, or it times out with its work done; and past
                        # a deadline a probe already moved, keep probing: it moves on while SWF
                        # still has the task. (Any other task's answer is retried until its
                        # default deadline, one start-to-close timeout away at most.)
                        if definition.heartbeat_timeout:
                            beats.keep_alive()
                        outcome.on_settle, handed_over = beats.close, True
                    await self._finish(outcome)
            except BaseException:
                slot.release()  # only an outer cancellation gets here: the worker is stopping
                handed_over = False
                raise
            finally:
                if not handed_over:
                    beats.close()
                self._running.discard(running)  # only now: its outcome is with the responder
        finally:
            self._active -= 1
            if not self._active:
                self._idle.set()

    def _track(self, task: ActivityTask, slot: Slot, definition: ActivityDefinition) -> RunningTask:
        """The running record of `task`: its type's turn limit, where its large values go, and
        its heartbeats (tracked from now on)."""
        running = RunningTask(task, slot, definition)
        if self._types is not None:
            running.limit = self._types.get(task.activity_type)
        if isinstance(definition.codec, ClaimCheck):
            running.placement = self._payloads.placement(definition.codec)
        running.beats = self._heartbeats.track(
            task.token,
            definition.heartbeat_interval,
            definition.auto_heartbeat,
            running,
            deadline=running.deadline,
        )
        self._running.add(running)
        return running

    async def _execute(self, running: RunningTask) -> Outcome:
        task, definition, placement = running.task, running.definition, running.placement
        try:
            if placement is not None and is_reference(task.input):
                data = await self._load(running, placement)
                if data is NOTHING:  # stopped while fetching: answered as for a handler
                    return settle(running, NOTHING, None, 0.0)
            else:
                data = definition.codec.decode(task.input)
        except Exception as exc:
            return failed(task, running.slot, input_problem(exc), None, 0.0, running.deadline)
        value, error = NOTHING, None
        started = anyio.current_time()
        with anyio.CancelScope() as scope:
            running.scope = scope
            if running.reason is not None and running.reason is not CancelReason.REQUESTED:
                scope.cancel()
            try:
                value = await self._invoke(running, data)
            except anyio.get_cancelled_exc_class() as exc:
                if scope.cancel_called or anyio.current_effective_deadline() == -math.inf:
                    raise  # ours, or an enclosing scope's (the worker itself is being cancelled)
                error = exc  # the handler raised a cancellation of its own making
            except BaseException as exc:  # every way a handler can fail, pathologies included
                error = exc
        elapsed = anyio.current_time() - started - running.waited
        outcome = settle(running, value, error, elapsed)
        # The error's traceback holds this frame, and the frame holds the error: let go, so a
        # failed task is freed by reference counting, not left to the collector as a cycle.
        error = None
        if outcome.offload is not None:
            return await self._offload(running, outcome)
        return outcome

    def _invoke(self, running: RunningTask, data: Any) -> Awaitable[Any]:
        """What to await for the handler's value. On the common path (an async handler, no
        interceptors, no turn to wait for) that is the handler's own coroutine: no wrapper
        coroutine stays alive in between while it runs; and the task's `ActivityContext` is
        made only for those that see it (its handler or interceptors)."""
        definition = running.definition
        ctx = None
        if definition.takes_context or self._interceptors is not None:
            ctx = ActivityContext(running.task, running.deadline, running)
        if running.limit is not None or self._interceptors is not None:
            return self._call_through(running, data, ctx)
        if definition.is_async:
            call: Awaitable[Any] = definition.handler(
                *((data, ctx) if definition.takes_context else (data,))
            )
            return call
        return self._call(running, data, ctx)

    async def _offload(self, running: RunningTask, outcome: Outcome) -> Outcome:
        """`outcome` with its large value stored on S3, under the task's own cancel scope like
        the handler (so the drain or SWF dropping the task stop the S3 retries, and the task is
        answered as for a stopped handler rather than left stuck)."""
        running.storing = True
        with _kept_alive(running), anyio.CancelScope() as running.scope:
            if running.reason is not None and running.reason is not CancelReason.REQUESTED:
                running.scope.cancel()
            store = partial(self._payloads.offload, outcome)
            if self._interceptors is None:
                return await store()
            try:
                return await self._interceptors.transfer(running.task, PUT_OBJECT, store)
            except Exception as exc:  # an interceptor's own failure: the store's, not the worker's
                return self._payloads.not_stored(outcome, exc)
        return settle(running, NOTHING, None, outcome.handler_seconds)

    async def _load(self, running: RunningTask, placement: Placement) -> Any:
        """The input a claim-check reference names, fetched under the task's own cancel scope
        (so the drain, a cancel request or the task's end stop S3 retries too); NOTHING when
        stopped."""
        codec, text = running.definition.codec, running.task.input
        assert isinstance(codec, ClaimCheck)
        assert text is not None
        with _kept_alive(running), anyio.CancelScope() as running.scope:
            if running.reason is not None:
                running.scope.cancel()
            fetch = partial(self._payloads.load, text, codec, placement, running.deadline)
            if self._interceptors is None:
                return await fetch()
            return await self._interceptors.transfer(running.task, GET_OBJECT, fetch)
        return NOTHING

    async def _execute_limited(self, running: RunningTask, limit: TypeLimit) -> Outcome:
        """`_execute` for a type with `max_concurrent`: however the task ends, it stops counting
        as waiting."""
        assert self._types is not None
        try:
            return await self._execute(running)
        finally:
            if not running.turn:
                self._types.leave(limit)

    async def _call_through(
        self, running: RunningTask, data: Any, ctx: ActivityContext | None
    ) -> Any:
        """The handler inside the interceptor chain, once its type has a free turn
        (`max_concurrent`): interceptors see the handler's run, not the wait for its turn."""
        call: Callable[[], Awaitable[Any]] = partial(self._call, running, data, ctx)
        if self._interceptors is not None:
            handler = partial(self._call, running, data)
            assert ctx is not None
            call = partial(self._interceptors.execute, running.task, ctx, handler)
        if running.limit is None:
            return await call()
        return await self._call_in_turn(running, running.limit, call)

    async def _call_in_turn(
        self, running: RunningTask, limit: TypeLimit, call: Callable[[], Awaitable[Any]]
    ) -> Any:
        """`call()` once the task's type has a free turn (`max_concurrent`)."""
        assert self._types is not None
        if not self._types.try_acquire(limit, running):
            await self._wait_turn(running, limit)
        running.turn = True
        self._types.leave(limit)
        try:
            return await call()
        finally:
            limit.limiter.release_on_behalf_of(running)

    async def _wait_turn(self, running: RunningTask, limit: TypeLimit) -> None:
        """Wait for a turn, holding the slot. Meanwhile the task is heartbeaten when its type
        declares a heartbeat timeout (SWF would time it out otherwise), and any cancellation
        (a cancel request too) stops the wait."""
        assert self._types is not None
        running.waiting = True
        started = anyio.current_time()
        try:
            with _kept_alive(running):
                await self._types.acquire(limit, running)
        finally:
            running.waiting = False
            running.waited = anyio.current_time() - started

    async def _call(self, running: RunningTask, data: Any, ctx: ActivityContext | None) -> Any:
        definition = running.definition
        args = (data, ctx) if definition.takes_context else (data,)
        if definition.is_async:
            return await definition.handler(*args)
        if definition.process:
            if self._processes is None:
                raise RuntimeError("a process handler, and no process pool: a bug")
            return await self._processes.execute(running, data)
        with _kept_alive(running) if self._threads.available_tokens < 1 else nullcontext():
            await acquire_for(self._threads, running)
        # Never abandoned: a cancelled sync handler sees `ctx.cancel_requested` and is waited
        # for, so `thread_limit` bounds the threads really running.
        try:
            value, error = await anyio.to_thread.run_sync(
                _capturing, definition.handler, *args, limiter=self._thread_runs
            )
        finally:
            self._threads.release_on_behalf_of(running)
        if error is None:
            return value
        try:
            raise error
        finally:
            error = None  # the traceback holds this frame: no cycle through it either

    def _unknown_type(self, task: ActivityTask, slot: Slot) -> Outcome:
        registered = ", ".join(self._registry.names()) or "none"
        return failed(
            task,
            slot,
            f"unknown activity type {task.activity_type}",
            f"this worker handles: {registered}",
            0.0,
            None,
        )

    async def _finish(self, outcome: Outcome) -> None:
        self._finished += 1
        series = self._metrics.type_series(outcome.task.activity_type)
        series.outcomes[outcome.kind].inc()
        series.duration.observe(outcome.handler_seconds)
        if _debug_logging():
            log.debug(
                "activity ended",
                activity_type=series.label,
                outcome=outcome.kind.value,
                activity_id=outcome.task.activity_id,
                task_token=redact(outcome.task.token),
                seconds=round(outcome.handler_seconds, 6),
            )
        if self._interceptors is not None:
            self._interceptors.ended(outcome)
        if not outcome.needs_response:
            outcome.settle()
            return
        try:  # the common case, without the scheduling round trip of `send()`
            self._outcomes.send_nowait(outcome)
        except anyio.WouldBlock:
            await self._send_waiting(outcome)  # the stream is full: wait (backpressure)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._drop(outcome)

    async def _send_waiting(self, outcome: Outcome) -> None:
        self._waiting += 1
        try:
            await self._outcomes.send(outcome)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._drop(outcome)
        finally:
            self._waiting -= 1
            if not self._waiting:
                self._sent.set()

    @staticmethod
    def _drop(outcome: Outcome) -> None:
        log.error("outcome dropped: the responder has stopped", task=repr(outcome.task))
        outcome.settle()
