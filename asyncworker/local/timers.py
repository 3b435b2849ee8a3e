"""One binary heap for every deadline of the endpoint, driven by a single event-loop timer.

Activity and decision timeouts, user timers, execution timeouts and long-poll expiries all live
here, so arming or cancelling one is O(log n) and O(1) respectively whatever the number of open
executions, and the event loop holds exactly one timer handle for all of them. Cancellation is
lazy: a cancelled entry stays in the heap, marked dead, until it reaches the top or until dead
entries outnumber live ones, when the heap is rebuilt (amortised O(1) per cancellation).

Callbacks run synchronously on the event loop, in deadline order (ties in arming order). An
exception in one is logged and does not stop the others: a bug in one timeout must not freeze
every other clock of the endpoint.
"""

from __future__ import annotations

import heapq
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

logger = logging.getLogger(__name__)

_COMPACT_MIN_DEAD = 1024


class Timer:
    """A handle on one armed deadline; ``cancel()`` it to stop the callback."""

    __slots__ = ("_args", "_callback", "_heap", "cancelled", "when")

    def __init__(
        self, heap: TimerHeap, when: float, callback: Callable[..., None], args: tuple[Any, ...]
    ) -> None:
        self._heap = heap
        self.when = when
        self._callback = callback
        self._args = args
        self.cancelled = False

    def cancel(self) -> None:
        """Stop this timer from firing; cancelling twice, or after it fired, does nothing."""
        if not self.cancelled:
            self._take()
            self._heap._note_cancelled()

    def _take(self) -> tuple[Callable[..., None], tuple[Any, ...]]:
        """End this timer and hand over its callback and arguments. The timer keeps no
        reference to them: an owner that holds its timer (a poll, a decision task) and is one
        of the arguments would otherwise form a cycle only a full collection frees."""
        callback, args = self._callback, self._args
        self.cancelled = True
        self._callback, self._args = _ended, ()
        return callback, args


def _ended() -> None:
    """The callback of a timer that fired or was cancelled."""


class TimerHeap:
    """All deadlines in one heap; the earliest one is armed on the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = 0
        self._dead = 0
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = float("inf")
        self._closed = False

    def __len__(self) -> int:
        """Number of live (armed, not cancelled) timers."""
        return len(self._heap) - self._dead

    def time(self) -> float:
        """The clock deadlines are measured on (the event loop's monotonic clock)."""
        return self._loop.time()

    def call_at(self, when: float, callback: Callable[..., None], *args: Any) -> Timer:
        """Run ``callback(*args)`` at loop time ``when``."""
        timer = Timer(self, when, callback, args)
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, timer))
        if when < self._armed_at and not self._closed:
            self._arm(when)
        return timer

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any) -> Timer:
        """Run ``callback(*args)`` after ``delay`` seconds."""
        return self.call_at(self._loop.time() + delay, callback, *args)

    def close(self) -> None:
        """Disarm the loop timer; nothing fires after this."""
        self._closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        for _, _, timer in self._heap:
            timer._take()  # let go of the owners: no cycles left behind the closed endpoint
        self._heap.clear()
        self._dead = 0

    def _note_cancelled(self) -> None:
        self._dead += 1
        if self._dead > _COMPACT_MIN_DEAD and self._dead * 2 > len(self._heap):
            self._heap = [entry for entry in self._heap if not entry[2].cancelled]
            heapq.heapify(self._heap)
            self._dead = 0

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_at = when
        self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._armed_at = float("inf")
        now = self._loop.time()
        # asyncio may run a handle a hair before its deadline (clock resolution); treat
        # deadlines within a millisecond as due rather than re-arming for a sub-ms wait.
        # ``self._heap`` is re-read on every step: a callback may cancel timers and so
        # trigger a compaction that replaces the list.
        while self._heap and self._heap[0][0] <= now + 0.001 and not self._closed:
            _, _, timer = heapq.heappop(self._heap)
            if timer.cancelled:
                self._dead -= 1
                continue
            callback, args = timer._take()
            try:
                callback(*args)
            except Exception:
                logger.exception("timer callback %r failed", callback)
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
            self._dead -= 1
        if self._heap and not self._closed:
            self._arm(self._heap[0][0])
