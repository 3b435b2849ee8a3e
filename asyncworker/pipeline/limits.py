"""Flow control: rate limits and pausing before the poll, per-activity-type concurrency after it.

SWF hands a poll whatever task is next on its list, and a task's start-to-close clock runs from
the moment the poll returns, so every limit acts before the poll wherever it can:

- **Rates** (`max_activities_per_second`, `task_list_rates`): a poller takes a token of its task
  list's bucket and of the worker's, after its slot and before the poll; a poll that brings no
  task (or fails) gives its tokens back, so only tasks count against a rate.
- **Pause** (`POST /pause`, SIGUSR1): pollers start no new poll until resumed; polls in flight
  return in their own time and what they bring runs, as in a drain.
- **Per-type concurrency** (`max_concurrent=N` at registration): a type is known only once its
  task is polled, so this limit acts after the poll (see `TypeLimits`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import anyio

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from prometheus_client import Histogram

    from asyncworker.activity import ActivityDefinition
    from asyncworker.metrics import RateSeries
    from asyncworker.pipeline.flow import ActivityType

BURST_SECONDS = 1.0
"""A bucket holds this many seconds of its rate (at least one token): a worker that sat idle may
take that much at once, as SWF's own token buckets allow."""


class TokenBucket:
    """`rate` tokens per second, holding at most `burst`; it starts full.

    Written here rather than taken from a library: aiolimiter is asyncio-only (its waiters are
    asyncio futures woken by `loop.call_later`), pyrate-limiter is built around storage backends
    and sync callers, and neither gives a token back, which an empty poll must do. This bucket is
    reservation-based: a taker takes its token at once, driving the level below zero when none is
    there, and sleeps until the refill has covered its debt. Takers are thus served in the order
    they came with no lock and no waker task, a cancelled taker returns its reservation, and the
    whole state is two floats on the event loop's clock.
    """

    __slots__ = ("_level", "_updated", "burst", "rate")

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError(f"a token bucket's rate must be positive, got {rate}")
        self.rate = rate
        self.burst = max(1.0, rate * BURST_SECONDS) if burst is None else burst
        self._level = self.burst
        self._updated = anyio.current_time()

    @property
    def tokens(self) -> float:
        """Tokens there now (negative: owed to takers still waiting)."""
        self._refill()
        return self._level

    def _refill(self) -> None:
        now = anyio.current_time()
        self._level = min(self.burst, self._level + (now - self._updated) * self.rate)
        self._updated = now

    async def take(self) -> float:
        """Take a token, waiting until there is one; returns the seconds waited."""
        self._refill()
        self._level -= 1
        if self._level >= 0:
            return 0.0
        started = self._updated
        try:
            await anyio.sleep(-self._level / self.rate)
        except BaseException:  # cancelled while waiting: the reservation goes back
            self.give_back()
            raise
        return anyio.current_time() - started

    def give_back(self) -> None:
        """Return a token taken for nothing (never above the burst)."""
        self._refill()
        self._level = min(self.burst, self._level + 1)


class PollRate:
    """The buckets a task list's pollers take a token of before each poll: the list's own and
    the worker's, each optional (a list with neither gets no `PollRate` at all)."""

    __slots__ = ("_buckets", "_series")

    def __init__(self, buckets: Iterable[TokenBucket], series: RateSeries) -> None:
        self._buckets = tuple(buckets)
        self._series = series

    async def take(self) -> None:
        """A token of every bucket, or none (cancelled while waiting: what was taken goes back)."""
        waited = 0.0
        taken: list[TokenBucket] = []
        try:
            for bucket in self._buckets:
                waited += await bucket.take()
                taken.append(bucket)
        except BaseException:
            for bucket in taken:
                bucket.give_back()
            raise
        if waited:
            self._series.limited.inc()
        self._series.wait.observe(waited)

    def give_back(self) -> None:
        for bucket in self._buckets:
            bucket.give_back()


class Pause:
    """Whether the pollers may start new polls (`POST /pause`, SIGUSR1; resumed by
    `POST /resume`, SIGUSR2)."""

    __slots__ = ("_resumed", "paused")

    def __init__(self) -> None:
        self.paused = False
        self._resumed: anyio.Event | None = None

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        if self._resumed is not None:
            self._resumed.set()
            self._resumed = None

    async def wait_resumed(self) -> None:
        while self.paused:
            if self._resumed is None:
                self._resumed = anyio.Event()
            await self._resumed.wait()


