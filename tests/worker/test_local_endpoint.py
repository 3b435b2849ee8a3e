"""The worker over real HTTP (aiobotocore) against the local endpoint, with SWF's real
semantics: a decider's cancellation, real timeouts, and polls that drain never aborts.

Most tests use the pytest plugin's fixtures (`activity_worker` on the session's endpoint); the
drain test runs an endpoint of its own, whose polls hold long enough to race a drain."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest

from asyncworker import ActivityContext, ActivityRegistry
from tests.helpers import (
    activity_events,
    history_events,
    on_local_endpoint,
    poll_until,
    request_cancel,
    start_activities,
    wait_closed,
)

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from types_aiobotocore_swf import SWFClient

    from asyncworker import Worker
    from asyncworker.local import LocalEndpoint
    from asyncworker.testing.swf import ActivityScheduler

pytestmark = pytest.mark.anyio
DOMAIN = "integration"


def registry() -> ActivityRegistry:
    reg = ActivityRegistry()

    @reg.activity(version="1", start_to_close=60, heartbeat_timeout=10, heartbeat_interval=0.1)
    async def beating(data: str, ctx: ActivityContext) -> str:
        for i in range(600):
            ctx.heartbeat(f"beat {i}")
            await anyio.sleep(0.05)
        return "never cancelled"

    @reg.activity(version="1", start_to_close=1)
    async def overrun(data: str) -> str:
        await anyio.sleep(30)
        return "too late"

    @reg.activity(version="1", start_to_close=60, heartbeat_timeout=1, auto_heartbeat=True)
    async def quiet(data: str) -> str:
        await anyio.sleep(2.5)  # longer than the heartbeat timeout: only auto heartbeats save it
        return "kept alive"

    @reg.activity(version="1", start_to_close=60)
    async def echo(data: str) -> str:
        return data

    return reg


def stack(**settings: Any) -> AbstractAsyncContextManager[tuple[LocalEndpoint, SWFClient, Worker]]:
    return on_local_endpoint(registry(), DOMAIN, **settings)


def count(worker: Worker, name: str, **labels: str) -> float:
    return worker.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def activity_registry() -> ActivityRegistry:
    return registry()


async def test_a_deciders_cancel_request_reaches_the_handler(
    activity_worker: Worker, swf_client: SWFClient, swf_domain: str
) -> None:
    client, domain, worker = swf_client, swf_domain, activity_worker
    execution = await start_activities(client, domain, [("beating", "")])

    async def started() -> bool | None:
        timeline = activity_events(await history_events(client, domain, execution))["a0"]
        return True if "ActivityTaskStarted" in timeline else None

    await poll_until(started, within=10)
    await request_cancel(client, domain, execution, "a0")
    closed = await wait_closed(client, domain, execution, 1, within=10)
    assert closed["a0"][0] == "canceled"
    assert count(worker, "asyncworker_heartbeats_total", outcome="cancel_requested") >= 1
    assert count(worker, "asyncworker_activity_tasks_total", activity_type="beating:1",
                 outcome="canceled") == 1  # fmt: skip


async def test_start_to_close_timeout_is_enforced_locally_and_never_answered(
    activity_worker: Worker, swf_scheduler: ActivityScheduler
) -> None:
    worker = activity_worker
    outcome = await swf_scheduler.run("overrun")

    async def counted() -> bool | None:
        labels = {"activity_type": "overrun:1", "outcome": "timed_out"}
        return True if count(worker, "asyncworker_activity_tasks_total", **labels) else None

    await poll_until(counted, within=10)
    assert (outcome.kind, outcome.reason) == ("timed_out", "START_TO_CLOSE")
    for operation in ("RespondActivityTaskCompleted", "RespondActivityTaskFailed"):
        assert (
            count(worker, "asyncworker_api_requests_total", operation=operation, outcome="ok") == 0
        )
        assert count(worker, "asyncworker_api_requests_total", operation=operation,
                     outcome="unknown_resource") == 0  # fmt: skip


async def test_auto_heartbeats_keep_a_quiet_handler_alive(
    activity_worker: Worker, swf_scheduler: ActivityScheduler
) -> None:
    outcome = await swf_scheduler.run("quiet")
    assert (outcome.kind, outcome.result) == ("completed", "kept alive")
    assert count(activity_worker, "asyncworker_heartbeats_total", outcome="ok") >= 2


async def test_drain_runs_what_in_flight_polls_bring() -> None:
    async with stack(max_concurrency=4) as (endpoint, client, worker):

        async def polling() -> bool | None:
            return True if sum(endpoint.stats()["waiting_polls"].values()) == 2 else None

        await poll_until(polling, within=10)
        worker.drain()  # both polls are in flight at the endpoint
        execution = await start_activities(client, DOMAIN, [("echo", "after drain began")])
        closed = await wait_closed(client, DOMAIN, execution, 1, within=10)
        await worker.drained.wait()
        stats = endpoint.stats()
    assert closed["a0"][0] == "completed"
    assert closed["a0"][1]["result"] == "after drain began"
    assert stats["lost_tasks"] == 0
