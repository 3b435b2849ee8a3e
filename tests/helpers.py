"""Helpers shared by the tests: a worker on the in-memory SWF, a scripted decider, daemons."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
import anyio

from asyncworker import ActivityRegistry, WorkerSettings
from asyncworker.swf.admin import register_workflow_type
from asyncworker.testing import FakeSwf
from asyncworker.worker import Worker

if TYPE_CHECKING:
    from types_aiobotocore_swf import SWFClient
    from types_aiobotocore_swf.type_defs import DecisionTypeDef, WorkflowExecutionTypeDef

T = TypeVar("T")
WORKFLOW = ("asyncworker-test", "1")
CLOSED = {
    "ActivityTaskCompleted": "completed",
    "ActivityTaskFailed": "failed",
    "ActivityTaskTimedOut": "timed_out",
    "ActivityTaskCanceled": "canceled",
}


def settings(**overrides: Any) -> WorkerSettings:
    """Worker settings for the in-memory SWF: no metrics port, small pools, a short drain."""
    values: dict[str, Any] = {
        "domain": "test",
        "metrics_port": None,
        "pollers": 2,
        "max_concurrency": 8,
        "drain_timeout": 1.0,
        "identity": "unit-test",
    }
    values.update(overrides)
    return WorkerSettings(**values)


@asynccontextmanager
async def running(
    registry: ActivityRegistry, fake: FakeSwf, **overrides: Any
) -> AsyncIterator[Worker]:
    """A worker serving `registry` from `fake`, drained when the block ends."""
    async with Worker(registry, settings(**overrides), api_factory=fake.factory()) as worker:
        yield worker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def ensure_workflow_type(client: SWFClient, domain: str) -> None:
    await register_workflow_type(
        client,
        domain,
        name=WORKFLOW[0],
        version=WORKFLOW[1],
        task_list="decisions",
        decision_timeout=60,
        execution_timeout=3600,
    )


async def schedule(
    client: SWFClient,
    domain: str,
    activities: Sequence[tuple[str, str]],
    *,
    task_list: str = "default",
    start_to_close: str | None = None,
) -> WorkflowExecutionTypeDef:
    """Start a workflow and schedule `(name, input)` activities (version 1) from its first
    decision task; activity ids are `a0`, `a1`, ... in order."""
    await ensure_workflow_type(client, domain)
    workflow_id = f"wf-{uuid.uuid4().hex[:10]}"
    started = await client.start_workflow_execution(
        domain=domain,
        workflowId=workflow_id,
        workflowType={"name": WORKFLOW[0], "version": WORKFLOW[1]},
        taskList={"name": "decisions"},
    )
    with anyio.fail_after(30):
        while True:
            task = await client.poll_for_decision_task(
                domain=domain, taskList={"name": "decisions"}, identity="test-decider"
            )
            if not task.get("taskToken"):
                continue
            if task["workflowExecution"]["workflowId"] == workflow_id:
                break
            # another test workflow's decision task (its activities closed): nothing to decide
            await client.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[])
    decisions: list[DecisionTypeDef] = []
    for index, (name, data) in enumerate(activities):
        attributes: Any = {
            "activityType": {"name": name, "version": "1"},
            "activityId": f"a{index}",
            "input": data,
            "taskList": {"name": task_list},
        }
        if start_to_close is not None:
            attributes["startToCloseTimeout"] = start_to_close
        decisions.append(
            {
                "decisionType": "ScheduleActivityTask",
                "scheduleActivityTaskDecisionAttributes": attributes,
            }
        )
    await client.respond_decision_task_completed(taskToken=task["taskToken"], decisions=decisions)
    return {"workflowId": workflow_id, "runId": started["runId"]}


async def history_events(
    client: SWFClient, domain: str, execution: WorkflowExecutionTypeDef
) -> list[Any]:
    """The execution's whole history, every page."""
    events: list[Any] = []
    kwargs: dict[str, Any] = {"domain": domain, "execution": execution}
    while True:
        page = await client.get_workflow_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextPageToken"):
            return events
        kwargs["nextPageToken"] = page["nextPageToken"]


def activity_events(events: list[Any]) -> dict[str, list[str]]:
    """activityId → the types of its events in order (ActivityTaskScheduled, ...Started, ...)."""
    ids: dict[int, str] = {}
    timeline: dict[str, list[str]] = {}
    for event in events:
        kind = event["eventType"]
        if kind == "ActivityTaskScheduled":
            activity_id = event["activityTaskScheduledEventAttributes"]["activityId"]
            ids[event["eventId"]] = activity_id
            timeline[activity_id] = [kind]
        elif kind.startswith("ActivityTask") and kind != "ActivityTaskCancelRequested":
            key = kind[0].lower() + kind[1:] + "EventAttributes"
            timeline[ids[event[key]["scheduledEventId"]]].append(kind)
    return timeline