class TypeStatistics(NamedTuple):
    running: int
    waiting: int


class TypeLimit:
    """One activity type's concurrency limit: its running handlers, and the tasks waiting."""

    __slots__ = ("bound", "label", "limiter", "task_lists", "wait", "waiting")

    def __init__(self, definition: ActivityDefinition, wait: Histogram) -> None:
        assert definition.max_concurrent is not None
        self.label = str(definition.activity_type)
        self.limiter = anyio.CapacityLimiter(definition.max_concurrent)
        self.bound = definition.max_concurrent
        """Tasks that may wait before the task lists they came from stop polling."""
        self.waiting = 0
        """Tasks polled that have not had their turn yet (counted from the hand-off on, so a
        poller sees them before its next poll)."""
        self.task_lists: set[str] = set()
        """The task lists tasks of this type came from: those stop polling while it is full."""
        self.wait = wait

    @property
    def full(self) -> bool:
        return self.waiting >= self.bound


class TypeLimits:
    """Per-activity-type concurrency (`max_concurrent=N`), with safe semantics.

    A task is polled before its type is known, so this limit cannot act before the poll. What it
    does instead:

    - at most N handlers of the type run at once in this worker;
    - a task polled while N run waits for its turn *holding its slot* (slots stay the unit of
      capacity, so the wait is bounded by `max_concurrency` like everything else); meanwhile it
      is heartbeaten when its type declares a heartbeat timeout, its deadline probe still runs
      (SWF timing it out drops it without running it; a cancel request answers Canceled), and
      its wait is measured;
    - once N tasks of the type wait, the pollers of every task list that brought the type stop
      polling until one of them gets its turn. In-flight polls may still bring some: the queue
      is at most N plus the pollers of those lists.

    The trade-off is head-of-line blocking: while a limited type is full, other types on its
    task lists wait too, just as they would behind it on the list at SWF. A poller cannot skip a
    type it has not seen, and polling on would fill the slots with tasks whose clocks run. Give
    a limited type a task list of its own and the two coincide: its list stops exactly when its
    type is full.
    """

    def __init__(self, definitions: Iterable[ActivityDefinition], wait: Histogram) -> None:
        self._limits: dict[ActivityType, TypeLimit] = {
            d.activity_type: TypeLimit(d, wait.labels(str(d.activity_type)))
            for d in definitions
            if d.max_concurrent is not None
        }
        self._changed = anyio.Event()

    def __bool__(self) -> bool:
        return bool(self._limits)

    def statistics(self) -> Mapping[str, TypeStatistics]:
        return {
            limit.label: TypeStatistics(limit.limiter.borrowed_tokens, limit.waiting)
            for limit in self._limits.values()
        }

    def get(self, activity_type: ActivityType) -> TypeLimit | None:
        """The limit of `activity_type`; None when it has none (here: a type registered after
        the limits were built runs unlimited rather than without a turn to take)."""
        return self._limits.get(activity_type)

    def blocks(self, task_list: str) -> bool:
        """A full type came from `task_list`: its pollers must not poll."""
        return any(limit.full and task_list in limit.task_lists for limit in self._limits.values())

    async def wait_unblocked(self, task_list: str) -> None:
        while self.blocks(task_list):
            await self._changed.wait()

    def admit(self, activity_type: ActivityType, task_list: str) -> None:
        """A task was handed to the executor: count it as waiting until it has its turn (called
        synchronously at the hand-off, so the poller sees it before it polls again)."""
        limit = self.get(activity_type)
        if limit is not None:
            limit.task_lists.add(task_list)
            limit.waiting += 1

    def leave(self, limit: TypeLimit) -> None:
        """An admitted task had its turn, or ended without one."""
        limit.waiting -= 1
        if limit.waiting == limit.bound - 1:  # no longer full: blocked pollers may poll
            self._changed.set()
            self._changed = anyio.Event()

    def try_acquire(self, limit: TypeLimit, borrower: object) -> bool:
        """Take a turn of `limit` for `borrower` if one is free and nobody waits for one."""
        try:
            limit.limiter.acquire_on_behalf_of_nowait(borrower)
        except anyio.WouldBlock:
            return False
        limit.wait.observe(0.0)
        return True

    async def acquire(self, limit: TypeLimit, borrower: object) -> None:
        """Wait for a turn of `limit` for `borrower`, timed."""
        started = anyio.current_time()
        try:
            await limit.limiter.acquire_on_behalf_of(borrower)
        finally:
            limit.wait.observe(anyio.current_time() - started)
