"""The rig, the in-process pool and the embedded local endpoint together (fast, real timers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from rich.console import Console

from asyncworker.examples.basic import registry
from asyncworker.loadtest.rig import INTERRUPTED_REASON, RigConfig, run_rig, setup
from asyncworker.loadtest.session import Session, run_session
from asyncworker.loadtest.workload import ActivitySpec, ActivityTimeouts, Workload
from asyncworker.local import EndpointOptions, local_endpoint
from asyncworker.settings import WorkerSettings
from asyncworker.swf.connect import open_client
from tests.helpers import history_truth

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from asyncworker.loadtest.live import Progress
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


class StopAfterFirstInterval:
    """A progress view that presses Ctrl-C (sets `stop`) when the first interval is shown."""

    def __init__(self, stop: anyio.Event) -> None:
        self.stop = stop

    def __enter__(self) -> StopAfterFirstInterval:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def update(self, progress: Progress) -> None:
        if progress.counts.workflows_started:
            self.stop.set()


@pytest.mark.timeout(60)
async def test_a_stopped_run_reports_what_ran_and_terminates_its_open_workflows(
    endpoint_url: str,
) -> None:
    """No worker: every workflow stays open until the stop, then all are terminated."""
    workload = Workload((ActivitySpec("echo", "1", "hi"),), fan_out=5, task_list="nobody")
    rig = RigConfig(DOMAIN, workload, rate=100, duration=60, deciders=2, interval=0.2)
    stop = anyio.Event()
    async with open_client(
        region="us-east-1", endpoint_url=endpoint_url, max_pool_connections=2, read_timeout=10
    ) as client:
        await setup(client, DOMAIN, registry)
        with anyio.fail_after(30):
            result = await run_rig(
                rig,
                endpoint_url=endpoint_url,
                region="us-east-1",
                view=StopAfterFirstInterval(stop),
                stop=stop,
            )
        since: Any = {"oldestDate": datetime.now(UTC) - timedelta(hours=1)}
        still_open = await client.list_open_workflow_executions(
            domain=DOMAIN, startTimeFilter=since
        )
        closed = await client.list_closed_workflow_executions(
            domain=DOMAIN, startTimeFilter=since, closeStatusFilter={"status": "TERMINATED"}
        )
        history: Any = await client.get_workflow_execution_history(
            domain=DOMAIN, execution=closed["executionInfos"][0]["execution"]
        )

    assert result.interrupted
    assert result.duration_s < 30
    assert result.accounted
    assert result.counts.workflows_started >= 1
    assert result.counts.completed == 0
    assert still_open["executionInfos"] == []
    # Every started workflow (and any whose start the stop cut short) was terminated.
    assert result.leftovers_closed == len(closed["executionInfos"])
    assert result.leftovers_closed >= result.counts.workflows_started
    terminated = history["events"][-1]
    assert terminated["eventType"] == "WorkflowExecutionTerminated"
    assert terminated["workflowExecutionTerminatedEventAttributes"]["reason"] == (
        INTERRUPTED_REASON
    )
