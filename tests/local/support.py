"""Helpers for the local endpoint's tests: clients, endpoint runners, a scripted decider."""

from __future__ import annotations

import asyncio
import http.client
import json
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio
import uvloop
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from asyncworker.local import EndpointOptions, LocalEndpoint, local_endpoint

if TYPE_CHECKING:
    from types_aiobotocore_swf import SWFClient

DOMAIN = "test-domain"
# Typed as Any: they are passed as the typed client's TypedDicts and compared as plain dicts.
WORKFLOW: Any = {"name": "wf", "version": "1"}
ACTIVITY: Any = {"name": "act", "version": "1"}
DECISIONS = "decisions"
ACTIVITIES = "activities"
ALL_NONE = {
    "scheduleToStartTimeout": "NONE",
    "scheduleToCloseTimeout": "NONE",
    "startToCloseTimeout": "NONE",
    "heartbeatTimeout": "NONE",
}


@asynccontextmanager
async def swf_client(url: str, region: str = "us-east-1") -> AsyncIterator[SWFClient]:
    """An aiobotocore SWF client on ``url`` with a poll-safe read timeout and no retries,
    signing for ``region``."""
    config = AioConfig(
        read_timeout=70, connect_timeout=5, retries={"mode": "standard", "total_max_attempts": 1}
    )
    session = get_session()
    async with session.create_client(
        "swf", endpoint_url=url, region_name=region, config=config
    ) as client:
        yield client


