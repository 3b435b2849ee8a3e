"""The activity API: a registry of handlers by SWF activity type, and the context they receive.

```python
registry = ActivityRegistry(task_list="default")

@registry.activity(version="1", start_to_close=60)
async def echo(text: str, ctx: ActivityContext) -> str:
    return text
```
Handlers may be `async def` (run on the event loop) or plain `def` (run in a worker thread under
the worker's thread limit, or with `executor="process"` in a worker process), and take `(input)`
or `(input, ctx)`.

Process execution is for CPU-bound sync handlers: they run in parallel on every core, never
make the event loop late, and a cancel request that the handler ignores still ends the work (its
process is killed after `cancel_grace`). The handler crosses to the process by reference
(module and qualified name, so it must be a module-level function), and its input and result
are pickled. `async def` handlers are refused for it: a coroutine waiting on I/O gains nothing
from a process, and one burning CPU should be a sync function.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypedDict, TypeVar, Unpack

from asyncworker.codec import RAW, Codec
from asyncworker.errors import ActivityCanceled
from asyncworker.pipeline.flow import ActivityTask, ActivityType, TaskDeadline

DEFAULT_HEARTBEAT_INTERVAL = 10.0
"""Seconds between heartbeats of an activity that declares no heartbeat timeout."""

Handler = Callable[..., Any]
F = TypeVar("F", bound=Handler)
Execution = Literal["thread", "process"]
"""Where a sync handler runs: a worker thread, or a worker process."""


def _check_timeout(name: str, value: int | None) -> int | None:
    if value is not None and value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds or None, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class ActivityDefinition:
    """A registered handler and its SWF activity type's registration defaults."""

    activity_type: ActivityType
    handler: Handler
    is_async: bool
    takes_context: bool
    codec: Codec
    task_list: str
    start_to_close: int | None = None
    """Default start-to-close timeout (s); also the worker's local deadline for the handler."""
    heartbeat_timeout: int | None = None
    schedule_to_start: int | None = None
    schedule_to_close: int | None = None
    auto_heartbeat: bool = False
    """Heartbeat automatically (with the latest details) while the handler runs."""
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL
    """At most one heartbeat per interval; a third of the heartbeat timeout when one is declared."""
    description: str | None = None
    process: bool = False
    """A sync handler that runs in a worker process (`executor="process"`)."""
    max_concurrent: int | None = None
    """At most this many handlers of the type run at once in a worker (None: no limit)."""


class ActivityOptions(TypedDict, total=False):
    """How an activity type is registered; every key is optional."""

    version: str
    """The type's version (default "1")."""
    task_list: str
    """Default task list (default: the registry's)."""
    start_to_close: int
    """Default start-to-close timeout (s); also the worker's local deadline for the handler."""
    heartbeat_timeout: int
    schedule_to_start: int
    schedule_to_close: int
    auto_heartbeat: bool
    """Heartbeat automatically while the handler runs (needs `heartbeat_timeout`)."""
    heartbeat_interval: float
    """At most one heartbeat per interval (default: a third of the heartbeat timeout, or 10 s)."""
    codec: Codec
    """Input/result codec (default RAW; JSON opt-in)."""
    description: str
    executor: Execution
    """Where a sync handler runs: "thread" or "process" (default: the registry's)."""
    max_concurrent: int
    """At most this many handlers of the type run at once in a worker; a task polled while they
    all run waits for its turn, holding its slot (see the README's flow control section)."""


class TaskControl(Protocol):
    """The executor's side of a running task, as its context sees it."""

    @property
    def cancel_requested(self) -> bool: ...

    def heartbeat(self, details: str | None) -> None: ...


class ActivityContext:
    """What a handler knows about its task, and how it heartbeats.

    `heartbeat()` never blocks and may be called from any thread: it records the latest details and
    the worker sends them at most once per heartbeat interval (coalescing), or at once the first
    time. `cancel_requested` turns true when a heartbeat reported that the decider asked to cancel,
    or when the worker is giving up on the task (deadline, shutdown).
    """

    __slots__ = ("_control", "_deadline", "_task")

    def __init__(
        self, task: ActivityTask, deadline: TaskDeadline | None, control: TaskControl
    ) -> None:
        self._task = task
        self._control = control
        self._deadline = deadline

    @property
    def deadline(self) -> float | None:
        """When SWF times the task out as far as the worker knows, on the
        `anyio.current_time()` / `time.monotonic()` clock; None if the type declares no
        start-to-close timeout. It moves later once SWF shows the decider chose a longer one."""
        return None if self._deadline is None else self._deadline.at

    @property
    def activity_id(self) -> str:
        return self._task.activity_id

    @property
    def activity_type(self) -> ActivityType:
        return self._task.activity_type

    @property
    def workflow_id(self) -> str:
        return self._task.workflow_id

    @property
    def run_id(self) -> str:
        return self._task.run_id

    @property
    def task_list(self) -> str:
        return self._task.task_list

    @property
    def task_token(self) -> str:
        """The task's token, for completing it from elsewhere. A secret: never log it."""
        return self._task.token

    @property
    def cancel_requested(self) -> bool:
        return self._control.cancel_requested

    def heartbeat(self, details: str | None = None) -> None:
        self._control.heartbeat(details)

    def raise_if_cancel_requested(self, details: str | None = None) -> None:
        """For sync handlers: raise `ActivityCanceled` once cancellation was requested."""
        if self._control.cancel_requested:
            raise ActivityCanceled(details)

    @property
    def control(self) -> TaskControl:
        """The worker's side of the task (what `heartbeat` and `cancel_requested` reach)."""
        return self._control

    def with_control(self, control: TaskControl) -> ActivityContext:
        """A context of the same task whose heartbeats and cancel flag go through `control`."""
        return ActivityContext(self._task, self._deadline, control)

    def __repr__(self) -> str:
        return f"ActivityContext({self._task!r})"


