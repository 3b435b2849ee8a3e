"""When the garbage collector runs, in processes that keep thousands of tasks alive at once.

CPython runs a full collection whenever the objects promoted to its oldest generation since the
last full one exceed a quarter of that generation. A worker's in-flight activities are exactly
such objects: each keeps about 45 tracked objects (coroutines, cancel scopes, futures, the task's
records) alive past the young collections. With 10,000 in flight, a full collection walks half a
million objects and stops the event loop for 200-300 ms (measured on a 2-core AMD EPYC), and
while tasks come and go one falls due every few seconds. They find nothing: finished tasks are
freed by reference counting.

So the long-running entry points (``asyncworker run``, ``asyncworker local``, the load-testing
rig) take the oldest generation over, as a generation above CPython's three:

* **Sweeps**, every ``SWEEP`` seconds: the objects that reached the oldest generation since the
  last sweep are collected, and those still alive are frozen (``gc.freeze()``): no later
  collection walks them again. A sweep's pause grows with what became long-lived in a tenth of
  a second, not with everything alive (a few ms while 1,000 tasks a second arrive to stay). What
  is frozen is still freed by reference counting when it ends; the worker's own records form no
  cycles (``tests/worker/test_no_cycles.py``).
* **Whole-heap collections**, for cyclic garbage among frozen objects (a handler's): everything
  is unfrozen, collected and frozen again. This walks all that is alive, the start-up state
  included (75-130 ms for an idle daemon on that machine), so it runs only if the frozen heap
  grew by a quarter (``GROWTH``) since the last one left it, or since it was smallest if it
  shrank (as CPython's own rule waits for its oldest generation to grow by a quarter), checked
  every ``interval`` seconds once the process is quiet (``quiet()``: the daemon has at most
  ``QUIET_TASKS`` in flight), or after ``MAX_DEFERRAL`` intervals if it never is. Frozen
  objects that ended are not growth: they were freed by reference counting. Growth adds up
  over intervals, however slowly garbage comes. Cyclic garbage among frozen objects thus waits
  at most ``interval`` seconds in a quiet process once it makes up a quarter of the heap, and
  at most ``MAX_DEFERRAL`` intervals in a busy one.

CPython still runs young collections as it does, and runs a full one on its own only as a
safety valve (``VALVE``). Every collection of the oldest generation, by whoever runs it, is timed
and reported with its scope: ``recent`` (the unfrozen heap: sweeps, the valve, a library's
``gc.collect()``) or ``all`` (whole-heap collections).
"""

from __future__ import annotations

import gc
import math
import time
from collections import deque
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from asyncworker.metrics import GC_SCOPES

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from asyncworker.worker import Worker

RECENT, ALL = GC_SCOPES

SWEEP = 0.1
"""Seconds between sweeps (or ``interval``, if shorter). A sweep walks the objects that became
long-lived since the last one: a tenth of a second of them keeps its pause at a few
milliseconds with 1,000 long tasks arriving a second, where a second of them took 15-27 ms."""
GROWTH = 0.25
"""The growth of the frozen heap since the last whole-heap collection (a fraction of what that
one left alive) that calls for the next one."""
QUIET_TASKS = 500
"""Tasks in flight at or below which the daemon counts as quiet: few enough to be little of
what a whole-heap collection walks, and of the tasks its pause delays."""
MAX_DEFERRAL = 30
"""Intervals a whole-heap collection may wait for a quiet moment (30 minutes by default)."""
VALVE = 1000
"""The oldest generation's threshold while the policy holds: CPython still runs a full
collection on its own after this many middle-generation collections (about 7 million net
allocations) if the unfrozen oldest generation also grew by a quarter. Sweeps keep it small, so
only a flood of garbage between two sweeps gets there.
(The policy relies on the generational collector of CPython 3.11-3.13 and its three thresholds.)"""


def quiet(worker: Worker) -> Callable[[], bool]:
    """Whether ``worker`` has at most ``QUIET_TASKS`` tasks in flight (holding a slot)."""
    return lambda: worker.statistics().slots_used <= QUIET_TASKS


class _State:
    """What the outermost policy changed, shared by policies that overlap in one process (the
    collector is process-wide): the first to start applies it, the last to end restores it.
    The valve holds while any of them sweeps."""

    active = 0
    sweeping = 0
    thresholds = (0, 0, 0)


