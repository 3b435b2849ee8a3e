"""The daemon sweeps the oldest generation and collects the whole heap on its clock, and reports
each collection's pause by scope."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from asyncworker.swf.admin import ensure_activity_types
from tests.helpers import (
    http_get,
    metric,
    poll_until,
    start_activities,
    wait_closed,
)
from tests.reliability import cycles_app
from tests.reliability.conftest import endpoint_with_domain, ready_worker

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio

TASKS = 1000
"""Sleeping at once, they keep enough objects alive for young collections to promote them to the
oldest generation, where sweeps freeze them: more than a quarter of the start-up heap
(gcpolicy.GROWTH), and more than gcpolicy.QUIET_TASKS."""
GC = "asyncworker_gc_full_collection_seconds"


async def test_sweeps_freeze_tasks_and_their_end_is_no_growth(domain: str, tmp_path: Path) -> None:
    """Tasks frozen while in flight are freed by reference counting when they end: once they
    have, nothing calls for a whole-heap collection, quiet as the daemon then is."""
    async with endpoint_with_domain(domain, tmp_path, "--poll-timeout", "2") as (endpoint, client):
        execution = await start_activities(client, domain, [("sleep", "2")] * TASKS)
        flags = ["--gc-interval", "1", "--max-concurrency", str(TASKS + 100)]
        async with ready_worker(endpoint.url, domain, tmp_path, *flags) as (worker, url):
            await wait_closed(client, domain, execution, TASKS, within=90)
            await anyio.sleep(3)  # three intervals, all of them quiet
            text = (await http_get(f"{url}/metrics"))[1]
            assert worker.stop(within=40) == 0
    assert metric(text, f"{GC}_count", scope="recent") >= 1
    assert metric(text, f"{GC}_sum", scope="recent") > 0
    assert metric(text, f"{GC}_count", scope="all") == 0


async def test_cyclic_garbage_among_frozen_objects_is_collected_when_quiet(
    domain: str, tmp_path: Path
) -> None:
    """A handler's cycles, frozen while alive, then dropped: the frozen heap grew, so the whole
    heap is collected at the next interval."""
    async with endpoint_with_domain(domain, tmp_path, "--poll-timeout", "2") as (endpoint, client):
        await ensure_activity_types(client, domain, cycles_app.registry)
        execution = await start_activities(client, domain, [("cycles", "100000")] * 4)
        app, flags = "tests.reliability.cycles_app:registry", ("--gc-interval", "1")
        async with ready_worker(endpoint.url, domain, tmp_path, *flags, app=app) as (worker, url):
            await wait_closed(client, domain, execution, 4, within=90)

            async def collected() -> str | None:
                text = (await http_get(f"{url}/metrics"))[1]
                return text if metric(text, f"{GC}_count", scope="all") else None

            text = await poll_until(collected, within=30)
            assert worker.stop(within=40) == 0
    assert metric(text, f"{GC}_sum", scope="all") > 0
