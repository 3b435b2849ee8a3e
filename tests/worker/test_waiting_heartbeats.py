"""A task that waits for a thread (`thread_limit`) or a worker process (`process_limit`) before
its handler runs is kept alive at SWF: over real HTTP against the local endpoint, which times a
task out as SWF does when its heartbeats stop."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from asyncworker import ActivityContext, ActivityRegistry
from tests.helpers import on_local_endpoint, start_activities, wait_closed
from tests.pipeline.process_handlers import beating

pytestmark = pytest.mark.anyio
DOMAIN = "waiting-heartbeats"
HEARTBEAT_TIMEOUT = 2
OPTIONS: dict[str, Any] = {
    "name": "beating",
    "version": "1",
    "start_to_close": 60,
    "heartbeat_timeout": HEARTBEAT_TIMEOUT,
}
"""`beating` heartbeats by itself while it runs, never automatically."""


def in_a_thread(data: str, ctx: ActivityContext) -> str:
    """Heartbeats `data` times, 0.03 s apart."""
    pause = threading.Event()
    for i in range(int(data)):
        ctx.heartbeat(f"beat {i}")
        pause.wait(0.03)
    return ctx.activity_id


async def both_complete(registry: ActivityRegistry, **settings: Any) -> None:
    """Two tasks of 4.5 s each (over twice the heartbeat timeout) on one thread or process: the
    second waits that long before its handler can heartbeat at all."""
    async with on_local_endpoint(registry, DOMAIN, max_concurrency=4, **settings) as (
        endpoint,
        client,
        _,
    ):
        execution = await start_activities(client, DOMAIN, [("beating", "150")] * 2)
        closed = await wait_closed(client, DOMAIN, execution, 2, within=60)
        stats = endpoint.stats()
    assert [kind for kind, _ in closed.values()] == ["completed", "completed"], closed
    assert stats["lost_tasks"] == 0


async def test_a_task_waiting_for_a_thread_is_heartbeaten() -> None:
    registry = ActivityRegistry()
    registry.activity(**OPTIONS)(in_a_thread)
    await both_complete(registry, thread_limit=1)


async def test_a_task_waiting_for_a_worker_process_is_heartbeaten() -> None:
    registry = ActivityRegistry(executor="process")
    registry.activity(**OPTIONS)(beating)
    await both_complete(registry, process_limit=1)
