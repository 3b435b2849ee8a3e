"""Slot-holding long pollers, supervised.

Each poller takes a slot *before* it polls, so a task never arrives without capacity to run it (it
would wait while its start-to-close clock runs, heartbeaten by nobody); an empty poll keeps its
slot for the next poll. The poll call itself is shielded from cancellation: an in-flight poll is
never aborted, since SWF may hand it a task after the client went away, and that task would then
sit started until its start-to-close timeout. Stopping only stops *new* polls; what in-flight
polls bring is run.

Flow control (see `limits`) acts before each poll, in this order: not paused and no full
`max_concurrent` type from this list → the list's own slot, if it has `task_list_concurrency`,
then the worker's → a token of each rate bucket that applies (given back by an empty or failed
poll) → the poll. A poller with none of these configured takes no token step at all.

Errors back off with jitter (longer on throttling and LimitExceeded); an empty poll that comes back
early (moto answers after 1 s; a broken proxy at once) is paced so it never becomes a hot loop. A
poller that dies of an unexpected error is restarted and counted.
"""

from __future__ import annotations

import enum
import time
from collections import Counter, deque
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import anyio
import structlog

from asyncworker.errors import SwfFault
from asyncworker.pipeline.flow import ActivityTask, ListSlot, Slot
from asyncworker.pipeline.limits import Pause
from asyncworker.swf.faults import WORKER_BACKOFF, Backoff, retry_delay

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from asyncworker.metrics import Metrics
    from asyncworker.pipeline.limits import PollRate, TypeLimits
    from asyncworker.swf.api import ActivityApi

log = structlog.get_logger(__name__)

MIN_POLL_INTERVAL = 1.0
"""An empty poll that returns sooner than this after it started waits out the rest."""
RESTART_DELAY = 1.0
CRASH_LOOP_RESTARTS, CRASH_LOOP_WINDOW = 5, 60.0
"""That many restarts within that many seconds: the pollers are not alive (/healthz 503)."""


class PollerState(enum.StrEnum):
    WAITING_FOR_SLOT = "waiting_for_slot"
    WAITING_FOR_TOKEN = "waiting_for_token"
    WAITING_FOR_TYPE = "waiting_for_type"
    """A type with max_concurrent that came from this task list has its queue full."""
    PAUSED = "paused"
    POLLING = "polling"
    BACKING_OFF = "backing_off"
    STOPPED = "stopped"


class PollerStatistics(NamedTuple):
    states: dict[tuple[str, str], int]
    """(task_list, state) → pollers in that state, every pair present (0 included)."""
    last_poll: dict[str, float]
    """task_list → Unix time the last poll returned."""
    restarts: int
    alive: bool
    """Every poller is running (or all were stopped on purpose)."""


class _Poller:
    __slots__ = ("acquire", "failures", "index", "rate", "scope", "state", "task_list")

    def __init__(
        self,
        task_list: str,
        index: int,
        acquire: Callable[[], Awaitable[Slot]],
        rate: PollRate | None,
    ) -> None:
        self.task_list = task_list
        self.index = index
        self.acquire = acquire
        """Takes the poller's slot (with its task list's, under `task_list_concurrency`)."""
        self.rate = rate
        """The token buckets taken before each poll (None: no rate limit, and no token step)."""
        self.state = PollerState.WAITING_FOR_SLOT
        self.scope: anyio.CancelScope | None = None
        self.failures = 0
        """Polls failed in a row (the backoff grows with them)."""


class FlowControl(NamedTuple):
    """What holds the pollers back besides slots; every part is optional but the pause."""

    pause: Pause
    list_slots: Mapping[str, anyio.CapacityLimiter] = {}
    """task_list → its own slots (`task_list_concurrency`)."""
    rates: Mapping[str, PollRate] = {}
    """task_list → the buckets its pollers take a token of before polling."""
    types: TypeLimits | None = None
    """Per-type concurrency, when a registered type has `max_concurrent`."""


