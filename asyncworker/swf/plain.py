"""`ActivityApi` over plain aiobotocore calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asyncworker.swf.api import CANCEL, COMPLETE, FAIL, HEARTBEAT, POLL
from asyncworker.swf.faults import translated

if TYPE_CHECKING:
    from types_aiobotocore_swf import SWFClient


class AioActivityApi:
    """`ActivityApi` over an aiobotocore SWF client."""

    def __init__(self, client: SWFClient, domain: str, identity: str) -> None:
        self._client = client
        self._domain = domain
        self._identity = identity

    async def poll(self, task_list: str) -> dict[str, Any]:
        coro = self._client.poll_for_activity_task(
            domain=self._domain, taskList={"name": task_list}, identity=self._identity
        )
        return dict(await translated(POLL, coro))

    async def complete(self, token: str, result: str | None) -> None:
        kwargs: dict[str, Any] = {"taskToken": token}
        if result is not None:
            kwargs["result"] = result
        await translated(COMPLETE, self._client.respond_activity_task_completed(**kwargs))

    async def fail(self, token: str, reason: str | None, details: str | None) -> None:
        kwargs: dict[str, Any] = {"taskToken": token}
        if reason is not None:
            kwargs["reason"] = reason
        if details is not None:
            kwargs["details"] = details
        await translated(FAIL, self._client.respond_activity_task_failed(**kwargs))

    async def cancel(self, token: str, details: str | None) -> None:
        kwargs: dict[str, Any] = {"taskToken": token}
        if details is not None:
            kwargs["details"] = details
        await translated(CANCEL, self._client.respond_activity_task_canceled(**kwargs))

    async def heartbeat(self, token: str, details: str | None) -> bool:
        kwargs: dict[str, Any] = {"taskToken": token}
        if details is not None:
            kwargs["details"] = details
        response = await translated(
            HEARTBEAT, self._client.record_activity_task_heartbeat(**kwargs)
        )
        return bool(response.get("cancelRequested", False))