class ActivityRegistry:
    """Activity handlers by SWF activity type `(name, version)`."""

    def __init__(self, *, task_list: str = "default", executor: Execution = "thread") -> None:
        """`executor` is where sync handlers run unless they say otherwise (async handlers
        always run on the event loop)."""
        if executor not in ("thread", "process"):
            raise ValueError(f'executor must be "thread" or "process", got {executor!r}')
        self.task_list = task_list
        self.executor = executor
        self._definitions: dict[ActivityType, ActivityDefinition] = {}

    def activity(
        self, name: str | None = None, **options: Unpack[ActivityOptions]
    ) -> Callable[[F], F]:
        """Register the decorated function as the handler of activity type `name:version`."""

        def register(handler: F) -> F:
            self.add(handler, name=name, **options)
            return handler

        return register

    def add(
        self, handler: Handler, *, name: str | None = None, **options: Unpack[ActivityOptions]
    ) -> ActivityDefinition:
        """Register `handler` (`name` defaults to its function name); raises ValueError on a
        duplicate type or a bad option."""
        version = options.get("version", "1")
        heartbeat_timeout = options.get("heartbeat_timeout")
        heartbeat_interval = options.get("heartbeat_interval")
        auto_heartbeat = options.get("auto_heartbeat", False)
        activity_type = ActivityType(name or handler.__name__, version)
        if activity_type in self._definitions:
            raise ValueError(f"activity type {activity_type} is already registered")
        if not 1 <= len(activity_type.name) <= 256 or not 1 <= len(version) <= 64:
            raise ValueError(f"bad activity type {activity_type}: name 1-256, version 1-64 chars")
        if auto_heartbeat and heartbeat_timeout is None:
            raise ValueError(f"{activity_type}: auto_heartbeat needs a heartbeat_timeout")
        if heartbeat_interval is None:
            heartbeat_interval = (
                heartbeat_timeout / 3 if heartbeat_timeout else DEFAULT_HEARTBEAT_INTERVAL
            )
        elif heartbeat_interval <= 0:
            raise ValueError(f"{activity_type}: heartbeat_interval must be positive")
        elif heartbeat_timeout and heartbeat_interval >= heartbeat_timeout:
            raise ValueError(
                f"{activity_type}: heartbeat_interval ({heartbeat_interval:g} s) must be shorter"
                f" than heartbeat_timeout ({heartbeat_timeout} s), or SWF times the task out"
                " between two heartbeats"
            )
        is_async = inspect.iscoroutinefunction(handler)
        max_concurrent = _check_limit(activity_type, options.get("max_concurrent"))
        definition = ActivityDefinition(
            activity_type=activity_type,
            handler=handler,
            is_async=is_async,
            takes_context=_takes_context(handler),
            codec=options.get("codec", RAW),
            task_list=options.get("task_list") or self.task_list,
            start_to_close=_check_timeout("start_to_close", options.get("start_to_close")),
            heartbeat_timeout=_check_timeout("heartbeat_timeout", heartbeat_timeout),
            schedule_to_start=_check_timeout("schedule_to_start", options.get("schedule_to_start")),
            schedule_to_close=_check_timeout("schedule_to_close", options.get("schedule_to_close")),
            auto_heartbeat=auto_heartbeat,
            heartbeat_interval=heartbeat_interval,
            description=options.get("description") or inspect.getdoc(handler),
            process=_in_process(
                activity_type, handler, is_async, options.get("executor"), self.executor
            ),
            max_concurrent=max_concurrent,
        )
        self._definitions[activity_type] = definition
        return definition

    def get(self, activity_type: ActivityType) -> ActivityDefinition | None:
        return self._definitions.get(activity_type)

    def __iter__(self) -> Iterator[ActivityDefinition]:
        return iter(self._definitions.values())

    def __len__(self) -> int:
        return len(self._definitions)

    def names(self) -> list[str]:
        """The registered types as `name:version`, sorted."""
        return sorted(str(t) for t in self._definitions)


def _in_process(
    activity_type: ActivityType,
    handler: Handler,
    is_async: bool,
    asked: Execution | None,
    default: Execution,
) -> bool:
    """Whether `handler` runs in a worker process; ValueError if it cannot."""
    if asked not in (None, "thread", "process"):
        raise ValueError(f'{activity_type}: executor must be "thread" or "process", got {asked!r}')
    if asked is None:  # the registry's default is for sync handlers
        asked = "thread" if is_async else default
    if asked == "thread":
        return False
    if is_async:
        raise ValueError(
            f"{activity_type}: an async def handler runs on the event loop; only sync handlers"
            ' take executor="process" (make a CPU-bound handler a plain def)'
        )
    qualname = getattr(handler, "__qualname__", "")
    if "<locals>" in qualname or "<lambda>" in qualname or not getattr(handler, "__module__", ""):
        raise ValueError(
            f"{activity_type}: a process handler crosses to the process by reference, so it must"
            f" be a module-level function (got {qualname or handler!r})"
        )
    return True


def _check_limit(activity_type: ActivityType, value: object) -> int | None:
    """`max_concurrent` as given, or ValueError: 0 would never run the type's tasks, which would
    then wait holding slots until SWF timed them out."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{activity_type}: max_concurrent must be at least 1, got {value!r}")
    return value


def _takes_context(handler: Handler) -> bool:
    """Whether `handler` takes `(input, ctx)` rather than `(input)`."""
    params = [
        p
        for p in inspect.signature(handler).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(params) not in (1, 2):
        raise ValueError(f"{handler.__name__}: a handler takes (input) or (input, ctx)")
    return len(params) == 2