class Pollers:
    """N pollers per task list, feeding the executor."""

    def __init__(
        self,
        api: ActivityApi,
        slots: anyio.CapacityLimiter,
        submit: Callable[[ActivityTask, Slot], None],
        metrics: Metrics,
        *,
        task_lists: tuple[str, ...],
        per_task_list: int,
        backoff: Backoff = WORKER_BACKOFF,
        flow: FlowControl | None = None,
    ) -> None:
        self._api = api
        self._backoff = backoff
        self._slots = slots
        self._submit = submit
        self._flow = flow = flow if flow is not None else FlowControl(Pause())
        self._pause = flow.pause
        self._types = flow.types or None
        self._pollers = [
            _Poller(name, i, self._acquirer(name), flow.rates.get(name))
            for name in task_lists
            for i in range(per_task_list)
        ]
        self._series = {name: metrics.poll_series(name) for name in task_lists}
        self._states = [(name, state.value) for name in task_lists for state in PollerState]
        self._last_poll: dict[str, float] = {}
        self._restarts = 0
        self._recent_restarts: deque[float] = deque(maxlen=CRASH_LOOP_RESTARTS)
        self._stopping = False
        self.stopped = anyio.Event()

    def statistics(self) -> PollerStatistics:
        states = dict.fromkeys(self._states, 0)
        states.update(Counter((p.task_list, p.state.value) for p in self._pollers))
        crash_loop = len(self._recent_restarts) == CRASH_LOOP_RESTARTS and (
            anyio.current_time() - self._recent_restarts[0] < CRASH_LOOP_WINDOW
        )
        running = all(p.state is not PollerState.STOPPED for p in self._pollers)
        alive = self._stopping or (running and not crash_loop)
        return PollerStatistics(states, dict(self._last_poll), self._restarts, alive)

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Run every poller until `stop()`; returns when the last in-flight poll has returned."""
        try:
            async with anyio.create_task_group() as tg:
                for poller in self._pollers:
                    tg.start_soon(self._supervise, poller, name=f"poller {poller.task_list}")
                task_status.started()
        finally:
            self.stopped.set()

    def _acquirer(self, task_list: str) -> Callable[[], Awaitable[Slot]]:
        own = self._flow.list_slots.get(task_list)
        if own is None:
            return partial(Slot.acquire, self._slots)
        return partial(ListSlot.acquire_both, self._slots, own)

    def stop(self) -> None:
        """Start no new polls. Pollers waiting for a slot or backing off stop at once; in-flight
        polls return in their own time and their tasks are run."""
        self._stopping = True
        for poller in self._pollers:
            if poller.scope is not None:
                poller.scope.cancel()

    async def _supervise(self, poller: _Poller) -> None:
        with anyio.CancelScope() as poller.scope:
            while not self._stopping:
                try:
                    await self._poll_loop(poller)
                except Exception:
                    self._restarts += 1
                    self._recent_restarts.append(anyio.current_time())
                    self._series[poller.task_list].restarts.inc()
                    log.exception("poller died; restarting it", task_list=poller.task_list)
                    poller.state = PollerState.BACKING_OFF
                    await anyio.sleep(RESTART_DELAY)
        poller.state = PollerState.STOPPED

    async def _poll_loop(self, poller: _Poller) -> None:
        slot: Slot | None = None
        try:
            while not self._stopping:
                if self._pause.paused or (  # `_held_back()`, inlined: it runs before every poll
                    self._types is not None and self._types.blocks(poller.task_list)
                ):
                    if slot is not None:  # a paused or blocked poller holds no capacity
                        slot.release()
                        slot = None
                    await self._wait_until_free(poller)
                    continue
                if slot is None:
                    poller.state = PollerState.WAITING_FOR_SLOT
                    slot = await poller.acquire()
                    continue  # re-check stopping: the wait may have been long
                if poller.rate is not None and not await self._take_tokens(poller, poller.rate):
                    continue
                if await self._poll_once(poller, slot):
                    slot = None
        finally:
            if slot is not None:
                slot.release()

    def _held_back(self, task_list: str) -> bool:
        """Paused, or a full type with `max_concurrent` came from this task list."""
        return self._pause.paused or (self._types is not None and self._types.blocks(task_list))

    async def _wait_until_free(self, poller: _Poller) -> None:
        if self._pause.paused:
            poller.state = PollerState.PAUSED
            await self._pause.wait_resumed()
        elif self._types is not None:
            poller.state = PollerState.WAITING_FOR_TYPE
            await self._types.wait_unblocked(poller.task_list)

    async def _take_tokens(self, poller: _Poller, rate: PollRate) -> bool:
        """Take the poll's tokens; False (and none kept) if the poller must not poll after the
        wait after all."""
        poller.state = PollerState.WAITING_FOR_TOKEN
        await rate.take()
        if self._stopping or self._held_back(poller.task_list):
            rate.give_back()
            return False
        return True

    async def _poll_once(self, poller: _Poller, slot: Slot) -> bool:
        """One poll; True when it brought a task, which took `slot` with it."""
        poller.state = PollerState.POLLING
        started = anyio.current_time()
        try:
            with anyio.CancelScope(shield=True):
                response = await self._poll(poller.task_list)
        except SwfFault as fault:
            if poller.rate is not None:
                poller.rate.give_back()
            poller.failures += 1
            poller.state = PollerState.BACKING_OFF
            delay = retry_delay(fault, poller.failures, self._backoff)
            log.warning("poll failed", task_list=poller.task_list, error=str(fault),
                        retry_in=round(delay, 3))  # fmt: skip
            await anyio.sleep(delay)
            return False
        poller.failures = 0
        if response.get("taskToken"):
            try:
                task = ActivityTask.from_poll(response, poller.task_list, anyio.current_time())
            except (KeyError, TypeError, AttributeError) as exc:
                # SWF never sends this; a broken proxy might. Without the task's fields it
                # can't be run, and it times out at SWF; the poller carries on.
                log.error("malformed task in a poll response; skipped",
                          task_list=poller.task_list, missing=repr(exc),
                          fields=sorted(response))  # fmt: skip
                return False
            self._submit(task, slot)  # synchronous: no checkpoint between poll and hand-off
            return True
        if poller.rate is not None:
            poller.rate.give_back()  # only tasks count against a rate
        if (early := MIN_POLL_INTERVAL - (anyio.current_time() - started)) > 0:
            poller.state = PollerState.BACKING_OFF
            await anyio.sleep(early)
        return False

    async def _poll(self, task_list: str) -> dict[str, Any]:
        series = self._series[task_list]
        started = time.perf_counter()
        try:
            response = await self._api.poll(task_list)
        except SwfFault as fault:
            throttled = fault.throttling
            (series.throttled if throttled else series.error).inc()
            raise
        finally:
            series.duration.observe(time.perf_counter() - started)
        self._last_poll[task_list] = time.time()
        (series.task if response.get("taskToken") else series.empty).inc()
        return response
