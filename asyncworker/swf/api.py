"""The activity worker's calls to SWF, as a protocol the pipeline depends on (a leaf module).

Tests inject an in-memory SWF (`asyncworker.testing`); production gets `swf.plain` or `swf.fast`
over aiobotocore. Implementations raise only `SwfFault`s for SWF-side failures.
"""

from __future__ import annotations

from typing import Any, Protocol

HEARTBEAT_CONCURRENCY = 16
"""Heartbeats in flight at once; they share the response client."""

POLL = "PollForActivityTask"
COMPLETE = "RespondActivityTaskCompleted"
FAIL = "RespondActivityTaskFailed"
CANCEL = "RespondActivityTaskCanceled"
HEARTBEAT = "RecordActivityTaskHeartbeat"
OPERATIONS = (POLL, COMPLETE, FAIL, CANCEL, HEARTBEAT)


class ActivityApi(Protocol):
    """The five calls of an activity worker, raising only `SwfFault`s for SWF-side failures."""

    async def poll(self, task_list: str) -> dict[str, Any]:
        """PollForActivityTask; a response without `taskToken` means no task."""

    async def complete(self, token: str, result: str | None) -> None: ...

    async def fail(self, token: str, reason: str | None, details: str | None) -> None: ...

    async def cancel(self, token: str, details: str | None) -> None: ...

    async def heartbeat(self, token: str, details: str | None) -> bool:
        """RecordActivityTaskHeartbeat; returns `cancelRequested`."""
