"""A task of a process handler that waits for a free worker process is kept alive at SWF: over
real HTTP against the local endpoint, which times a task out as SWF does when its heartbeats
stop."""

from __future__ import annotations

import pytest

from asyncworker import ActivityRegistry
from tests.helpers import on_local_endpoint, start_activities, wait_closed
from tests.pipeline.process_handlers import beating

pytestmark = pytest.mark.anyio
DOMAIN = "process-wait"
HEARTBEAT_TIMEOUT = 2


def registry() -> ActivityRegistry:
    """`beating` (heartbeats by itself while it runs, never automatically) with a heartbeat
    timeout shorter than one task's run."""
    reg = ActivityRegistry(executor="process")
    reg.activity(
        name="beating", version="1", start_to_close=60, heartbeat_timeout=HEARTBEAT_TIMEOUT
    )(beating)
    return reg


async def test_a_task_waiting_for_a_worker_process_is_heartbeaten() -> None:
    # Each task heartbeats 150 times 0.03 s apart (4.5 s, over twice the heartbeat timeout);
    # with one process the second waits that long before its handler can heartbeat at all.
    async with on_local_endpoint(registry(), DOMAIN, process_limit=1, max_concurrency=4) as (
        endpoint,
        client,
        _,
    ):
        execution = await start_activities(client, DOMAIN, [("beating", "150")] * 2)
        closed = await wait_closed(client, DOMAIN, execution, 2, within=60)
        stats = endpoint.stats()
    assert [kind for kind, _ in closed.values()] == ["completed", "completed"], closed
    assert stats["lost_tasks"] == 0
