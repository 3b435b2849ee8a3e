"""A task of a sync handler that waits for a free thread (`thread_limit`) is kept alive at SWF:
over real HTTP against the local endpoint, which times a task out as SWF does when its
heartbeats stop."""

from __future__ import annotations

import threading

import pytest

from asyncworker import ActivityContext, ActivityRegistry
from tests.helpers import on_local_endpoint, start_activities, wait_closed

pytestmark = pytest.mark.anyio
DOMAIN = "thread-wait"
HEARTBEAT_TIMEOUT = 2


def registry() -> ActivityRegistry:
    reg = ActivityRegistry()

    @reg.activity(version="1", start_to_close=60, heartbeat_timeout=HEARTBEAT_TIMEOUT)
    def beating(data: str, ctx: ActivityContext) -> str:
        """Heartbeats by itself (never automatically) `data` times, 0.03 s apart."""
        pause = threading.Event()
        for i in range(int(data)):
            ctx.heartbeat(f"beat {i}")
            pause.wait(0.03)
        return ctx.activity_id

    return reg


async def test_a_task_waiting_for_a_thread_is_heartbeaten() -> None:
    # Each task runs 4.5 s, over twice the heartbeat timeout; with one thread the second waits
    # that long before its handler can heartbeat at all.
    async with on_local_endpoint(registry(), DOMAIN, thread_limit=1, max_concurrency=4) as (
        endpoint,
        client,
        _,
    ):
        execution = await start_activities(client, DOMAIN, [("beating", "150")] * 2)
        closed = await wait_closed(client, DOMAIN, execution, 2, within=60)
        stats = endpoint.stats()
    assert [kind for kind, _ in closed.values()] == ["completed", "completed"], closed
    assert stats["lost_tasks"] == 0
