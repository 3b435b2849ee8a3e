"""`ActivityEnvironment`: run one handler on a fake task exactly as the worker runs it.

The handler runs in the worker's own executor (decoding, interceptors, thread limit, cancel
scopes, task-scoped log fields) and its ending goes through the worker's one outcome mapping
(`asyncworker.pipeline.settle`, with the codec and SWF's size rules), so the outcome a test sees
is the answer the worker would send. Only SWF is missing: heartbeats are recorded instead of
sent, and what SWF would tell the worker (a cancel request, a timeout, the task gone) and the
drain's end are the test's to trigger, at the moment it chooses.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import anyio
import anyio.from_thread

from asyncworker.activity import ActivityDefinition, ActivityRegistry
from asyncworker.interceptors import Interceptor, Interceptors
from asyncworker.metrics import Metrics
from asyncworker.pipeline.executor import Executor
from asyncworker.pipeline.flow import (
    ActivityTask,
    ActivityType,
    CancelReason,
    Outcome,
    OutcomeKind,
    Slot,
)
from asyncworker.pipeline.payloads import Payloads
from asyncworker.settings import WorkerSettings

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from asyncworker.activity import Handler
    from asyncworker.pipeline.heartbeat import Heartbeats

TOKEN = "env-token-" + "0" * 40
"""The fake task's token (log lines show its last 8 characters only)."""


@dataclass(frozen=True, slots=True)
class ActivityOutcome:
    """What the worker tells SWF about the task.

    `kind` is `completed` (RespondActivityTaskCompleted with `result`), `failed`
    (RespondActivityTaskFailed with `reason` and `details`), `canceled`
    (RespondActivityTaskCanceled with `details`), or `timed_out` / `abandoned` (nothing is sent:
    SWF has already closed the task). Every field is already fitted to SWF's limits.
    """

    kind: OutcomeKind
    result: str | None = None
    reason: str | None = None
    details: str | None = None

    @property
    def answered(self) -> bool:
        """Whether the worker sends SWF an answer (timed out and abandoned tasks get none)."""
        return self.kind in (OutcomeKind.COMPLETED, OutcomeKind.FAILED, OutcomeKind.CANCELED)


class _Handle:
    """The heartbeat side of the fake task: records every `ctx.heartbeat()` (the worker would
    coalesce them to the latest) and keeps the executor's cancel callback for the test."""

    def __init__(self, env: ActivityEnvironment, on_cancel: Callable[[CancelReason], None]) -> None:
        self._env = env
        self.on_cancel = on_cancel
        self.extended = False

    def beat(self, details: str | None) -> None:
        details = details if details is None or isinstance(details, str) else repr(details)
        self._env.heartbeats.append(details)
        if self._env.on_heartbeat is not None:
            self._env.on_heartbeat(details)

    def keep_alive(self) -> None:
        """The worker heartbeats an ended task until its answer lands; here it lands at once."""

    def close(self) -> None:
        self.on_cancel = _ignore


def _ignore(reason: CancelReason) -> None:
    """The cancel callback once the task has ended."""


class _Heartbeats:
    """Stands in for the worker's heartbeat service: one task, nothing sent."""

    def __init__(self, env: ActivityEnvironment) -> None:
        self._env = env
        self.handle: _Handle | None = None

    def track(
        self,
        _token: str,
        _every: float,
        _auto: bool,
        on_cancel: Callable[[CancelReason], None],
        **_: object,
    ) -> _Handle:
        """The worker's `Heartbeats.track`: only the cancel callback matters here."""
        self.handle = _Handle(self._env, on_cancel)
        return self.handle


class _Recorder(Interceptor):
    """The innermost observer: keeps the outcome the executor decided."""

    def __init__(self) -> None:
        self.outcome: Outcome | None = None

    def ended(self, outcome: Outcome) -> None:
        self.outcome = outcome


class _OneActivity(ActivityRegistry):
    """A registry holding one definition (the environment's copy, with its deadline)."""

    def __init__(self, definition: ActivityDefinition) -> None:
        super().__init__(task_list=definition.task_list)
        self._definition = definition

    def get(self, activity_type: ActivityType) -> ActivityDefinition | None:
        return self._definition if activity_type == self._definition.activity_type else None

    def names(self) -> list[str]:
        return [str(self._definition.activity_type)]


