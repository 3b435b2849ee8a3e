"""An in-memory SWF for pipeline-level tests: real long-poll semantics, scripted faults, full
records of every answer and heartbeat. `Worker(registry, settings, api_factory=fake.factory())`
runs a whole worker on it, without HTTP."""

from __future__ import annotations

import itertools
from collections import defaultdict, deque
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from asyncworker.errors import UnknownResourceFault
from asyncworker.swf.api import COUNT_PENDING, DESCRIBE_DOMAIN, Apis

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from asyncworker.settings import WorkerSettings


@dataclass
class Response:
    kind: str  # completed | failed | canceled
    token: str
    result: str | None = None
    reason: str | None = None
    details: str | None = None


@dataclass
class FakeSwf:
    """Tasks wait in per-task-list queues; a poll waits up to `poll_timeout` for one."""

    poll_timeout: float = 0.5
    queues: dict[str, deque[dict[str, Any]]] = field(default_factory=lambda: defaultdict(deque))
    open_tokens: set[str] = field(default_factory=set)
    responses: list[Response] = field(default_factory=list)
    heartbeats: list[tuple[str, str | None]] = field(default_factory=list)
    cancel_requested: set[str] = field(default_factory=set)
    faults: dict[str, deque[BaseException]] = field(default_factory=lambda: defaultdict(deque))
    """operation → exceptions to raise on its next calls, in order."""
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    polls_in_flight: int = 0
    polls_cancelled: int = 0
    tasks_handed_out: int = 0
    max_outstanding: int = 0
    """Most tasks ever handed out and not yet answered, plus polls in flight at that moment."""
    heartbeat_delay: float = 0.0
    """Seconds each heartbeat call takes."""
    respond_delay: float = 0.0
    """Seconds each Respond* call takes (a slow or throttled SWF)."""
    respond_gate: anyio.Event | None = None
    """While set to an unset Event, Respond* calls wait: a blocked responder."""
    domain_exists: bool = True
    """What DescribeDomain finds (the worker's start-up check)."""
    _changed: anyio.Event = field(default_factory=anyio.Event)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def add_task(
        self,
        name: str = "echo",
        input: str | None = "hello",
        *,
        version: str = "1",
        task_list: str = "default",
    ) -> str:
        n = next(self._ids)
        token = f"token-{n:06d}-" + "x" * 40
        task: dict[str, Any] = {
            "taskToken": token,
            "activityId": f"activity-{n}",
            "startedEventId": n + 1,
            "workflowExecution": {"workflowId": f"wf-{n}", "runId": f"run-{n}"},
            "activityType": {"name": name, "version": version},
        }
        if input is not None:
            task["input"] = input
        self.queues[task_list].append(task)
        self._notify()
        return token

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    def outstanding(self) -> int:
        return len(self.open_tokens) + self.polls_in_flight

    async def wait_for(self, condition: Any, within: float = 10.0) -> None:
        """Wait (at most `within` seconds) until `condition()` is true."""
        with anyio.fail_after(within):
            while not condition():
                await self._changed.wait()

    def response_for(self, token: str) -> Response:
        matches = [r for r in self.responses if r.token == token]
        assert len(matches) == 1, f"expected exactly one response for {token}, got {matches}"
        return matches[0]

    def _fault(self, operation: str) -> None:
        self.calls[operation] += 1
        self._notify()
        if self.faults[operation]:
            raise self.faults[operation].popleft()

    # The ActivityApi protocol -------------------------------------------------------------
    async def poll(self, task_list: str) -> dict[str, Any]:
        self._fault("PollForActivityTask")
        self.polls_in_flight += 1
        self.max_outstanding = max(self.max_outstanding, self.outstanding())
        self._notify()
        try:
            with anyio.move_on_after(self.poll_timeout):
                while not self.queues[task_list]:
                    await self._changed.wait()
            if self.queues[task_list]:
                task = self.queues[task_list].popleft()
                self.open_tokens.add(task["taskToken"])
                self.tasks_handed_out += 1
                return task
            return {"startedEventId": 0}
        except anyio.get_cancelled_exc_class():
            self.polls_cancelled += 1
            raise
        finally:
            self.polls_in_flight -= 1
            self.max_outstanding = max(self.max_outstanding, self.outstanding())
            self._notify()

    async def _respond(self, response: Response, operation: str) -> None:
        if self.respond_gate is not None:
            await self.respond_gate.wait()
        await anyio.sleep(self.respond_delay)
        self._fault(operation)
        if response.token not in self.open_tokens:
            raise UnknownResourceFault(operation, "Unknown activity task")
        self.open_tokens.discard(response.token)
        self.responses.append(response)
        self._notify()

    async def complete(self, token: str, result: str | None) -> None:
        await self._respond(Response("completed", token, result=result), "complete")

    async def fail(self, token: str, reason: str | None, details: str | None) -> None:
        await self._respond(Response("failed", token, reason=reason, details=details), "fail")

    async def cancel(self, token: str, details: str | None) -> None:
        await self._respond(Response("canceled", token, details=details), "cancel")

    async def heartbeat(self, token: str, details: str | None) -> bool:
        self._fault("heartbeat")
        await anyio.sleep(self.heartbeat_delay)
        if token not in self.open_tokens:
            raise UnknownResourceFault("RecordActivityTaskHeartbeat", "Unknown activity task")
        self.heartbeats.append((token, details))
        self._notify()
        return token in self.cancel_requested

    # The DomainApi protocol ---------------------------------------------------------------
    async def domain_registered(self) -> bool:
        self._fault(DESCRIBE_DOMAIN)
        return self.domain_exists

    async def pending_tasks(self, task_list: str) -> int:
        self._fault(COUNT_PENDING)
        return len(self.queues[task_list])

    def close_task(self, token: str) -> None:
        """SWF timed the task out or closed its execution: later calls get UnknownResource."""
        self.open_tokens.discard(token)
        self._notify()

    def factory(self) -> Any:
        @asynccontextmanager
        async def open_apis(settings: WorkerSettings) -> AsyncIterator[Apis]:
            yield Apis(self, self, self)

        return open_apis
