"""The opt-in backlog sampler counts pending activity tasks through CountPendingActivityTasks."""

from __future__ import annotations

import uuid

import anyio
import pytest

from asyncworker.examples.basic import registry
from asyncworker.swf.admin import AioDomainApi, ensure_activity_types, ensure_domain
from asyncworker.swf.backlog import BacklogSampler
from asyncworker.swf.connect import open_client
from tests.helpers import start_activities

pytestmark = pytest.mark.anyio


async def test_backlog_sampler_reports_pending_tasks(moto_url: str) -> None:
    domain = f"backlog-{uuid.uuid4().hex[:8]}"
    async with open_client(
        region="us-east-1", endpoint_url=moto_url, max_pool_connections=4, read_timeout=10
    ) as client:
        await ensure_domain(client, domain)
        await ensure_activity_types(client, domain, registry)
        await start_activities(client, domain, [("echo", str(i)) for i in range(3)])
        sampler = BacklogSampler(AioDomainApi(client, domain), ("default", "other"), interval=0.05)
        async with anyio.create_task_group() as tg:
            tg.start_soon(sampler.run)
            with anyio.fail_after(10):
                while len(sampler.counts) < 2:  # noqa: ASYNC110 - the sampler's own clock
                    await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
    assert sampler.counts == {"default": 3, "other": 0}
