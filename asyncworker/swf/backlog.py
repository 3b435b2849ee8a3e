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

from asyncworker.errors import SwfFault

if TYPE_CHECKING:
    from asyncworker.swf.api import DomainApi

log = structlog.get_logger(__name__)


class BacklogSampler:
    """Keeps `counts[task_list]` = pending activity tasks, sampled every `interval` seconds."""

    def __init__(self, api: DomainApi, task_lists: tuple[str, ...], interval: float) -> None:
        self._api = api
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
                self.counts[task_list] = await self._api.pending_tasks(task_list)
            except SwfFault as fault:  # an optional gauge never takes the worker down
                log.warning("backlog sample failed", task_list=task_list, error=str(fault))
            await anyio.sleep(self._interval * random.uniform(0.9, 1.1))