class RawClient:
    """A bare keep-alive JSON 1.0 client on asyncio streams, for cheap or malformed calls."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RawClient:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.abort()

    def abort(self) -> None:
        """Close the connection at once."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def send(self, operation: str, body: object) -> None:
        """Send a call without waiting for its answer."""
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        head = (
            f"POST / HTTP/1.1\r\nHost: {self.host}\r\n"
            f"X-Amz-Target: SimpleWorkflowService.{operation}\r\n"
            "Content-Type: application/x-amz-json-1.0\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        )
        self.send_bytes(head.encode() + payload)

    def send_bytes(self, data: bytes) -> None:
        assert self._writer is not None
        self._writer.write(data)

    async def receive(self) -> tuple[int, dict[str, Any]]:
        """The next answer: HTTP status and JSON body."""
        assert self._reader is not None
        status_line = await self._reader.readline()
        if not status_line:
            raise ConnectionResetError("connection closed by the endpoint")
        status = int(status_line.split()[1])
        length = 0
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        body = await self._reader.readexactly(length)
        try:
            parsed = json.loads(body) if body else {}
        except ValueError:
            parsed = {"text": body.decode(errors="replace")}
        return status, parsed

    async def call(self, operation: str, body: object) -> tuple[int, dict[str, Any]]:
        self.send(operation, body)
        return await self.receive()


def sync_call(url: str, operation: str, body: object) -> tuple[int, dict[str, Any]]:
    """One call with http.client (for threads and synchronous tests)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        connection.request(
            "POST",
            "/",
            payload,
            {
                "X-Amz-Target": f"SimpleWorkflowService.{operation}",
                "Content-Type": "application/x-amz-json-1.0",
            },
        )
        response = connection.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else {})
    finally:
        connection.close()


@dataclass
class ThreadedEndpoint:
    """A local endpoint running on its own event loop in a background thread."""

    url: str
    endpoint: LocalEndpoint
    loop: asyncio.AbstractEventLoop

    def stats(self) -> dict[str, Any]:
        future = asyncio.run_coroutine_threadsafe(_stats(self.endpoint), self.loop)
        return future.result(timeout=10)


async def _stats(endpoint: LocalEndpoint) -> dict[str, Any]:
    return endpoint.stats()


@contextmanager
def threaded_endpoint(options: EndpointOptions | None = None) -> Iterator[ThreadedEndpoint]:
    """Run ``local_endpoint(options)`` in a thread with its own uvloop loop."""
    ready: list[ThreadedEndpoint] = []
    started = threading.Event()
    loop = uvloop.new_event_loop()

    async def main(stop: asyncio.Event) -> None:
        async with local_endpoint(options or EndpointOptions()) as endpoint:
            ready.append(ThreadedEndpoint(endpoint.url, endpoint, loop))
            started.set()
            await stop.wait()

    stop_event: list[asyncio.Event] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        event = asyncio.Event()
        stop_event.append(event)
        loop.run_until_complete(main(event))
        loop.close()

    thread = threading.Thread(target=run, name="local-swf-endpoint", daemon=True)
    thread.start()
    if not started.wait(20):
        raise RuntimeError("the threaded endpoint did not start")
    try:
        yield ready[0]
    finally:
        loop.call_soon_threadsafe(stop_event[0].set)
        thread.join(20)


@contextmanager
def endpoint_process(*flags: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``python -m asyncworker.local --port 0 FLAGS`` as a subprocess; yields its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "asyncworker.local", "--port", "0", *flags],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "http://" in line, line
        yield line.rsplit(" ", 1)[1].strip(), process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def type_registrations(domain: str = DOMAIN, **activity_defaults: str) -> list[tuple[str, Any]]:
    """(method, parameters) of the test domain, workflow type and activity type registrations,
    for the async (aiobotocore) and the sync (boto3) clients alike."""
    return [
        ("register_domain", {"name": domain, "workflowExecutionRetentionPeriodInDays": "1"}),
        (
            "register_workflow_type",
            {
                "domain": domain,
                "name": WORKFLOW["name"],
                "version": WORKFLOW["version"],
                "defaultTaskList": {"name": DECISIONS},
                "defaultExecutionStartToCloseTimeout": "600",
                "defaultTaskStartToCloseTimeout": "30",
                "defaultChildPolicy": "TERMINATE",
            },
        ),
        (
            "register_activity_type",
            {
                "domain": domain,
                "name": ACTIVITY["name"],
                "version": ACTIVITY["version"],
                "defaultTaskList": {"name": ACTIVITIES},
                "defaultTaskScheduleToStartTimeout": "NONE",
                "defaultTaskScheduleToCloseTimeout": "NONE",
                "defaultTaskStartToCloseTimeout": "NONE",
                "defaultTaskHeartbeatTimeout": "NONE",
                **activity_defaults,
            },
        ),
    ]


async def register(client: SWFClient, *, domain: str = DOMAIN, **activity_defaults: str) -> None:
    """Register the test domain, workflow type and activity type."""
    for method, params in type_registrations(domain, **activity_defaults):
        await getattr(client, method)(**params)


async def start(client: SWFClient, workflow_id: str, **settings: Any) -> str:
    """Start an execution of the test workflow type; returns its run id."""
    response = await client.start_workflow_execution(
        domain=DOMAIN, workflowId=workflow_id, workflowType=WORKFLOW, **settings
    )
    return response["runId"]


def schedule(activity_id: str, **attributes: Any) -> dict[str, Any]:
    """A ScheduleActivityTask decision for the test activity type."""
    return {
        "decisionType": "ScheduleActivityTask",
        "scheduleActivityTaskDecisionAttributes": {
            "activityType": ACTIVITY,
            "activityId": activity_id,
            **attributes,
        },
    }


def decision(decision_type: str, **attributes: Any) -> dict[str, Any]:
    """Any decision with its attributes."""
    member = decision_type[0].lower() + decision_type[1:] + "DecisionAttributes"
    return {"decisionType": decision_type, member: attributes}


async def decide(
    client: SWFClient, decisions: Sequence[dict[str, Any]], *, task_list: str = DECISIONS
) -> dict[str, Any]:
    """Poll one decision task (it must come), answer it with ``decisions``; returns the task."""
    task = await client.poll_for_decision_task(
        domain=DOMAIN, taskList={"name": task_list}, identity="decider"
    )
    assert task.get("taskToken"), "expected a decision task"
    await client.respond_decision_task_completed(
        taskToken=task["taskToken"],
        decisions=list(decisions),  # type: ignore[arg-type]
    )
    return dict(task)


async def history(client: SWFClient, workflow_id: str, run_id: str) -> list[dict[str, Any]]:
    """The whole history of an execution."""
    execution: Any = {"workflowId": workflow_id, "runId": run_id}
    response = await client.get_workflow_execution_history(domain=DOMAIN, execution=execution)
    return [dict(event) for event in response["events"]]


def types_of(events: Sequence[dict[str, Any]]) -> list[str]:
    return [event["eventType"] for event in events]


def attributes(event: dict[str, Any]) -> dict[str, Any]:
    """The ``*EventAttributes`` member of an event."""
    key = event["eventType"][0].lower() + event["eventType"][1:] + "EventAttributes"
    found: dict[str, Any] = event[key]
    return found


def error_code(exc: BaseException) -> str:
    """botocore's error code of a ClientError."""
    response = getattr(exc, "response", {})
    code: str = response.get("Error", {}).get("Code", "")
    return code


def error_message(exc: BaseException) -> str:
    """botocore's error message of a ClientError."""
    response = getattr(exc, "response", {})
    message: str = response.get("Error", {}).get("Message", "")
    return message


async def wait_until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Wait (bounded) for ``condition()`` to hold, re-checking every 10 ms."""
    with anyio.fail_after(within):
        while True:
            if condition():
                return
            await anyio.sleep(0.01)
