"""Per-task-list slots and per-type concurrency over real HTTP (aiobotocore) against the local
endpoint, with a worker in this process so the handlers can count what runs at once."""

from __future__ import annotations

import anyio
import pytest

from asyncworker import ActivityRegistry, Worker, WorkerSettings
from asyncworker.testing import FakeSwf
from tests.helpers import (
    SLOW_LIST_SLOTS,
    Peak,
    activity_events,
    history_events,
    http_post,
    on_local_endpoint,
    slow_and_fast,
    start_activities,
    wait_closed,
)

pytestmark = pytest.mark.anyio
DOMAIN = "flow"


async def test_a_fast_list_flows_while_a_slow_list_is_saturated() -> None:
    release = anyio.Event()
    async with on_local_endpoint(slow_and_fast(release), DOMAIN, **SLOW_LIST_SLOTS) as (
        endpoint,
        client,
        worker,
    ):
        stuck = await start_activities(client, DOMAIN, [("slow", str(i)) for i in range(6)],
                                       task_list="slow")  # fmt: skip
        flowing = await start_activities(client, DOMAIN, [("fast", str(i)) for i in range(30)],
                                         task_list="fast")  # fmt: skip
        done = await wait_closed(client, DOMAIN, flowing, 30, within=30)
        timelines = activity_events(await history_events(client, DOMAIN, stuck))
        started = sum("ActivityTaskStarted" in timeline for timeline in timelines.values())
        assert started == 2, "the slow list took more than its own slots"
        assert worker.statistics().task_list_slots == {"slow": (2, 2)}
        release.set()
        slow_done = await wait_closed(client, DOMAIN, stuck, 6, within=30)
        stats = endpoint.stats()
    assert {kind for kind, _ in [*done.values(), *slow_done.values()]} == {"completed"}
    assert stats["lost_tasks"] == 0


async def test_a_type_limit_is_never_exceeded_and_loses_no_task() -> None:
    limit, tasks = 2, 20
    peak = Peak()
    registry = ActivityRegistry()

    @registry.activity(version="1", start_to_close=120, max_concurrent=limit)
    async def limited(data: str) -> str:
        with peak.inside():
            await anyio.sleep(0.05)
        return data

    async with on_local_endpoint(registry, DOMAIN, pollers=3, max_concurrency=10) as (
        endpoint,
        client,
        worker,
    ):
        execution = await start_activities(
            client, DOMAIN, [("limited", str(i)) for i in range(tasks)]
        )
        closed = await wait_closed(client, DOMAIN, execution, tasks, within=60)
        waits = worker.metrics.registry.get_sample_value(
            "asyncworker_activity_type_wait_seconds_count", {"activity_type": "limited:1"}
        )
        stats = endpoint.stats()
    assert peak.most == limit
    assert sorted(attributes["result"] for _, attributes in closed.values()) == sorted(
        str(i) for i in range(tasks)
    )
    assert {kind for kind, _ in closed.values()} == {"completed"}
    assert waits == tasks
    assert stats["lost_tasks"] == 0


async def test_the_admin_endpoints_are_off_unless_asked_for() -> None:
    fake = FakeSwf()
    settings = WorkerSettings(domain="d", metrics_port=0, metrics_host="127.0.0.1")
    async with Worker(ActivityRegistry(), settings, api_factory=fake.factory()) as worker:
        assert worker.metrics_url is not None
        base = worker.metrics_url.removesuffix("/metrics")
        status, _ = await http_post(f"{base}/pause")
        assert status in (404, 405)
        assert not worker.paused
        assert worker.ready
