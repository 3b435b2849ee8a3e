"""The daemon sweeps the oldest generation and collects the whole heap on its clock, and reports
each collection's pause by scope."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.helpers import (
    daemon,
    free_port,
    http_get,
    local_endpoint_process,
    metric,
    poll_until,
    start_activities,
    swf_client,
    wait_closed,
    wait_http,
)
from tests.reliability.conftest import setup_domain, worker_args

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio

TASKS = 300
"""Sleeping at once, they keep enough objects alive for young collections to promote some to the
oldest generation: a sweep runs only after such promotions (as in CPython's rule), and they are
few enough (gcpolicy.QUIET_TASKS) for the whole heap to be collected while they run."""
GC = "asyncworker_gc_full_collection_seconds"


async def test_sweeps_and_whole_heap_collections_run_on_the_clock(
    domain: str, tmp_path: Path
) -> None:
    async with (
        local_endpoint_process("--poll-timeout", "2", log=tmp_path / "endpoint.log") as endpoint,
        swf_client(endpoint.url) as client,
    ):
        await setup_domain(client, domain)
        execution = await start_activities(client, domain, [("sleep", "2")] * TASKS)
        port = free_port()
        flags = ["--gc-interval", "1", "--max-concurrency", str(TASKS + 100)]
        args = worker_args(endpoint.url, domain, port, *flags)
        with daemon(args, tmp_path / "worker.log") as worker:
            url = f"http://127.0.0.1:{port}"
            await wait_http(f"{url}/readyz", within=30)
            await wait_closed(client, domain, execution, TASKS, within=90)

            async def collected() -> str | None:
                text = (await http_get(f"{url}/metrics"))[1]
                recent = metric(text, f"{GC}_count", scope="recent")
                return text if recent >= 1 and metric(text, f"{GC}_count", scope="all") else None

            text = await poll_until(collected, within=30)
            assert worker.stop(within=40) == 0
    assert metric(text, f"{GC}_sum", scope="recent") > 0
    assert metric(text, f"{GC}_sum", scope="all") > 0
