"""Every metric the dashboard, the alerts and the KEDA trigger read exists on a live worker."""

from __future__ import annotations

import re

import anyio
import pytest

from asyncworker import ActivityContext, ActivityRegistry
from asyncworker.examples.basic import registry as examples
from asyncworker.testing import FakeSwf
from tests.helpers import http_get, running
from tests.ops.promql import metric_names_used

pytestmark = pytest.mark.anyio

OPT_IN = {
    "asyncworker_task_list_backlog": "only with backlog_interval (tests/e2e/test_backlog_moto.py)",
    "asyncworker_processes": "only with process handlers (tests/pipeline/test_processes.py)",
}


def exposed(text: str) -> set[str]:
    """Series names on a /metrics page, histograms as their _bucket/_sum/_count series."""
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        else:
            names.add(name)
    return names


async def test_every_metric_used_is_exposed() -> None:
    registry = ActivityRegistry()
    for definition in examples:
        registry.add(definition.handler, name=definition.activity_type.name)

    @registry.activity(
        name="beating", heartbeat_timeout=3, heartbeat_interval=0.05, max_concurrent=2
    )
    async def beating(data: str, ctx: ActivityContext) -> str:
        ctx.heartbeat("1")
        await anyio.sleep(0.2)
        return "ok"

    fake = FakeSwf()
    for name in ("echo", "fail", "beating"):
        fake.add_task(name, "x")
    async with running(
        registry,
        fake,
        metrics_port=0,
        metrics_host="127.0.0.1",
        max_activities_per_second=1000,  # the flow-control series exist only when configured
        task_list_concurrency={"default": 8},
    ) as worker:
        await fake.wait_for(lambda: len(fake.responses) == 3)
        assert worker.metrics_url is not None
        status, text = await http_get(worker.metrics_url)
    assert status == 200
    missing = metric_names_used() - exposed(text) - set(OPT_IN)
    assert not missing, f"the dashboards/alerts read metrics no worker exposes: {sorted(missing)}"
