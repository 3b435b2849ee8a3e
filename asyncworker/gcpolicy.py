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
every ``interval`` seconds, instead of on growth. Cyclic garbage that reached the oldest
generation thus lives at most ``interval`` seconds, and each full collection's pause is reported.
"""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc

DEFAULT_INTERVAL = 60.0
"""Seconds between full collections unless configured (``gc_interval``)."""
NEVER = 2**31 - 1
"""An oldest-generation threshold no count of young collections reaches."""


async def run(
    interval: float,
    observe: Callable[[float], None] | None = None,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Apply the policy until cancelled, then give the collector back its own rule.

    ``interval`` is the number of seconds between full collections; 0 keeps CPython's rule (the
    start-up heap is still frozen). ``observe`` receives each full collection's pause in seconds.
    """
    gc.collect()
    gc.freeze()
    young, middle, oldest = gc.get_threshold()
    if interval > 0:
        gc.set_threshold(young, middle, NEVER)
    task_status.started()
    try:
        if interval <= 0:
            await anyio.sleep_forever()
        while True:
            await anyio.sleep(interval)
            if gc.get_count()[2]:  # young collections promoted objects since the last one
                pause = collect()
                if observe is not None:
                    observe(pause)
    finally:
        gc.set_threshold(young, middle, oldest)
        gc.unfreeze()


def collect() -> float:
    """One full collection now; returns its duration in seconds."""
    begun = time.perf_counter()
    gc.collect()
    return time.perf_counter() - begun


@asynccontextmanager
async def managed(
    interval: float, observe: Callable[[float], None] | None = None
) -> AsyncIterator[None]:
    """The policy for the length of the block (the start-up heap is frozen when it begins)."""
    async with anyio.create_task_group() as tg:
        await tg.start(run, interval, observe)
        try:
            yield
        finally:
            tg.cancel_scope.cancel()