async def closed_activities(
    client: SWFClient, domain: str, execution: WorkflowExecutionTypeDef
) -> dict[str, tuple[str, dict[str, Any]]]:
    """activityId → (how it closed, the closing event's attributes), from the full history."""
    events = await history_events(client, domain, execution)
    scheduled = {
        e["eventId"]: e["activityTaskScheduledEventAttributes"]["activityId"]
        for e in events
        if e["eventType"] == "ActivityTaskScheduled"
    }
    closed: dict[str, tuple[str, dict[str, Any]]] = {}
    for event in events:
        kind = CLOSED.get(event["eventType"])
        if kind is not None:
            key = event["eventType"][0].lower() + event["eventType"][1:] + "EventAttributes"
            attributes = event[key]
            closed[scheduled[attributes["scheduledEventId"]]] = (kind, attributes)
    return closed


async def poll_until(probe: Callable[[], Awaitable[T | None]], within: float) -> T:
    """Call `probe` every 0.2 s until it returns something other than None (bounded in time).

    For state only visible by asking (SWF history, a /metrics page): there is nothing to await.
    """
    with anyio.fail_after(within):
        while (result := await probe()) is None:  # noqa: ASYNC110
            await anyio.sleep(0.2)
    return result


async def wait_closed(
    client: SWFClient, domain: str, execution: WorkflowExecutionTypeDef, count: int, within: float
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Poll the history (bounded in time) until `count` activities have closed."""

    async def probe() -> dict[str, tuple[str, dict[str, Any]]] | None:
        closed = await closed_activities(client, domain, execution)
        return closed if len(closed) >= count else None

    return await poll_until(probe, within)


async def http_get(url: str) -> tuple[int, str]:
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
        return response.status, await response.text()


async def wait_http(url: str, status: int = 200, within: float = 20.0) -> str:
    """GET `url` until it answers `status` (bounded); returns the body."""
    with anyio.fail_after(within):
        while True:
            try:
                got, body = await http_get(url)
            except aiohttp.ClientError:
                got, body = 0, ""
            if got == status:
                return body
            await anyio.sleep(0.1)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "asyncworker", *args]


@dataclass
class Daemon:
    process: subprocess.Popen[bytes]
    log: Path

    def logs(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, within: float = 30.0) -> int:
        """SIGTERM, then wait (bounded) for the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=within)


@contextmanager
def daemon(args: Sequence[str], log: Path, env: dict[str, str] | None = None) -> Iterator[Daemon]:
    """Run `asyncworker ARGS` as a subprocess logging to `log`; killed if the test leaves it."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            cli(*args),
            env={**os.environ, "ASYNCWORKER_LOG_FORMAT": "json", **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Daemon(process, log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Endpoint:
    """`asyncworker local` running as a subprocess."""

    process: anyio.abc.Process
    url: str

    async def stats(self) -> dict[str, Any]:
        status, body = await http_get(f"{self.url}/stats")
        assert status == 200, body
        result: dict[str, Any] = json.loads(body)
        return result


@asynccontextmanager
async def local_endpoint_process(*flags: str, log: Path) -> AsyncIterator[Endpoint]:
    """Start `asyncworker local --port 0 FLAGS` (or the `--port` given) and yield its URL."""
    port_flags = [] if "--port" in flags else ["--port", "0"]
    command = [sys.executable, "-m", "asyncworker.local", *port_flags, *flags]
    with log.open("ab") as errors:
        process = await anyio.open_process(command, stdout=subprocess.PIPE, stderr=errors)
    try:
        assert process.stdout is not None
        seen = b""
        with anyio.fail_after(20):
            while (match := re.search(rb"http://127\.0\.0\.1:\d+", seen)) is None:
                seen += await process.stdout.receive()
        yield Endpoint(process, match.group().decode())
    finally:
        if process.returncode is None:
            process.terminate()
            with anyio.move_on_after(10):
                await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
        await process.aclose()


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one series on a /metrics page, or the sum of all series matching `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        if series.split("{", 1)[0] != name:
            continue
        if all(f'{key}="{val}"' in series for key, val in labels.items()):
            total += float(value)
    return total


async def decide(
    client: SWFClient,
    domain: str,
    execution: WorkflowExecutionTypeDef,
    decisions: list[DecisionTypeDef],
    within: float = 30.0,
) -> None:
    """Signal `execution` so SWF schedules a decision task, then answer it with `decisions`."""
    workflow_id = execution["workflowId"]
    await client.signal_workflow_execution(
        domain=domain, workflowId=workflow_id, runId=execution["runId"], signalName="test"
    )
    with anyio.fail_after(within):
        while True:
            task = await client.poll_for_decision_task(
                domain=domain, taskList={"name": "decisions"}, identity="test-decider"
            )
            if not task.get("taskToken"):
                continue
            mine = task["workflowExecution"]["workflowId"] == workflow_id
            await client.respond_decision_task_completed(
                taskToken=task["taskToken"], decisions=decisions if mine else []
            )
            if mine:
                return


async def request_cancel(
    client: SWFClient, domain: str, execution: WorkflowExecutionTypeDef, activity_id: str
) -> None:
    """The decider asks SWF to cancel activity `activity_id` (RequestCancelActivityTask)."""
    await decide(
        client,
        domain,
        execution,
        [
            {
                "decisionType": "RequestCancelActivityTask",
                "requestCancelActivityTaskDecisionAttributes": {"activityId": activity_id},
            }
        ],
    )
