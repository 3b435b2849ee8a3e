"""When the garbage collector runs, in processes that keep thousands of tasks alive at once.

CPython runs a full collection whenever the objects promoted to its oldest generation since the
last full one exceed a quarter of that generation. A worker's in-flight activities are exactly
such objects: each keeps about 50 tracked objects (coroutines and their frames, cancel scopes,
futures, the task's records) alive past the young collections. With 10,000 in flight, a full
collection walks half a million objects and stops the event loop for 150-280 ms (measured on a
2-core AMD EPYC), and while tasks come and go one falls due every few seconds. They find
nothing: finished tasks are freed by reference counting.

So the long-running entry points (``asyncworker run``, ``asyncworker local``, the load-testing
rig) take the oldest generation over. What start-up allocated is frozen (never scanned again),
the young generations are collected as CPython does it, and the full collection runs on a clock,
every ``interval`` seconds, instead of on growth (with a safety valve, see ``VALVE``). Cyclic
garbage that reached the oldest generation thus lives at most ``interval`` seconds, and each
full collection's pause is reported.
"""

from __future__ import annotations

import gc
import math
import time
from collections import deque
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import anyio.abc

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

VALVE = 1000
"""The oldest generation's threshold while the policy holds: CPython still runs a full
collection on its own after this many middle-generation collections (about 7 million net
allocations, a minute or more of a busy worker) if the oldest generation also grew by a
quarter. Only a flood of garbage, say tracebacks from an SWF outage, gets there before the clock.
(The policy relies on the generational collector of CPython 3.11-3.13 and its three thresholds.)"""


class _State:
    """What the outermost policy changed, shared by policies that overlap in one process (the
    collector is process-wide): the first to start applies it, the last to end restores it."""

    active = 0
    thresholds = (0, 0, 0)


async def run(
    interval: float,
    observe: Callable[[float], None] | None = None,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Apply the policy until cancelled, then give the collector back its own rule.

    ``interval`` is the number of seconds between full collections; 0 keeps CPython's rule (the
    start-up heap is still frozen). ``observe`` receives the pause of every full collection, the
    clock's and any other (the valve's, a library's), in seconds, at the clock's next tick or
    when the policy ends.
    Settings hold ``interval`` to ``settings.check_gc_interval``; shorter ones are for tests.
    """
    if not math.isfinite(interval) or interval < 0:
        raise ValueError(f"gc interval must be a non-negative number of seconds, not {interval}")
    if not _State.active:
        gc.collect()
        gc.freeze()
        _State.thresholds = gc.get_threshold()
    _State.active += 1
    young, middle, _ = _State.thresholds
    if interval > 0:
        gc.set_threshold(young, middle, VALVE)
    timer = _FullCollectionTimer()
    gc.callbacks.append(timer)
    task_status.started()
    try:
        if interval <= 0:
            await anyio.sleep_forever()
        while True:
            await anyio.sleep(interval)
            if gc.get_count()[2]:  # young collections promoted objects since the last one
                gc.collect()
            timer.report(observe)
    finally:
        gc.callbacks.remove(timer)
        timer.report(observe)
        _State.active -= 1
        if not _State.active:
            gc.set_threshold(*_State.thresholds)
            gc.unfreeze()


class _FullCollectionTimer:
    """A ``gc.callbacks`` entry timing every full collection, whichever thread runs it. It only
    appends to a deque: taking a lock here could deadlock on one the collection interrupted."""

    def __init__(self) -> None:
        self.pauses: deque[float] = deque(maxlen=1024)
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                self._began = time.perf_counter()
            else:
                self.pauses.append(time.perf_counter() - self._began)

    def report(self, observe: Callable[[float], None] | None) -> None:
        while self.pauses:
            pause = self.pauses.popleft()
            if observe is not None:
                observe(pause)


@asynccontextmanager
async def managed(
    interval: float, observe: Callable[[float], None] | None = None
) -> AsyncIterator[None]:
    """The policy for the length of the block (the start-up heap is frozen when it begins).

    The clock runs in a task group of its own, so an exception leaving the block comes out in
    an ExceptionGroup, as from any anyio task group.
    """
    async with anyio.create_task_group() as tg:
        await tg.start(run, interval, observe)
        try:
            yield
        finally:
            tg.cancel_scope.cancel()
