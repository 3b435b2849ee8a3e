"""The endpoint goes away and comes back with its state lost: the worker backs off, stays alive,
shows the outage, resumes, and nothing in it grows meanwhile."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from tests.helpers import (
    free_port,
    http_get,
    local_endpoint_process,
    metric,
    poll_until,
    start_activities,
    swf_client,
    wait_closed,
)
from tests.reliability.conftest import ready_worker, setup_domain

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio


async def run_batch(url: str, domain: str, count: int) -> None:
    async with swf_client(url) as client:
        await setup_domain(client, domain)
        execution = await start_activities(client, domain, [("echo", str(i)) for i in range(count)])
        await wait_closed(client, domain, execution, count, within=60)


async def test_endpoint_outage(domain: str, tmp_path: Path) -> None:
    endpoint_port = free_port()
    flags = ["--port", str(endpoint_port), "--poll-timeout", "2"]
    url = f"http://127.0.0.1:{endpoint_port}"
    async with local_endpoint_process(*flags, log=tmp_path / "endpoint1.log") as endpoint:
        await setup_domain_at(endpoint.url, domain)
        async with ready_worker(url, domain, tmp_path) as (worker, base):
            await run_batch(url, domain, 50)
            before = (await http_get(f"{base}/metrics"))[1]
            endpoint.process.kill()  # the endpoint dies, taking every poll with it
            await endpoint.process.wait()

            async def backing_off() -> str | None:
                text = (await http_get(f"{base}/metrics"))[1]
                return text if metric(text, "asyncworker_pollers", state="backing_off") else None

            text = await poll_until(backing_off, within=30)
            for _ in range(10):  # bounded: ~2 s of an outage
                status, health = await http_get(f"{base}/healthz")
                assert status == 200, health
                await anyio.sleep(0.2)
            during = (await http_get(f"{base}/metrics"))[1]
            async with local_endpoint_process(*flags, log=tmp_path / "endpoint2.log"):
                await run_batch(url, domain, 50)  # state was lost: register again, new tasks
                after = (await http_get(f"{base}/metrics"))[1]
            assert worker.process.poll() is None
            worker.process.terminate()
            assert worker.process.wait(timeout=40) == 0

    assert metric(during, "asyncworker_api_requests_total", operation="PollForActivityTask",
                  outcome="network") > 0  # fmt: skip
    assert metric(text, "asyncworker_polls_total", outcome="error") > 0
    assert metric(after, "asyncworker_poller_restarts_total") == 0
    assert metric(after, "asyncworker_activity_tasks_total", outcome="completed") == 100
    assert metric(after, "asyncworker_response_queue_depth") == 0
    assert metric(after, "process_open_fds") <= metric(before, "process_open_fds") + 16
    rss_before = metric(before, "process_resident_memory_bytes")
    assert metric(after, "process_resident_memory_bytes") < rss_before * 1.5


async def setup_domain_at(url: str, domain: str) -> None:
    async with swf_client(url) as client:
        await setup_domain(client, domain)