class ActivityEnvironment:
    """Runs activity handlers on fake tasks and returns the answers the worker would send.

    ```python
    env = ActivityEnvironment(registry)
    env.on_heartbeat = lambda details: env.request_cancel() if details == "page 2" else None
    outcome = await env.run(export, '{"pages": 5}')
    assert outcome.kind == "canceled" and env.heartbeats == ["page 0", "page 1", "page 2"]
    ```
    `registry` finds a handler's registration (codec, timeouts); a handler it does not hold is
    run with the defaults of `ActivityRegistry.add`. The task's ids are attributes to set.
    `request_cancel()`, `time_out()`, `abandon()` and `shutdown()` may be called at any moment
    while `run()` runs: from `on_heartbeat`, from another task, or from a sync handler's thread.
    As in the worker, a handler that ignores its cancellation keeps running (and `run()` waiting).
    """

    def __init__(
        self,
        registry: ActivityRegistry | None = None,
        *,
        interceptors: Sequence[Interceptor] = (),
        thread_limit: int = 4,
    ) -> None:
        self.registry = registry or ActivityRegistry()
        self.interceptors = list(interceptors)
        self.settings = WorkerSettings(domain="activity-environment", metrics_port=None)
        """The worker settings the executor sees (no payload bucket: claim-check codecs keep
        values inline, as a worker without a bucket does)."""
        self.thread_limit = thread_limit
        self.activity_id = "activity-1"
        self.workflow_id = "workflow-1"
        self.run_id = "run-1"
        self.heartbeats: list[str | None] = []
        """The details of every `ctx.heartbeat()` call of the last run, in order."""
        self.on_heartbeat: Callable[[str | None], None] | None = None
        """Called (where the handler heartbeats) after each heartbeat is recorded."""
        self._beats: _Heartbeats | None = None
        self._loop_thread: int | None = None

    async def run(
        self,
        activity: Handler | ActivityDefinition | ActivityType,
        input: str | None = None,
        *,
        deadline: float | None = None,
        swf_times_out: bool = True,
    ) -> ActivityOutcome:
        """Run `activity` on a task with `input` (SWF's text: the codec decodes it) and return
        what the worker would tell SWF.

        `deadline`: seconds from now to the task's start-to-close deadline (`ctx.deadline`);
        default: the type's `start_to_close`, if any. At the deadline SWF times the task out
        (`timed_out`) unless `swf_times_out` is false (a decider scheduled it with a longer
        timeout): then it runs on.
        """
        definition = self._definition(activity)
        registry: ActivityRegistry = self.registry
        if definition is not None and deadline is not None:
            definition = replace(definition, start_to_close=max(1, math.ceil(deadline)))
        if definition is not None:
            registry = _OneActivity(definition)
        task = self._task(activity, definition, deadline, input)
        recorder = _Recorder()
        self.heartbeats = []
        self._beats = _Heartbeats(self)
        self._loop_thread = threading.get_ident()
        interceptors = Interceptors([*self.interceptors, recorder])
        metrics = Metrics()
        payloads = Payloads(None, self.settings, metrics)  # no S3: claim checks stay inline
        send, receive = anyio.create_memory_object_stream[Outcome](1)
        executor = Executor(
            registry,
            cast("Heartbeats", self._beats),
            send,
            metrics,
            payloads,
            thread_limit=self.thread_limit,
            interceptors=interceptors,
        )
        with send, receive:
            async with anyio.create_task_group() as tg:
                executor.bind(tg)
                slot = await Slot.acquire(anyio.CapacityLimiter(1))
                executor.submit(task, slot)
                if definition is not None and definition.start_to_close and swf_times_out:
                    tg.start_soon(self._time_out_at, task.polled_at + definition.start_to_close)
                await executor.wait_idle()
                tg.cancel_scope.cancel()
        assert recorder.outcome is not None, "the executor decides an outcome for every task"
        outcome = recorder.outcome
        outcome.settle()
        return ActivityOutcome(outcome.kind, outcome.result, outcome.reason, outcome.details)

    def run_sync(
        self,
        activity: Handler | ActivityDefinition | ActivityType,
        input: str | None = None,
        **options: Any,
    ) -> ActivityOutcome:
        """`run()` for synchronous tests, on an event loop of its own."""
        return anyio.run(partial(self.run, activity, input, **options))

    def request_cancel(self) -> None:
        """A heartbeat reports `cancelRequested`: the decider asked to cancel the task."""
        self._cancel(CancelReason.REQUESTED)

    def time_out(self) -> None:
        """The deadline probe finds SWF timed the task out: the handler is stopped, no answer."""
        self._cancel(CancelReason.TIMED_OUT)

    def abandon(self) -> None:
        """A heartbeat finds the task gone (UnknownResourceFault): stopped, no answer."""
        self._cancel(CancelReason.ABANDONED)

    def shutdown(self) -> None:
        """The worker's drain timed out with the task still running: it is cancelled."""
        self._cancel(CancelReason.SHUTDOWN)

    def _cancel(self, reason: CancelReason) -> None:
        handle = self._beats.handle if self._beats is not None else None
        if handle is None:
            raise RuntimeError("no task is running")
        if threading.get_ident() == self._loop_thread:
            handle.on_cancel(reason)
        else:  # a sync handler's thread: cancel scopes belong to the event loop
            anyio.from_thread.run_sync(handle.on_cancel, reason)

    async def _time_out_at(self, at: float) -> None:
        await anyio.sleep(at - anyio.current_time())
        self.time_out()

    def _definition(
        self, activity: Handler | ActivityDefinition | ActivityType
    ) -> ActivityDefinition | None:
        if isinstance(activity, ActivityDefinition):
            return activity
        if isinstance(activity, ActivityType):
            return self.registry.get(activity)  # None: the worker's unknown-type answer
        for definition in self.registry:
            if definition.handler is activity:
                return definition
        return ActivityRegistry(task_list=self.registry.task_list).add(activity)

    def _task(
        self,
        activity: object,
        definition: ActivityDefinition | None,
        deadline: float | None,
        input: str | None,
    ) -> ActivityTask:
        now = anyio.current_time()
        polled_at = now
        if definition is not None and definition.start_to_close and deadline is not None:
            polled_at = now - (definition.start_to_close - deadline)  # the deadline falls then
        activity_type = definition.activity_type if definition else cast("ActivityType", activity)
        return ActivityTask(
            token=TOKEN,
            activity_id=self.activity_id,
            started_event_id=1,
            workflow_id=self.workflow_id,
            run_id=self.run_id,
            activity_type=activity_type,
            input=input,
            task_list=definition.task_list if definition else self.registry.task_list,
            polled_at=polled_at,
        )
