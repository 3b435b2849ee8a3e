"""Process execution through the daemon over real HTTP against the local endpoint: heartbeats and
cancellation from a child, crashes, memory, pickling, recycling, and SIGTERM with no orphans."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.helpers import (
    activity_events,
    history_events,
    http_get,
    metric,
    poll_until,
    request_cancel,
    start_activities,
    wait_closed,
)
from tests.pipeline.process_handlers import registry
from tests.reliability.conftest import endpoint_with_domain, ready_worker

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from types_aiobotocore_swf import SWFClient
    from types_aiobotocore_swf.type_defs import WorkflowExecutionTypeDef

    from asyncworker.testing.endpoint import Endpoint
    from tests.helpers.processes import Daemon

pytestmark = pytest.mark.anyio

APP = "tests.pipeline.process_handlers:registry"
POLL_TIMEOUT = "2"
"""Seconds the endpoint holds an empty poll: the drain waits for in-flight polls."""
ROOT = Path(__file__).resolve().parents[2]


def worker_daemon(
    url: str, domain: str, tmp_path: Path, *extra: str
) -> AbstractAsyncContextManager[tuple[Daemon, str]]:
    """`asyncworker run` of the process handlers against `url`, with two worker processes, once
    ready; with the base URL of its metrics server."""
    env = {"PYTHONPATH": str(ROOT)}
    return ready_worker(url, domain, tmp_path, "--process-limit", "2", *extra, app=APP, env=env)


def descendants(pid: int) -> dict[int, str]:
    """Every live process below `pid` (its children, theirs, ...), with its start time: a pid
    reused later by an unrelated process is told apart by it."""
    parents: dict[int, list[int]] = {}
    started: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry.name))
        started[int(entry.name)] = fields[19]
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found[child] = started[child]
            todo.append(child)
    return found


def still_running(processes: dict[int, str]) -> list[int]:
    """The processes of `processes` that still exist (zombies included: nobody reaped them)."""
    left = []
    for pid, start in processes.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[19] == start:
            left.append(pid)
    return left


def stack(domain: str, tmp_path: Path) -> AbstractAsyncContextManager[tuple[Endpoint, SWFClient]]:
    """The local endpoint (short empty polls: the drain waits for those in flight), a client,
    and the domain with the handlers' activity types."""
    flags = ("--poll-timeout", POLL_TIMEOUT)
    return endpoint_with_domain(domain, tmp_path, *flags, registry=registry)


async def started(client: SWFClient, domain: str, execution: WorkflowExecutionTypeDef,
                  activity_id: str) -> None:  # fmt: skip
    async def probe() -> bool | None:
        timeline = activity_events(await history_events(client, domain, execution))
        return True if "ActivityTaskStarted" in timeline.get(activity_id, []) else None

    await poll_until(probe, within=30)


async def test_process_tasks_end_as_the_readme_says(domain: str, tmp_path: Path) -> None:
    work = [
        ("beating", "10"),
        ("wait_cancel", ""),
        ("ignore_cancel", "term"),
        ("segfault", ""),
        ("exit_now", "7"),
        ("hog", "300"),
        ("unpicklable", ""),
        ("fails", "x"),
        *[("pid", str(i)) for i in range(8)],
    ]
    async with stack(domain, tmp_path) as (endpoint, client):
        execution = await start_activities(client, domain, work)
        extra = ("--cancel-grace", "0.5", "--max-process-memory", "150MiB",
                 "--max-concurrency", "16")  # fmt: skip
        async with worker_daemon(endpoint.url, domain, tmp_path, *extra) as (worker, base):
            for activity_id in ("a1", "a2"):
                await started(client, domain, execution, activity_id)
                await request_cancel(client, domain, execution, activity_id)
            closed = await wait_closed(client, domain, execution, len(work), within=60)
            _, page = await http_get(f"{base}/metrics")
            assert worker.stop(within=30) == 0, worker.logs()
    outcome = {key: (kind, attrs.get("reason") or attrs.get("details") or attrs.get("result"))
               for key, (kind, attrs) in closed.items()}  # fmt: skip
    assert outcome["a0"] == ("completed", "a0 " + execution["workflowId"] + " beating:1 set")
    assert outcome["a1"] == ("canceled", "stopped on request")
    kind, details = outcome["a2"]
    assert kind == "canceled"
    assert "cancel_grace (0.5 s)" in str(details)
    assert outcome["a3"] == ("failed", "worker process died: SIGSEGV")
    assert outcome["a4"] == ("failed", "worker process died: exit code 7")
    assert outcome["a5"] == ("failed", "worker process exceeded 150MiB RSS")
    assert outcome["a6"] == (
        "failed", "the result (lock) cannot be pickled: cannot pickle '_thread.lock' object"
    )  # fmt: skip
    assert outcome["a7"] == ("failed", "ValueError: bad x")
    assert all(outcome[f"a{i}"][0] == "completed" for i in range(8, 16))
    assert metric(page, "asyncworker_process_heartbeats_relayed_total") >= 2
    assert metric(page, "asyncworker_process_deaths_total", cause="crashed") == 2
    assert metric(page, "asyncworker_process_deaths_total", cause="memory") == 1
    assert metric(page, "asyncworker_process_deaths_total", cause="cancel_grace") == 1
    assert "Traceback" not in worker.logs().replace("Traceback (most recent call last)", "")