async def run(
    interval: float,
    observe: Callable[[str, float], None] | None = None,
    *,
    quiet: Callable[[], bool] | None = None,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Apply the policy until cancelled, then give the collector back its own rule.

    ``interval`` is the number of seconds between whole-heap collections; 0 keeps CPython's rule
    (the start-up heap is still frozen; no sweeps). ``observe`` receives the scope and pause (in
    seconds) of every collection of the oldest generation, the policy's and any other, at the
    next sweep or when the policy ends. ``quiet`` says whether a whole-heap collection may run
    now (None: always).
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
        _State.sweeping += 1
        gc.set_threshold(young, middle, VALVE)
    timer = _CollectionTimer()
    gc.callbacks.append(timer)
    task_status.started()
    try:
        if interval <= 0:
            await anyio.sleep_forever()
        await _sweep_and_collect(interval, timer, observe, quiet)
    finally:
        gc.callbacks.remove(timer)
        timer.report(observe)
        _State.active -= 1
        if interval > 0:
            _State.sweeping -= 1
        if not _State.sweeping:
            gc.set_threshold(*_State.thresholds)
        if not _State.active:
            gc.unfreeze()


async def _sweep_and_collect(
    interval: float,
    timer: _CollectionTimer,
    observe: Callable[[str, float], None] | None,
    quiet: Callable[[], bool] | None,
) -> None:
    """Sweep every ``SWEEP`` seconds; every ``interval``, collect the whole heap if it grew by
    ``GROWTH`` and the process is quiet (or the collection is overdue)."""
    # What the last whole-heap collection left alive, or the frozen heap at its smallest since:
    # frozen objects that ended were freed by reference counting, so the count follows what is
    # alive down, and growth from there is cyclic garbage or more alive.
    heap = gc.get_freeze_count()
    due = time.monotonic() + interval
    latest = due + (MAX_DEFERRAL - 1) * interval
    while True:
        await anyio.sleep(min(SWEEP, interval))
        # Young collections promoted objects since the last sweep: collect, and freeze only
        # what a collection walked (garbage left unwalked would wait for the whole heap).
        if gc.get_count()[2] and _collected(timer):
            gc.freeze()
        now = time.monotonic()
        if now >= due and (now >= latest or quiet is None or quiet()):
            frozen = gc.get_freeze_count()  # a walk of the heap, a fraction of a collection
            if frozen < (1 + GROWTH) * heap:
                heap = min(heap, frozen)
            elif (alive := _collect_whole_heap(timer)) is not None:
                heap = alive
            due = now + interval
            latest = due + (MAX_DEFERRAL - 1) * interval
        timer.report(observe)


def _collected(timer: _CollectionTimer) -> bool:
    """``gc.collect()``, and whether it ran: CPython runs one collection at a time, and does
    nothing for this call while another thread's is under way (one whose finalizers or
    callbacks let this thread run meanwhile)."""
    started = timer.started
    gc.collect()
    return timer.started > started


def _collect_whole_heap(timer: _CollectionTimer) -> int | None:
    """Unfreeze, collect and freeze everything; returns how many objects are left (None: the
    collection could not run, see `_collected`)."""
    timer.whole_heap = True
    try:
        gc.unfreeze()
        ran = _collected(timer)
    finally:
        timer.whole_heap = False
    alive = len(gc.get_objects(generation=2))
    gc.freeze()
    return alive if ran else None


class _CollectionTimer:
    """A ``gc.callbacks`` entry timing every collection of the oldest generation, whichever
    thread runs it. It only appends to a deque: taking a lock here could deadlock on one the
    collection interrupted.

    CPython runs one collection at a time, but another thread's may be under way when the
    timer is installed, or finish (its finalizers free the interpreter) while a whole-heap
    collection is being prepared: a collection is labelled by what it was when it started, and
    one whose start the timer did not see is not reported."""

    def __init__(self) -> None:
        self.pauses: deque[tuple[str, float]] = deque(maxlen=1024)
        self.whole_heap = False
        self.started = 0  # collections of the oldest generation begun since the timer was installed
        self._began: tuple[str, float] | None = None

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                self.started += 1
                self._began = (ALL if self.whole_heap else RECENT, time.perf_counter())
            elif self._began is not None:
                scope, began = self._began
                self._began = None
                self.pauses.append((scope, time.perf_counter() - began))

    def report(self, observe: Callable[[str, float], None] | None) -> None:
        while self.pauses:
            scope, pause = self.pauses.popleft()
            if observe is not None:
                observe(scope, pause)


@asynccontextmanager
async def managed(
    interval: float,
    observe: Callable[[str, float], None] | None = None,
    *,
    quiet: Callable[[], bool] | None = None,
) -> AsyncIterator[None]:
    """The policy for the length of the block (the start-up heap is frozen when it begins).

    The clock runs in a task group of its own, so an exception leaving the block comes out in
    an ExceptionGroup, as from any anyio task group.
    """
    async with anyio.create_task_group() as tg:
        await tg.start(partial(run, interval, observe, quiet=quiet))
        try:
            yield
        finally:
            tg.cancel_scope.cancel()
