"""The rig, the in-process pool and the embedded local endpoint together (fast, real timers)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from rich.console import Console

from asyncworker.examples.basic import registry
from asyncworker.loadtest.rig import RigConfig, setup
from asyncworker.loadtest.session import Session, run_session
from asyncworker.loadtest.workload import ActivitySpec, ActivityTimeouts, Workload
from asyncworker.local import EndpointOptions, local_endpoint
from asyncworker.settings import WorkerSettings
from asyncworker.swf.connect import open_client
from tests.helpers import history_truth

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from asyncworker.loadtest.measure import RunResult

pytestmark = pytest.mark.anyio

DOMAIN = "lt-local"


@pytest.fixture
async def endpoint_url() -> AsyncIterator[str]:
    async with local_endpoint(EndpointOptions(port=0, poll_timeout=1.0)) as endpoint:
        yield endpoint.url


@pytest.mark.timeout(60)
async def test_completed_failed_and_timed_out_are_each_counted_once(endpoint_url: str) -> None:
    """`sleep 2` outlives its 1 s start-to-close: SWF times it out while the pool still runs it."""
    workload = Workload(
        (
            ActivitySpec("echo", "1", "hi", weight=2),
            ActivitySpec("fail", "1", "on purpose"),
            ActivitySpec("sleep", "1", "2"),
        ),
        fan_out=6,
        task_list="default",
        timeouts=ActivityTimeouts(start_to_close=1),
    )
    rig = RigConfig(DOMAIN, workload, rate=60, count=12, deciders=2, tail_timeout=20, seed=5)
    worker = WorkerSettings(
        domain=DOMAIN, endpoint_url=endpoint_url, metrics_port=None, pollers=2, drain_timeout=5
    )
    async with open_client(
        region="us-east-1", endpoint_url=endpoint_url, max_pool_connections=2, read_timeout=10
    ) as client:
        await setup(client, DOMAIN, registry)
        session = Session(
            rig=rig, region="us-east-1", endpoint_url=endpoint_url, registry=registry, worker=worker
        )
        result: RunResult = await run_session(session, _quiet_console())
        truth = await history_truth(client, DOMAIN)

    counts = result.counts
    assert result.accounted
    assert (counts.scheduled, result.unfinished) == (12, 0)
    assert counts.completed >= 1
    assert counts.failed >= 1
    assert counts.timed_out >= 1
    assert truth == {
        "scheduled": 12,
        "completed": counts.completed,
        "failed": counts.failed,
        "timed_out": counts.timed_out,
        "canceled": 0,
        "unfinished": 0,
    }
    assert result.latency["start_to_close"].count == counts.completed + counts.failed


def _quiet_console() -> Console:
    return Console(quiet=True)