async def test_sigterm_drains_process_tasks_and_leaves_no_orphans(
    domain: str, tmp_path: Path
) -> None:
    work = [("ignore_cancel", "term"), *[("pid", str(i)) for i in range(4)]]
    async with stack(domain, tmp_path) as (endpoint, client):
        execution = await start_activities(client, domain, work)
        extra = ("--drain-timeout", "1", "--max-tasks-per-process", "2")
        async with worker_daemon(endpoint.url, domain, tmp_path, *extra) as (worker, _):
            await wait_closed(client, domain, execution, 4, within=30)
            await started(client, domain, execution, "a0")
            family = descendants(worker.process.pid)
            assert len(family) >= 3, family  # the forkserver and two worker processes
            assert worker.stop(within=40) == 0, worker.logs()
        closed = await wait_closed(client, domain, execution, len(work), within=30)
    assert closed["a0"][0] == "failed"
    assert closed["a0"][1]["reason"] == "worker shutdown"

    # every process of the family is gone (polled: the forkserver may take a moment to exit)
    await poll_until(lambda: not still_running(family), within=10)


async def test_a_killed_daemon_leaves_no_orphans(domain: str, tmp_path: Path) -> None:
    """SIGKILL gives the worker no chance to stop its processes: they see their channel close
    and exit by themselves, a busy one at once, and the forkserver with them."""
    work = [("ignore_cancel", "term"), ("pid", "0")]
    async with stack(domain, tmp_path) as (endpoint, client):
        execution = await start_activities(client, domain, work)
        async with worker_daemon(endpoint.url, domain, tmp_path) as (worker, _):
            await wait_closed(client, domain, execution, 1, within=30)
            await started(client, domain, execution, "a0")
            family = descendants(worker.process.pid)
            assert len(family) >= 3, family
            worker.process.kill()
            worker.process.wait(timeout=10)
    await poll_until(lambda: not still_running(family), within=10)


async def test_many_tasks_across_recycles_lose_none(domain: str, tmp_path: Path) -> None:
    count = 300
    work = [("pid", str(i)) for i in range(count)]
    async with stack(domain, tmp_path) as (endpoint, client):
        execution = await start_activities(client, domain, work)
        extra = ("--max-tasks-per-process", "20", "--max-concurrency", "20")
        async with worker_daemon(endpoint.url, domain, tmp_path, *extra) as (worker, base):
            closed = await wait_closed(client, domain, execution, count, within=120)
            _, page = await http_get(f"{base}/metrics")
            assert worker.stop(within=30) == 0, worker.logs()
        assert (await endpoint.stats())["lost_tasks"] == 0
    assert sorted(closed) == sorted(f"a{i}" for i in range(count))
    assert all(kind == "completed" for kind, _ in closed.values())
    pids = {attrs["result"] for _, attrs in closed.values()}
    assert len(pids) >= count // 20
    assert metric(page, "asyncworker_process_recycles_total", cause="tasks") >= count // 20 - 2
    assert metric(page, "asyncworker_process_deaths_total") == 0
