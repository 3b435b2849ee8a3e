"""The rig's SWF calls: typed faults (from `asyncworker.swf.faults.classify`) and bounded retries.

The rig's own calls (StartWorkflowExecution, PollForDecisionTask, RespondDecisionTaskCompleted)
retry what is transient at SWF (throttling, LimitExceeded, network, 5xx) with jittered
exponential backoff until a deadline, and raise everything else at once.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import botocore.exceptions

from asyncworker.errors import SwfFault
from asyncworker.swf.faults import translated

T = TypeVar("T")

BACKOFF_INITIAL = 0.05
BACKOFF_MAX = 2.0


call = translated
"""Await one SWF request, turning its failures into `SwfFault`s."""


def error_code(fault: SwfFault) -> str:
    """The SWF error code behind a fault (e.g. `WorkflowExecutionAlreadyStartedFault`), or ''."""
    cause = fault.__cause__
    if isinstance(cause, botocore.exceptions.ClientError):
        return str(cause.response.get("Error", {}).get("Code", ""))
    return ""


async def call_with_retries(
    operation: str, request: Callable[[], Awaitable[T]], *, deadline: float
) -> T:
    """Call `request()` until it succeeds, a non-retryable fault, or `deadline` (anyio clock).

    Retries sleep with full jitter between `BACKOFF_INITIAL` and `BACKOFF_MAX`; the last
    retryable fault is raised when the next attempt would start after the deadline.
    """
    backoff = BACKOFF_INITIAL
    while True:
        try:
            return await call(operation, request())
        except SwfFault as fault:
            delay = random.uniform(0, backoff)
            if not fault.retryable or anyio.current_time() + delay >= deadline:
                raise
            backoff = min(backoff * 2, BACKOFF_MAX)
            await anyio.sleep(delay)
