"""SIGTERM under load: exit 0 in budget, no task lost to an aborted poll, every running task
answered, and a restarted worker finishes the rest."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import anyio
import pytest

from tests.helpers import (
    activity_events,
    daemon,
    free_port,
    history_events,
    poll_until,
    start_activities,
    wait_closed,
)
from tests.reliability.conftest import endpoint_with_domain, ready_worker, worker_args

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio

POLL_TIMEOUT, DRAIN_TIMEOUT, MARGIN = 3.0, 2.0, 20.0


@pytest.mark.parametrize("seed", [1, 2])
async def test_sigterm_under_load(domain: str, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    work = [("sleep", f"{rng.uniform(0, 0.3):.3f}") for _ in range(400)]
    work += [("echo", str(i)) for i in range(200)] + [("sleep", "6") for _ in range(5)]
    rng.shuffle(work)
    flags = ("--poll-timeout", str(POLL_TIMEOUT))
    async with endpoint_with_domain(domain, tmp_path, *flags) as (endpoint, client):
        execution = await start_activities(client, domain, work)
        extra = ("--max-concurrency", "40", "--drain-timeout", str(DRAIN_TIMEOUT))
        async with ready_worker(endpoint.url, domain, tmp_path, *extra, log="first.log") as (
            first,
            _,
        ):
            await wait_closed(client, domain, execution, rng.randint(20, 300), within=60)
            started = anyio.current_time()
            code = first.stop(within=POLL_TIMEOUT + DRAIN_TIMEOUT + MARGIN)
            assert code == 0, first.logs()
            assert anyio.current_time() - started < POLL_TIMEOUT + DRAIN_TIMEOUT + MARGIN
        timelines = activity_events(await history_events(client, domain, execution))
        stranded = [a for a, t in timelines.items() if t[-1] == "ActivityTaskStarted"]
        assert not stranded, "tasks left started by the stopped worker"
        shutdown = sum(t[-1] == "ActivityTaskFailed" for t in timelines.values())
        assert shutdown <= 5  # only the long sleeps can outlive the drain timeout
        assert (await endpoint.stats())["lost_tasks"] == 0

        port = free_port()
        with daemon(worker_args(endpoint.url, domain, port), tmp_path / "second.log") as second:
            closed = await wait_closed(client, domain, execution, len(work), within=120)
            assert second.stop(within=POLL_TIMEOUT + 60) == 0
        stats = await endpoint.stats()
    assert stats["lost_tasks"] == 0
    kinds = [kind for kind, _ in closed.values()]
    assert "timed_out" not in kinds
    assert len(kinds) == len(work)
    assert "Traceback" not in first.logs() + second.logs()


async def test_sigterm_during_start_up_stops_before_any_poll(domain: str, tmp_path: Path) -> None:
    """SWF is not reachable yet (nothing listens), so start-up retries its domain check for up
    to a minute: SIGTERM stops it at once, exit 0, and no poller ever starts."""
    unreachable = f"http://127.0.0.1:{free_port()}"
    args = worker_args(unreachable, domain, free_port())
    with daemon(args, tmp_path / "worker.log") as worker:

        async def retrying() -> bool | None:
            return True if "SWF not reachable yet" in worker.logs() else None

        await poll_until(retrying, within=30)
        assert worker.stop(within=15) == 0, worker.logs()  # not after the 60 s check budget
    logs = worker.logs()
    assert "drain requested during start-up" in logs
    assert "worker ready" not in logs
    assert "poll" not in logs.replace("stopping before any poll", "")
