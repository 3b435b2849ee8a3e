"""Flow control in the real daemon against the local endpoint: a rate limit holds on the
endpoint's own call counts, pausing stops polls and resuming restarts them (HTTP and signals),
and bad values exit 2 with one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import anyio
import pytest

from tests.helpers import (
    closed_activities,
    http_get,
    http_post,
    metric,
    poll_until,
    start_activities,
    wait_closed,
    wait_http,
)
from tests.reliability.conftest import (
    APP,
    endpoint_with_domain,
    ready_worker,
)

if TYPE_CHECKING:
    from pathlib import Path

    from tests.helpers import Endpoint

pytestmark = pytest.mark.anyio

POLL = "PollForActivityTask"
RATE, POLLERS, WINDOW = 20.0, 4, 3.0


async def polls(endpoint: Endpoint) -> int:
    count: int = (await endpoint.stats())["calls"].get(POLL, 0)
    return count


async def test_the_rate_limit_holds_on_the_endpoints_counts(domain: str, tmp_path: Path) -> None:
    """A backlog bigger than the window can take: over the window, the polls the endpoint saw
    stay within rate x seconds + one second of burst + the polls already holding a token, and
    every task polled completes."""
    async with endpoint_with_domain(domain, tmp_path, "--poll-timeout", "2") as (endpoint, client):
        execution = await start_activities(client, domain, [("echo", str(i)) for i in range(150)])
        extra = ("--pollers", str(POLLERS), "--max-activities-per-second", str(RATE))
        async with ready_worker(endpoint.url, domain, tmp_path, *extra) as (worker, base):
            started = anyio.current_time()
            before = await polls(endpoint)
            await anyio.sleep(WINDOW)
            after = await polls(endpoint)
            elapsed = anyio.current_time() - started
            page = (await http_get(f"{base}/metrics"))[1]
            assert worker.stop(within=30) == 0, worker.logs()
        closed = await closed_activities(client, domain, execution)
        stats = await endpoint.stats()
    made = after - before
    assert made <= RATE * elapsed + RATE + POLLERS, (made, elapsed)
    assert made >= RATE * elapsed / 2, "the limit stopped the worker instead of pacing it"
    assert len(closed) < 150, "the backlog ran out: the window did not test the limit"
    assert {kind for kind, _ in closed.values()} == {"completed"}
    assert stats["calls"].get(POLL, 0) >= len(closed)
    assert stats["lost_tasks"] == 0
    assert metric(page, "asyncworker_rate_limited_polls_total", task_list="default") > 0
    assert metric(page, "asyncworker_rate_limit_wait_seconds_count", task_list="default") > 0


async def test_pause_and_resume_by_http_and_by_signal(domain: str, tmp_path: Path) -> None:
    async with endpoint_with_domain(domain, tmp_path, "--poll-timeout", "1") as (endpoint, client):
        extra = ("--admin-endpoints", "true")
        async with ready_worker(endpoint.url, domain, tmp_path, *extra) as (worker, base):
            assert await http_post(f"{base}/pause") == (200, '{"status": "paused"}')
            await wait_http(f"{base}/readyz", status=503, within=5)
            page = (await http_get(f"{base}/metrics"))[1]
            assert metric(page, "asyncworker_paused") == 1

            async def no_poll_in_flight() -> bool:
                # The worker's own word first: a poll it sent just before the pause may still
                # be on its way to the endpoint (it is never aborted); then the endpoint's.
                page = (await http_get(f"{base}/metrics"))[1]
                if metric(page, "asyncworker_pollers", state="polling"):
                    return False
                return not (await endpoint.stats())["waiting_polls"].get("default")

            await poll_until(no_poll_in_flight, within=5)  # in-flight polls came back (1 s)
            quiet = await polls(endpoint)
            execution = await start_activities(client, domain, [("echo", "a"), ("echo", "b")])
            await anyio.sleep(1.5)  # longer than a poll: a poll would have taken them
            assert await polls(endpoint) == quiet, "polled while paused"
            assert await closed_activities(client, domain, execution) == {}

            worker.process.send_signal(signal.SIGUSR2)
            closed = await wait_closed(client, domain, execution, 2, within=15)
            await wait_http(f"{base}/readyz", within=5)

            worker.process.send_signal(signal.SIGUSR1)
            await wait_http(f"{base}/readyz", status=503, within=5)
            assert await http_post(f"{base}/resume") == (200, '{"status": "polling"}')
            await wait_http(f"{base}/readyz", within=5)
            assert worker.stop(within=30) == 0, worker.logs()
    assert {kind for kind, _ in closed.values()} == {"completed"}
    assert "polling paused" in worker.logs()
    assert "polling resumed" in worker.logs()


def run_worker(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asyncworker", "run", *args, "--domain", "d",
         "--endpoint-url", "http://127.0.0.1:9"],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--max-activities-per-second", "-5"], "max_activities_per_second"),
        (["--task-list-rates", "default=-1"], "task_list_rates"),
        (["--task-list-rates", "orders=5"], "unknown task list 'orders'"),
        (["--task-list-concurrency", "orders=2"], "unknown task list 'orders'"),
    ],
)
def test_bad_flow_control_values_exit_2_with_one_line(flags: list[str], expected: str) -> None:
    done = run_worker(APP, *flags)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert expected in lines[0]


def test_a_type_limit_of_zero_exits_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "zero_app.py").write_text(
        "from asyncworker import ActivityRegistry\n"
        "registry = ActivityRegistry()\n"
        "@registry.activity(version='1', max_concurrent=0)\n"
        "async def never(data: str) -> str:\n"
        "    return data\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = run_worker("zero_app:registry", env=env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "never:1: max_concurrent must be at least 1, got 0" in lines[0]
