"""Interceptors: code a worker runs around every activity execution and every heartbeat.

```python
class Timing(Interceptor):
    async def execute(self, task, ctx, next):
        started = time.perf_counter()
        try:
            return await next()
        finally:
            log.info("ran", seconds=time.perf_counter() - started)

Worker(registry, settings, interceptors=[Timing()])
```

- `execute(task, ctx, next)` (inbound) wraps the handler: `await next()` runs the next
  interceptor, and the last one runs the handler (in its thread, for a sync handler) and returns
  its value. Whatever an interceptor raises, or returns instead of calling `next()`, goes through
  the worker's one outcome mapping exactly as if the handler had raised or returned it.
- `heartbeat(ctx, details, next)` (outbound) wraps `ctx.heartbeat()`: `next(details)` records
  the details for sending. It runs where the handler called it (a worker thread, for a sync
  handler); what it raises, the handler's `ctx.heartbeat()` call raises.
- `transfer(task, operation, next)` wraps each move of a claim-check value through S3:
  `"GetObject"` of a referenced input before the handler runs, `"PutObject"` of a large result
  or details after it; `await next()` moves the value (with its retries) and returns what the
  worker goes on with. It should only observe: what it raises, the move raised.
- `ended(outcome)` is told the task's outcome once it is decided, and `settled(outcome)` once
  its answer was acknowledged or given up on (at once for an outcome with no answer). They
  observe: the outcome is already decided, and what they raise is logged and dropped.

The first interceptor of the list is the outermost. A worker without interceptors skips all
this: the handler is called directly.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

T = TypeVar("T")

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from asyncworker.activity import ActivityContext
    from asyncworker.pipeline.flow import ActivityTask, Outcome

    Execute = Callable[[], Awaitable[Any]]
    """The rest of the chain, then the handler: returns the handler's value."""
    Heartbeat = Callable[[str | None], None]
    """The rest of the chain, then the worker's heartbeat: records the details for sending."""
    Transfer = Callable[[], Awaitable[T]]
    """The rest of the chain, then the move of a value through S3."""

log = structlog.get_logger(__name__)


class Interceptor:
    """Base class of interceptors: every method passes through; override the ones you need."""

    async def execute(self, task: ActivityTask, ctx: ActivityContext, next: Execute) -> Any:
        """Run the handler by awaiting `next()`; return its value (or another one)."""
        return await next()

    def heartbeat(self, ctx: ActivityContext, details: str | None, next: Heartbeat) -> None:
        """Record a heartbeat by calling `next(details)` (or don't, to drop it)."""
        next(details)

    async def transfer(self, task: ActivityTask, operation: str, next: Transfer[T]) -> T:
        """Move a claim-check value through S3 (`operation` is `"GetObject"` or `"PutObject"`)
        by awaiting `next()`; return what it returns."""
        return await next()

    def ended(self, outcome: Outcome) -> None:
        """The task's outcome is decided (it is about to be sent, if it is an answer)."""

    def settled(self, outcome: Outcome) -> None:
        """The task's answer was acknowledged or given up on; the task is over."""


def _overrides(interceptor: Interceptor, method: str) -> bool:
    return getattr(type(interceptor), method) is not getattr(Interceptor, method)


class _InterceptedControl:
    """A task's control side as its context sees it, with the heartbeat interceptors in front."""

    __slots__ = ("_beat", "_control")

    def __init__(self, control: Any, beat: Heartbeat) -> None:
        self._control = control
        self._beat = beat

    @property
    def cancel_requested(self) -> bool:
        return bool(self._control.cancel_requested)

    def heartbeat(self, details: str | None) -> None:
        self._beat(details)


class Interceptors:
    """The chain a worker runs: each hook calls only the interceptors that override it."""

    __slots__ = ("_ended", "_inbound", "_outbound", "_settled", "_transfers")

    def __init__(self, interceptors: Sequence[Interceptor]) -> None:
        chain = list(interceptors)
        for interceptor in chain:
            if not isinstance(interceptor, Interceptor):
                raise TypeError(f"not an Interceptor: {interceptor!r}")
        self._inbound = [i for i in chain if _overrides(i, "execute")]
        self._outbound = [i for i in chain if _overrides(i, "heartbeat")]
        self._ended = [i for i in chain if _overrides(i, "ended")]
        self._settled = [i for i in chain if _overrides(i, "settled")]
        self._transfers = [i for i in chain if _overrides(i, "transfer")]

    @classmethod
    def of(cls, interceptors: Sequence[Interceptor]) -> Interceptors | None:
        """The chain of `interceptors`, or None when there are none (nothing to run)."""
        return cls(interceptors) if interceptors else None

    async def execute(
        self,
        task: ActivityTask,
        ctx: ActivityContext,
        call: Callable[[ActivityContext], Awaitable[Any]],
    ) -> Any:
        """Run `call` (the handler) with `ctx` inside the chain; returns what the chain returns."""
        if self._outbound:
            ctx = ctx.with_control(_InterceptedControl(ctx.control, self._heartbeat_chain(ctx)))
        inner_ctx = ctx

        async def handler() -> Any:
            return await call(inner_ctx)

        step: Execute = handler
        for interceptor in reversed(self._inbound):
            step = partial(interceptor.execute, task, ctx, step)
        return await step()

    async def transfer(
        self, task: ActivityTask, operation: str, move: Callable[[], Awaitable[T]]
    ) -> T:
        """Run `move` (one claim-check value through S3) inside the chain."""
        step = move
        for interceptor in reversed(self._transfers):
            step = partial(interceptor.transfer, task, operation, step)
        return await step()

    def _heartbeat_chain(self, ctx: ActivityContext) -> Heartbeat:
        step: Heartbeat = ctx.control.heartbeat
        for interceptor in reversed(self._outbound):
            step = partial(interceptor.heartbeat, ctx, next=step)
        return step

    def ended(self, outcome: Outcome) -> None:
        """Tell the interceptors the outcome, and arrange for `settled` when it settles."""
        for interceptor in self._ended:
            _observe(interceptor.ended, outcome)
        if self._settled:
            previous = outcome.on_settle

            def settled() -> None:
                if previous is not None:
                    previous()
                for interceptor in self._settled:
                    _observe(interceptor.settled, outcome)

            outcome.on_settle = settled


def _observe(hook: Callable[[Outcome], None], outcome: Outcome) -> None:
    try:
        hook(outcome)
    except Exception:
        log.exception("interceptor failed", hook=getattr(hook, "__qualname__", repr(hook)))
