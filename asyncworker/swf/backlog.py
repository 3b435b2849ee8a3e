"""Opt-in backlog sampling: CountPendingActivityTasks per task list, for autoscaling.

That call's account-wide quota is a bucket of 200 refilled at 6 per second, shared by every worker
of the account, so each worker samples each task list at most every 30 s (`backlog_interval`), with
the first sample at a random point of the first interval and ±10% jitter after: a fleet that starts
together does not sample together.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import anyio
import structlog

from asyncworker.swf.faults import classify

if TYPE_CHECKING:
    from types_aiobotocore_swf import SWFClient

log = structlog.get_logger(__name__)


class BacklogSampler:
    """Keeps `counts[task_list]` = pending activity tasks, sampled every `interval` seconds."""

    def __init__(
        self, client: SWFClient, domain: str, task_lists: tuple[str, ...], interval: float
    ) -> None:
        self._client = client
        self._domain = domain
        self._task_lists = task_lists
        self._interval = interval
        self.counts: dict[str, int] = {}

    async def run(self) -> None:
        async with anyio.create_task_group() as tg:
            for task_list in self._task_lists:
                tg.start_soon(self._sample, task_list)

    async def _sample(self, task_list: str) -> None:
        await anyio.sleep(random.uniform(0, self._interval))
        while True:
            try:
                response = await self._client.count_pending_activity_tasks(
                    domain=self._domain, taskList={"name": task_list}
                )
                self.counts[task_list] = int(response["count"])
            except Exception as exc:  # an optional gauge never takes the worker down
                fault = classify("CountPendingActivityTasks", exc)
                log.warning("backlog sample failed", task_list=task_list,
                            error=str(fault or repr(exc)))  # fmt: skip
            await anyio.sleep(self._interval * random.uniform(0.9, 1.1))
