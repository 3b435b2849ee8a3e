"""Injected faults, lost responses and AWS quotas: every task completed exactly once, none lost."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import anyio
import pytest

from tests.helpers import (
    activity_events,
    history_events,
    http_get,
    metric,
    start_activities,
    wait_closed,
)
from tests.reliability.conftest import endpoint_with_domain, ready_worker

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio

WORKFLOWS, PER_WORKFLOW = 4, 500


async def test_faults_and_quotas_lose_nothing(domain: str, tmp_path: Path) -> None:
    flags = ["--fault-rate", "0.05", "--quotas", "aws", "--seed", "7", "--poll-timeout", "5"]
    async with endpoint_with_domain(domain, tmp_path, *flags) as (endpoint, client):
        executions = [
            await start_activities(
                client, domain, [("echo", f"{w}-{i}") for i in range(PER_WORKFLOW)]
            )
            for w in range(WORKFLOWS)
        ]
        extra = ("--pollers", "8", "--max-concurrency", "100")
        async with ready_worker(endpoint.url, domain, tmp_path, *extra) as (worker, base):
            for execution in executions:
                await wait_closed(client, domain, execution, PER_WORKFLOW, within=180)
            _, text = await http_get(f"{base}/metrics")
            assert worker.process.poll() is None, "the worker died"
            assert worker.stop(within=60) == 0, worker.logs()
        kinds: Counter[str] = Counter()
        for execution in executions:
            for timeline in activity_events(
                await history_events(client, domain, execution)
            ).values():
                kinds.update(timeline)
                assert timeline[-1] == "ActivityTaskCompleted", timeline
        stats = await endpoint.stats()

    tasks = WORKFLOWS * PER_WORKFLOW
    assert kinds["ActivityTaskCompleted"] == tasks  # exactly once each
    assert kinds["ActivityTaskTimedOut"] == kinds["ActivityTaskFailed"] == 0
    assert stats["lost_tasks"] == 0
    assert stats["faults_injected"]["total"] > 0
    assert stats["faults_injected"]["after_effect"] > 0  # lost responses happened
    assert metric(text, "asyncworker_poller_restarts_total") == 0
    assert metric(text, "asyncworker_response_retries_total") > 0
    faults = sum(
        metric(text, "asyncworker_api_requests_total", outcome=outcome)
        for outcome in ("server", "network", "throttled")
    )
    assert faults > 0
    assert metric(text, "asyncworker_activity_tasks_total", outcome="completed") == tasks
    assert "Traceback" not in worker.logs()
    await anyio.lowlevel.checkpoint()
