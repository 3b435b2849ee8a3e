"""The worker's calls to SWF, as protocols the pipeline and the worker depend on (a leaf module).

`ActivityApi` is the hot path's five calls; `DomainApi` the two around the work (the start-up
domain check, backlog sampling). Tests inject an in-memory SWF (`asyncworker.testing`); production
gets `swf.plain` or `swf.fast` over aiobotocore, and `swf.admin.AioDomainApi`. Implementations raise
only `SwfFault`s for SWF-side failures.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

HEARTBEAT_CONCURRENCY = 16
"""Heartbeats in flight at once; they share the response client."""

POLL = "PollForActivityTask"
COMPLETE = "RespondActivityTaskCompleted"
FAIL = "RespondActivityTaskFailed"
CANCEL = "RespondActivityTaskCanceled"
HEARTBEAT = "RecordActivityTaskHeartbeat"
OPERATIONS = (POLL, COMPLETE, FAIL, CANCEL, HEARTBEAT)
DESCRIBE_DOMAIN = "DescribeDomain"
COUNT_PENDING = "CountPendingActivityTasks"


class ActivityApi(Protocol):
    """The five calls of an activity worker, raising only `SwfFault`s for SWF-side failures."""

    async def poll(self, task_list: str) -> dict[str, Any]:
        """PollForActivityTask; a response without `taskToken` means no task."""

    async def complete(self, token: str, result: str | None) -> None: ...

    async def fail(self, token: str, reason: str | None, details: str | None) -> None: ...

    async def cancel(self, token: str, details: str | None) -> None: ...

    async def heartbeat(self, token: str, details: str | None) -> bool:
        """RecordActivityTaskHeartbeat; returns `cancelRequested`."""


class DomainApi(Protocol):
    """The worker's calls around the work, on its domain."""

    async def domain_registered(self) -> bool:
        """DescribeDomain: whether the domain exists (a missing one is False, not a fault)."""

    async def pending_tasks(self, task_list: str) -> int:
        """CountPendingActivityTasks on one task list."""


class Apis(NamedTuple):
    """What a worker talks to SWF through: separate connections for polls and for answers."""

    poll: ActivityApi
    respond: ActivityApi
    """Answers and heartbeats."""
    domain: DomainApi | None = None
    """The domain check and backlog sampling (None: neither is done)."""
