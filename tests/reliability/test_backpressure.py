"""A slow network (2 s per call): slots stay bounded, polls stop while slots are full, queues and
memory stay bounded."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from tests.helpers import (
    closed_activities,
    http_get,
    metric,
    start_activities,
)
from tests.reliability.conftest import endpoint_with_domain, ready_worker

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio

SLOTS, TASKS = 4, 8


async def test_backpressure_with_slow_responses(domain: str, tmp_path: Path) -> None:
    flags = ["--latency-ms", "2000", "--poll-timeout", "3"]
    async with endpoint_with_domain(domain, tmp_path, *flags) as (endpoint, client):
        execution = await start_activities(client, domain, [("echo", str(i)) for i in range(TASKS)])
        extra = ("--max-concurrency", str(SLOTS), "--pollers", "4", "--response-concurrency", "2")
        async with ready_worker(endpoint.url, domain, tmp_path, *extra) as (worker, base):
            samples = []
            with anyio.fail_after(120):
                while len(await closed_activities(client, domain, execution)) < TASKS:
                    samples.append((await http_get(f"{base}/metrics"))[1])
                    await anyio.sleep(0.25)
            assert worker.stop(within=60) == 0
    used = [metric(s, "asyncworker_slots", state="used") for s in samples]
    waiting = [metric(s, "asyncworker_pollers", state="waiting_for_slot") for s in samples]
    assert max(used) <= SLOTS
    assert max(waiting) >= 1, "pollers never waited for a slot: backpressure did not reach them"
    assert max(metric(s, "asyncworker_response_queue_depth") for s in samples) <= SLOTS
    assert max(metric(s, "process_resident_memory_bytes") for s in samples) < 256 * 2**20
