"""Heartbeats: coalesced latest details per task, a rate budget, and cancellation.

One service task sends every heartbeat from a timer heap, so the cost is per heartbeat, not per
running task. A handler's `ctx.heartbeat(details)` only records the details (from any thread) and
schedules a send at most once per the activity's interval, the first one interval after the task
started (a task answered sooner sends none); activities with `auto_heartbeat` are heartbeaten
every interval whatever the handler does.

What SWF answers drives the task: `cancelRequested` → the task is cancelled with reason REQUESTED;
UnknownResourceFault → the task is gone (timed out, closed): ABANDONED, nothing more is sent.
Throttling and transient errors are retried with backoff, never fatal.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import threading
from typing import TYPE_CHECKING, NamedTuple

import anyio
import structlog

from asyncworker.codec import MAX_HEARTBEAT_DETAILS, fit
from asyncworker.errors import SwfFault, UnknownResourceFault
from asyncworker.pipeline.flow import CancelReason, TaskDeadline, redact
from asyncworker.swf.api import HEARTBEAT_CONCURRENCY, ActivityApi
from asyncworker.swf.faults import WORKER_BACKOFF, Backoff, retry_delay

if TYPE_CHECKING:
    from collections.abc import Callable

    from asyncworker.metrics import Metrics

log = structlog.get_logger(__name__)

COMPACT_SLACK = 1024
"""Stale heap entries tolerated beyond twice the tracked tasks before compacting."""
PROBE_MARGIN = 1.0
"""Seconds after the local deadline before asking SWF: its clock started before the poll
returned, so by then SWF has timed the task out if the decider kept the default timeout."""


def _ignore(reason: CancelReason) -> None:
    """The cancel callback of a closed handle."""


class HeartbeatStatistics(NamedTuple):
    tracked: int
    scheduled: int
    in_flight: int
    sent: int


class HeartbeatHandle:
    """The heartbeat state of one running task."""

    __slots__ = (
        "_owner", "auto", "closed", "deadline", "default_deadline", "details", "dirty",
        "failures", "hop_pending", "interval", "last_sent", "next_due", "on_cancel", "period",
        "probe_at", "sending", "token",
    )  # fmt: skip

    def __init__(
        self,
        owner: Heartbeats,
        token: str,
        interval: float,
        auto: bool,
        on_cancel: Callable[[CancelReason], None],
        deadline: TaskDeadline | None,
    ) -> None:
        self._owner = owner
        self.token = token
        self.interval = interval
        self.auto = auto
        self.on_cancel = on_cancel
        self.details: str | None = None
        self.dirty = False
        self.closed = False
        self.failures = 0
        self.last_sent = anyio.current_time()
        """The task's start counts as a heartbeat: nothing is sent within its first interval, so
        a task answered that fast sends none (a beat would only race its answer)."""
        self.next_due: float | None = None
        self.sending = False
        """A heartbeat of this task is in flight: the next is scheduled when it returns."""
        self.hop_pending = False
        """A beat from a worker thread is on its way to the event loop (one hop per burst)."""
        self.deadline = deadline
        """The task's deadline, shared with its context and outcome: a live probe moves it."""
        now = anyio.current_time()
        self.default_deadline = math.inf if deadline is None else deadline.at
        """The deadline of the type's default timeout: a task gone past it has timed out."""
        self.period = 0.0 if deadline is None else max(interval, deadline.at - now)
        """The type's start-to-close timeout, roughly: the spacing of repeated probes."""
        self.probe_at = None if deadline is None else deadline.at + PROBE_MARGIN
        """When to ask SWF whether the task outlived its local deadline (None: no question)."""

    @property
    def extended(self) -> bool:
        """A probe found the task alive past its default deadline and moved it."""
        return self.deadline is not None and self.deadline.at != self.default_deadline

    def beat(self, details: str | None) -> None:
        """Record the latest details and ask for a send; never blocks, safe from any thread."""
        self.details = details if details is None or isinstance(details, str) else repr(details)
        self.dirty = True
        self._owner.request(self)

    def keep_alive(self) -> None:
        """Heartbeat every interval from now on, whatever the handler did (it has ended, and
        its answer waits to be sent). The first beat is due one interval from now: an answer
        acknowledged sooner needs none, and a beat sent now would only race it. Called on the
        event loop."""
        self.auto = True
        self.dirty = False
        self.next_due = None  # a beat already due sooner is dropped (its heap entry goes stale)
        if not self.closed and not self.sending:
            self._owner.schedule(self, anyio.current_time() + self.interval)

    def close(self) -> None:
        """The task ended: send nothing more for it. Idempotent."""
        if not self.closed:
            self.closed = True
            self.on_cancel = _ignore  # let go of the task: a stale heap entry may outlive it
            self._owner.untrack()


