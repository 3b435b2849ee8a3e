"""Example activities used by the demo, the load-testing rig and the tests (all version "1").

`asyncworker run asyncworker.examples.basic:registry --domain D --task-list default`
"""

from __future__ import annotations

import time

import anyio

from asyncworker.activity import ActivityContext, ActivityRegistry
from asyncworker.claimcheck import ClaimCheck
from asyncworker.codec import RAW
from asyncworker.errors import ActivityFailed

registry = ActivityRegistry(task_list="default")
BIG_LIMIT = 64 * 1024**2
"""The most characters `big` makes (above the claim-check maximum, to show its refusal)."""


@registry.activity(version="1", start_to_close=300, schedule_to_start=3600)
async def echo(text: str) -> str:
    """Return the input unchanged."""
    return text


@registry.activity(version="1", start_to_close=3600, schedule_to_start=3600)
async def sleep(seconds: str) -> str:
    """Sleep `input` seconds (a float) on the event loop; cancellation stops it at once."""
    await anyio.sleep(float(seconds))
    return seconds


@registry.activity(version="1", start_to_close=300, schedule_to_start=3600)
async def fail(reason: str) -> None:
    """Fail on purpose, with the input as the reason."""
    raise ActivityFailed(reason=reason)


@registry.activity(version="1", start_to_close=3600, schedule_to_start=3600)
def cpu(milliseconds: str, ctx: ActivityContext) -> str:
    """Burn `input` milliseconds of CPU time (the thread's, so time spent waiting for the GIL or
    a core does not count) in a worker thread, stopping early if cancelled."""
    budget = float(milliseconds) / 1000
    start = time.thread_time()
    spins = 0
    while time.thread_time() - start < budget:
        for _ in range(1_000):
            spins += 1
        if spins % 100_000 == 0:
            ctx.raise_if_cancel_requested()
    return str(spins)


registry.add(
    cpu,
    name="cpu_process",
    version="1",
    start_to_close=3600,
    schedule_to_start=3600,
    executor="process",
    description="The same work as `cpu`, in a worker process: real parallelism, and the event"
    " loop stays on time.",
)


@registry.activity(version="1", start_to_close=3600, schedule_to_start=3600, heartbeat_timeout=10)
async def heartbeat(seconds: str, ctx: ActivityContext) -> str:
    """Heartbeat every 0.2 s for `input` seconds (a float); a cancel request stops it."""
    end = anyio.current_time() + float(seconds)
    beats = 0
    while anyio.current_time() < end:
        beats += 1
        ctx.heartbeat(f"beat {beats}")
        await anyio.sleep(min(0.2, max(0.0, end - anyio.current_time())))
    return f"{beats} heartbeats"


@registry.activity(version="1", codec=ClaimCheck(RAW), start_to_close=300, schedule_to_start=3600)
async def big(characters: str) -> str:
    """Return `input` characters (an integer), through a claim-check codec: over SWF's 32,768
    characters the result goes to S3 (the worker's payload_bucket) and SWF gets its reference."""
    try:
        count = int(characters)
    except ValueError:
        raise ActivityFailed("input must be a number of characters", details=characters) from None
    if not 0 <= count <= BIG_LIMIT:
        raise ActivityFailed(f"input must be 0-{BIG_LIMIT} characters")
    return "x" * count
