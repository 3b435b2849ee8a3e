"""The rig against moto server, an independent SWF implementation (slow: keep runs tiny)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import anyio
import pytest

from asyncworker.loadtest.rig import RigConfig, run_load
from asyncworker.loadtest.workload import ActivitySpec, ActivityTimeouts, Workload
from asyncworker.swf.connect import open_client
from tests.helpers import history_truth, register_rig_types, scripted_worker

if TYPE_CHECKING:
    from types_aiobotocore_swf import SWFClient

pytestmark = pytest.mark.anyio

TASK_LIST = "lt-work"


@pytest.mark.timeout(60)
async def test_every_activity_lands_in_exactly_one_bucket(
    moto_url: str, moto_client: SWFClient, domain: str
) -> None:
    """Completed, failed and timed-out activities agree with the histories SWF kept."""
    await register_rig_types(moto_client, domain, ["echo", "fail", "hang"], TASK_LIST)
    workload = Workload(
        activities=(
            ActivitySpec("echo", "1", "hi", weight=3),
            ActivitySpec("fail", "1"),
            ActivitySpec("hang", "1"),
        ),
        fan_out=5,
        task_list=TASK_LIST,
        # moto models only the heartbeat timeout: `hang` is never answered and times out.
        timeouts=ActivityTimeouts(heartbeat=2),
    )
    config = RigConfig(
        domain, workload, rate=40, count=10, deciders=2, tail_timeout=30, interval=0.5, seed=3
    )
    answered: Counter[str] = Counter()
    async with (
        open_client(
            region="us-east-1", endpoint_url=moto_url, max_pool_connections=4, read_timeout=10
        ) as decider_client,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(scripted_worker, moto_client, domain, TASK_LIST, answered)
        with anyio.fail_after(40):
            result = await run_load(moto_client, decider_client, config)
        tg.cancel_scope.cancel()

    counts = result.counts
    assert result.accounted
    assert (counts.offered, counts.scheduled, result.unfinished) == (10, 10, 0)
    assert counts.completed >= 1
    assert counts.failed >= 1
    assert counts.timed_out >= 1
    assert counts.workflows_started == counts.workflows_completed == 2
    truth = await history_truth(moto_client, domain)
    assert truth == {
        "scheduled": counts.scheduled,
        "completed": counts.completed,
        "failed": counts.failed,
        "timed_out": counts.timed_out,
        "canceled": 0,
        "unfinished": 0,
    }
    # Latencies are recorded for the activities a worker answered, and only for those.
    assert result.latency["schedule_to_close"].count == counts.completed + counts.failed
    assert sum(i.scheduled for i in result.intervals) == counts.scheduled
    assert sum(i.completed for i in result.intervals) == counts.completed


@pytest.mark.timeout(30)
async def test_without_workers_everything_scheduled_is_unfinished(
    moto_url: str, moto_client: SWFClient, domain: str
) -> None:
    """With no worker and no tail wait, the scheduled activities end up `unfinished`."""
    await register_rig_types(moto_client, domain, ["echo"], TASK_LIST)
    workload = Workload((ActivitySpec("echo", "1"),), fan_out=3, task_list=TASK_LIST)
    config = RigConfig(domain, workload, rate=30, count=6, deciders=2, tail_timeout=0.0)
    async with open_client(
        region="us-east-1", endpoint_url=moto_url, max_pool_connections=4, read_timeout=10
    ) as decider_client:
        with anyio.fail_after(20):
            result = await run_load(moto_client, decider_client, config)
    assert result.accounted
    assert result.counts.offered == 6
    assert result.counts.closed == 0
    assert result.unfinished == result.counts.scheduled