class Heartbeats:
    """The heartbeat service of one worker."""

    def __init__(
        self, api: ActivityApi, metrics: Metrics, *, rate: float, backoff: Backoff = WORKER_BACKOFF
    ) -> None:
        self._api = api
        self._backoff = backoff
        self._outcomes = metrics.heartbeat_series()
        self._rate = rate
        self._tokens = rate
        self._refilled = 0.0
        self._heap: list[tuple[float, int, HeartbeatHandle]] = []
        self._seq = itertools.count()
        self._tracked = 0
        self._sent = 0
        self._in_flight = anyio.CapacityLimiter(HEARTBEAT_CONCURRENCY)
        self._wake = anyio.Event()
        self._wake_at = math.inf
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0

    def statistics(self) -> HeartbeatStatistics:
        return HeartbeatStatistics(
            tracked=self._tracked,
            scheduled=len(self._heap),
            in_flight=self._in_flight.borrowed_tokens,
            sent=self._sent,
        )

    def track(
        self,
        token: str,
        interval: float,
        auto: bool,
        on_cancel: Callable[[CancelReason], None],
        *,
        deadline: TaskDeadline | None = None,
    ) -> HeartbeatHandle:
        """Start tracking a task. With `auto`, its first heartbeat is due after one interval;
        with a `deadline`, a heartbeat just after it asks SWF whether the task timed out."""
        handle = HeartbeatHandle(self, token, interval, auto, on_cancel, deadline)
        self._tracked += 1
        now = anyio.current_time()
        self._schedule_next(handle, now + interval if auto else now)
        return handle

    def untrack(self) -> None:
        self._tracked -= 1
        if len(self._heap) > 2 * self._tracked + COMPACT_SLACK:
            self._compact()

    def _compact(self) -> None:
        """Drop the entries of closed or rescheduled handles. Entries are deleted lazily, when
        they reach the top; an ended task's deadline probe would otherwise sit in the heap (and
        keep the task alive) for a whole start-to-close timeout. Amortised O(1) per task."""
        self._heap = [e for e in self._heap if not e[2].closed and e[2].next_due == e[0]]
        heapq.heapify(self._heap)

    def request(self, handle: HeartbeatHandle) -> None:
        """Schedule a send for `handle` (coalesced); hops to the event loop if called off it."""
        if self._loop is not None and threading.get_ident() != self._thread:
            if not handle.hop_pending:  # later beats of the burst ride on this hop
                handle.hop_pending = True
                self._loop.call_soon_threadsafe(self._hop, handle)
            return
        if not handle.closed and not handle.sending:
            self.schedule(handle, max(anyio.current_time(), handle.last_sent + handle.interval))

    def _hop(self, handle: HeartbeatHandle) -> None:
        handle.hop_pending = False
        self.request(handle)

    def _schedule_next(self, handle: HeartbeatHandle, after: float) -> None:
        """Schedule the handle's next send: automatic, pending details, or the deadline probe."""
        due = math.inf
        if handle.auto or handle.dirty:
            due = max(after, handle.last_sent + handle.interval)
        if handle.probe_at is not None:
            due = min(due, max(after, handle.probe_at))
        if due < math.inf and not handle.closed:
            self.schedule(handle, due)

    def schedule(self, handle: HeartbeatHandle, due: float) -> None:
        if handle.next_due is not None and handle.next_due <= due:
            return  # already due sooner: the send will carry the latest details
        handle.next_due = due
        heapq.heappush(self._heap, (due, next(self._seq), handle))
        if due < self._wake_at:
            self._wake.set()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Send heartbeats as they fall due, until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        async with anyio.create_task_group() as tg:
            task_status.started()
            while True:
                handle = await self._next_due()
                handle.sending = True
                await self._take_budget()
                await self._in_flight.acquire_on_behalf_of(handle)
                tg.start_soon(self._send, handle)

    async def _next_due(self) -> HeartbeatHandle:
        while True:
            while self._heap:
                due, _, handle = self._heap[0]
                if handle.closed or handle.next_due != due:
                    heapq.heappop(self._heap)  # stale: rescheduled sooner, or the task ended
                    continue
                now = anyio.current_time()
                if due <= now:
                    heapq.heappop(self._heap)
                    handle.next_due = None
                    return handle
                break
            self._wake = anyio.Event()
            self._wake_at = self._heap[0][0] if self._heap else math.inf
            with anyio.move_on_after(self._wake_at - anyio.current_time()):
                await self._wake.wait()
            self._wake_at = math.inf

    async def _take_budget(self) -> None:
        """A token bucket of `rate` per second with one second of burst."""
        now = anyio.current_time()
        self._tokens = min(self._rate, self._tokens + (now - self._refilled) * self._rate)
        self._refilled = now
        if self._tokens < 1:
            await anyio.sleep((1 - self._tokens) / self._rate)
            self._tokens = 1.0
            self._refilled = anyio.current_time()
        self._tokens -= 1

    async def _send(self, handle: HeartbeatHandle) -> None:
        try:
            if not handle.closed:  # it may have closed while waiting for budget
                await self._beat(handle)
        except Exception:  # a bug, not SWF: heartbeats must never take the worker down
            self._outcomes["error"].inc()
            log.exception("unexpected error sending a heartbeat", task_token=redact(handle.token))
            handle.dirty = True
        finally:
            handle.sending = False
            self._in_flight.release_on_behalf_of(handle)
            if not handle.closed and handle.next_due is None:  # incl. beats that came meanwhile
                self._schedule_next(handle, anyio.current_time())

    @staticmethod
    def _extend(handle: HeartbeatHandle) -> None:
        """SWF still has the task at its probe: the decider chose a longer timeout than the
        type's. Ask again one period later rather than guess, and move the task's deadline a
        period past that probe, so its answer is retried until SWF has not been heard from
        for a whole period (a probe in flight never races the responder giving up)."""
        handle.probe_at = handle.last_sent + handle.period
        if handle.deadline is not None:
            handle.deadline.at = max(handle.deadline.at, handle.probe_at + handle.period)

    async def _beat(self, handle: HeartbeatHandle) -> None:
        handle.dirty = False  # before reading: a beat from a thread in between stays dirty
        details = handle.details
        handle.last_sent = anyio.current_time()
        try:
            cancel = await self._api.heartbeat(
                handle.token, None if details is None else fit(details, MAX_HEARTBEAT_DETAILS)
            )
        except UnknownResourceFault:
            self._outcomes["unknown_resource"].inc()
            timed_out = handle.last_sent >= handle.default_deadline
            log.info("heartbeat: task is gone at SWF", timed_out=timed_out,
                     task_token=redact(handle.token))  # fmt: skip
            if not handle.closed:
                handle.on_cancel(CancelReason.TIMED_OUT if timed_out else CancelReason.ABANDONED)
                handle.close()  # nothing more to say about a task SWF no longer knows
            return
        except SwfFault as fault:
            self._outcomes["error"].inc()
            handle.failures += 1
            handle.dirty = handle.dirty or details is not None
            delay = min(retry_delay(fault, handle.failures, self._backoff), handle.interval)
            log.warning("heartbeat failed, retrying", error=str(fault), retry_in=round(delay, 3))
            if not handle.closed:
                self.schedule(handle, anyio.current_time() + delay)
            return
        if handle.probe_at is not None and handle.last_sent >= handle.probe_at:
            self._extend(handle)
        self._sent += 1
        handle.failures = 0
        if cancel:
            self._outcomes["cancel_requested"].inc()
            if not handle.closed:
                handle.on_cancel(CancelReason.REQUESTED)
        else:
            self._outcomes["ok"].inc()
