"""The rig's SWF calls: typed faults (from `asyncworker.swf.faults.classify`) and bounded retries.

The rig's own calls (StartWorkflowExecution, PollForDecisionTask, RespondDecisionTaskCompleted)
retry what is transient at SWF (throttling, LimitExceeded, network, 5xx) with jittered
exponential backoff until a deadline, and raise everything else at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import anyio

from asyncworker.errors import SwfFault
from asyncworker.swf.faults import Backoff, retry_delay, translated

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

T = TypeVar("T")

RIG_BACKOFF = Backoff(base=0.05, cap=2.0, throttled_base=0.25, throttled_cap=5.0)
"""The rig's: shorter than the worker's, since a load test measures how fast work gets through."""


call = translated
"""Await one SWF request, turning its failures into `SwfFault`s."""


async def call_with_retries(
    operation: str, request: Callable[[], Awaitable[T]], *, deadline: float
) -> T:
    """Call `request()` until it succeeds, a non-retryable fault, or `deadline` (anyio clock).

    Retries wait `retry_delay` with `RIG_BACKOFF`; the last retryable fault is raised when the
    next attempt would start after the deadline.
    """
    attempt = 0
    while True:
        try:
            return await call(operation, request())
        except SwfFault as fault:
            attempt += 1
            delay = retry_delay(fault, attempt, RIG_BACKOFF)
            if not fault.retryable or anyio.current_time() + delay >= deadline:
                raise
            await anyio.sleep(delay)
